"""Exceptions raised at the boundary of scoremd.

Every error a user can trigger with bad input derives from :class:`ScoremdError`;
the CLI prints its message on one line and exits with status 2. Messages say what
is wrong *and* what to do about it.
"""

from __future__ import annotations


class ScoremdError(Exception):
    """Base class of all user-facing scoremd errors."""


class ConfigError(ScoremdError, ValueError):
    """A configuration file or override is malformed or names an unknown key."""


class DataError(ScoremdError, ValueError):
    """Training or reference data are missing, non-finite or wrongly shaped."""


class CheckpointError(ScoremdError, FileNotFoundError):
    """A run directory holds no usable checkpoint."""


class ResumeError(ScoremdError, ValueError):
    """A saved MD state cannot resume this run: other settings, or a damaged file."""


class TrainingDivergedError(ScoremdError, RuntimeError):
    """Too many consecutive training steps had a non-finite loss or gradient."""


class SimulationDivergedError(ScoremdError, RuntimeError):
    """A Langevin simulation produced non-finite or exploding positions.

    Attributes:
      replica: index of the first replica that diverged.
      step: integration step (counted from the start of the run) at which it diverged.
      frames_written: number of frames kept in the output before the divergence.
    """

    def __init__(self, message: str, *, replica: int, step: int, frames_written: int):
        super().__init__(message)
        self.replica = replica
        self.step = step
        self.frames_written = frames_written
