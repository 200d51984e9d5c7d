"""Reading reference runs (``run_XX`` folders written by :mod:`scoremd.data.openmm`), checked.

Every file of a finished run is checked against the SHA-256 in its ``metadata.json``. A run
that a campaign is growing has no checksums until its task ends; it can still be read: each
finish also records ``verified`` (frame count, SHA-256 of those frames and of the topology),
and those frames, checked, are what a reader gets meanwhile.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..storage import array_sha256, read_frames, sha256


def read_run_positions(run: str | Path, meta: dict | None = None) -> np.ndarray:
    """Positions (n_frames, n_stored, 3) nm of a reference run, checked against their SHA-256.

    A finished run gives all its frames (every file checked against ``metadata.json``); a run that
    is growing (a campaign running) gives the frames it held when it last finished, checked against
    ``verified``, so that data can be read while the campaign runs.

    Raises:
      DataError: the run never finished a chunk, or a file does not match its SHA-256.
    """
    run = Path(run)
    meta = json.loads((run / "metadata.json").read_text()) if meta is None else meta
    if meta.get("sha256"):
        for name, digest in meta["sha256"].items():
            if sha256(run / name) != digest:
                raise DataError(f"{run / name} does not match its SHA-256 in metadata.json; restore or regenerate it")
        return np.load(run / "positions.npy")
    verified = meta.get("verified")
    if not verified:
        raise DataError(f"{run} is still running its first chunk or was interrupted; finish it with "
                        "`scoremd data generate` (the same command resumes it)")
    try:
        x = read_frames(run / "positions.npy", int(verified["n_frames"]))
    except (OSError, ValueError) as err:
        raise DataError(f"{run / 'positions.npy'} cannot give the {verified['n_frames']} frames of its last finished "
                        f"chunk ({err}); resume the run with `scoremd data generate`") from None
    if array_sha256(x) != verified["positions_sha256"] or sha256(run / "topology.pdb") != verified["topology_sha256"]:
        raise DataError(f"{run}: the frames of its last finished chunk do not match their SHA-256 in metadata.json; "
                        "restore or regenerate the run")
    return x


def load_reference(folder: str | Path, runs=None):
    """Runs of a reference folder: (topology_pdb_path, positions (N, n_atoms, 3) nm, run number (N,)).

    Args:
      folder: holds ``run_XX`` sub-folders.
      runs: the run numbers XX to load (default: every run with a ``metadata.json``).

    Checks every file against the SHA-256 in its run's metadata; a run that is still growing
    gives the frames of its last finished chunk (:func:`read_run_positions`).
    """
    folder = Path(folder)
    if runs is None:
        paths = sorted(p for p in folder.glob("run_*") if (p / "metadata.json").exists())
    else:
        paths = [folder / f"run_{int(n):02d}" for n in sorted(runs)]
        missing = [str(p) for p in paths if not (p / "metadata.json").exists()]
        if missing:
            raise DataError(f"reference run(s) {', '.join(missing)} do not exist; create them with "
                            "`scoremd data generate` (molecules) or `scoremd data go` (C-alpha proteins); "
                            "see docs/data/")
    if not paths:
        raise DataError(f"no reference runs in {folder}; create them with `scoremd data generate` (molecules) or "
                        "`scoremd data go` (C-alpha proteins); see docs/data/")
    xs, idx = [], []
    for run in paths:
        x = read_run_positions(run)
        xs.append(x)
        idx.append(np.full(len(x), int(run.name[4:])))
    return paths[0] / "topology.pdb", np.concatenate(xs), np.concatenate(idx)


__all__ = ["load_reference", "read_run_positions"]
