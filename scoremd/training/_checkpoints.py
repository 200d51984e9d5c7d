"""Atomic, resumable checkpoints of training state (orbax).

Orbax writes each checkpoint into a temporary directory and renames it into
place only once it is complete, so an interrupted save never replaces the
previous good checkpoint; the two newest are kept.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from .._errors import CheckpointError

__all__ = ["Checkpoints"]


@contextlib.contextmanager
def _quiet_orbax():
    """orbax logs every save at INFO level: keep the console for the progress bar, only meanwhile."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


class Checkpoints:
    """A directory of numbered checkpoints of one pytree.

    Args:
      directory: where checkpoints live (created on first save).
      max_to_keep: number of newest checkpoints kept on disk.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
            ),
        )

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None if there is none."""
        self._manager.reload()
        return self._manager.latest_step()

    def save(self, step: int, tree: Any) -> None:
        """Write ``tree`` as checkpoint ``step`` (blocking, atomic)."""
        with _quiet_orbax():
            self._manager.save(int(step), args=ocp.args.StandardSave(tree), force=True)
            self._manager.wait_until_finished()

    def restore(self, template: Any, step: int | None = None) -> Any:
        """Restore the checkpoint ``step`` (default: newest) into the structure of ``template``.

        Raises:
          CheckpointError: if there is no checkpoint, or its structure does not match.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(
                f"no checkpoint in {self.directory}; train first with `scoremd train CONFIG --out RUN_DIR`"
            )
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype), template)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {self.directory / str(step)} does not match the model described by the run's "
                f"config ({type(err).__name__}: {str(err).splitlines()[0][:300]}); was the config edited "
                "after training? Restore the original config.toml or train into a new directory."
            ) from err

    def close(self) -> None:
        self._manager.close()
