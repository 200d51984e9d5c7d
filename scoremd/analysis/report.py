"""The report of a trained run: :func:`evaluate` (one entry point for every system)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._consistency import fp_error_vs_time
from ._molecular import evaluate_molecule
from ._protein_report import evaluate_protein
from ._toy import evaluate_toy

__all__ = ["evaluate", "fp_error_vs_time"]


def evaluate(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray, *,
             reference: str = "validation", report_dir: str | Path | None = None,
             frame_ps: float | None = None) -> dict:
    """Score i.i.d. samples and MD frames and write ``run_dir/report`` (metrics.json, report.md, plots).

    Toys are scored against their exact Boltzmann density, molecules against their
    held-out reference MD (never their test runs).

    Args:
      emulator: the trained :class:`scoremd.Emulator` (anything with its ``system``,
        ``config``, ``model``, ``params``, ``scale``, ``energy`` and ``training_data``).
      run_dir: run directory; the report goes to ``run_dir/report``.
      samples: i.i.d. samples (nm), shape (N, *event).
      trajectory: MD frames (nm), shape (frames, replicas, *event); the first
        ``config.simulate.burn_in_frames`` frames of every replica are discarded.
      reference: molecules: score the two protocols of docs/metrics.md against the held-out
        ``"validation"`` runs or the untouched ``"test"`` runs (toys: the exact density).
      report_dir: the report's folder instead of ``run_dir/report`` (the run's metadata and
        loss log are still read from ``run_dir``).
      frame_ps: molecules: simulated time between the trajectory's frames in ps (default: the
        config's time step x steps per frame); it sets the MD protocol floor's windows and the
        per-block shares, so MD made with other settings must say it.

    Returns:
      The metrics dict (also ``report/metrics.json``); see :mod:`scoremd.analysis` for its schema.
    """
    if emulator.is_molecular and emulator.system.is_protein:
        return evaluate_protein(emulator, run_dir, samples, trajectory, reference=reference, report_dir=report_dir,
                                frame_ps=frame_ps)
    if emulator.is_molecular:
        return evaluate_molecule(emulator, run_dir, samples, trajectory, reference=reference, report_dir=report_dir,
                                 frame_ps=frame_ps)
    return evaluate_toy(emulator, run_dir, samples, trajectory, report_dir=report_dir)
