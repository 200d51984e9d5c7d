"""Floors: what a perfect model could score with the same data and protocol (docs/metrics.md).

* :func:`iid_sample_floor`: n training frames drawn at random, against the held-out frames.
* :func:`md_protocol_floor`: the reference MD cut into replica-sized windows.
* :func:`reference_splits`: every way of holding out runs, and their half-vs-half floors.
* :func:`protocol_floor`: whether frames made with another MD protocol (e.g. hydrogen mass
  repartitioning) are as close to the reference as pieces of the reference itself.

JS in nats (squared Jensen-Shannon distance), PMF error in k_BT^2, on the system's
phi/psi bins.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations
from pathlib import Path

import numpy as np

from ..data import MolecularData, load_molecular_data
from ..geometry import dihedral_angles
from ..systems import MolecularSystem
from ._molecular_metrics import dihedral_metrics, phi_positive
from .metrics import compare_to_reference, histogram, js_divergence

__all__ = ["iid_sample_floor", "md_protocol_floor", "protocol_floor", "reference_splits"]


def _angles_and_held_out(system: MolecularSystem, data):
    """(phi/psi of every frame (rad), shape (N, 2); the held-out frames' JS and PMF histograms)."""
    angles = dihedral_angles(data.positions, system.dihedrals)
    held = angles[data.validation]
    return angles, (histogram(held, system.metric_bounds, system.js_bins),
                    histogram(held, system.metric_bounds, system.pmf_bins))


def md_protocol_floor(system: MolecularSystem, data, *, replicas: int, window_frames: int, burn_in_frames: int,
                      repeats: int = 20, seed: int = 0) -> dict | None:
    """What the MD protocol itself can resolve: the reference MD cut into replica-sized windows.

    A simulator with the reference's own dynamics, run exactly as the learned MD is run
    (``replicas`` starts drawn at random from the training frames, ``window_frames`` frames
    each, the first ``burn_in_frames`` discarded), gives these frames. Their phi/psi JS and
    PMF error against the held-out frames are what a perfect force field would score with this
    protocol: short replicas inherit the basin populations of their few starting frames, so
    the floor of half against half of the reference understates the noise of the MD metric.
    Repeated ``repeats`` times with fresh starts; mean and standard deviation are reported.

    Args:
      system: the molecular system (dihedrals, metric bins).
      data: its :class:`scoremd.data.MolecularData`.
      replicas: number of windows (the MD's replicas).
      window_frames: window length in *reference* frames (MD frames times the ratio of the MD
        frame interval to the reference frame interval).
      burn_in_frames: reference frames discarded at the start of every window.
      repeats: independent draws of the starting frames.
      seed: seed of the draws.

    Returns:
      ``js``/``pmf`` (means against the held-out frames; JS in nats, PMF error in k_BT^2),
      ``js_sd``/``pmf_sd`` (standard deviations over the draws), ``js_vs_train``
      and ``js_vs_train_sd`` (against the training frames), ``window_frames``,
      ``burn_in_frames``, ``replicas``, ``repeats``; or None when no run's training block is
      as long as one window.
    """
    if replicas <= 0 or repeats <= 0 or window_frames <= 0 or not 0 <= burn_in_frames < window_frames:
        raise ValueError(f"need replicas, repeats > 0 and 0 <= burn_in_frames < window_frames, got {replicas}, "
                         f"{repeats}, {burn_in_frames}, {window_frames}")
    angles, held_out = _angles_and_held_out(system, data)
    starts = []  # training frames whose window stays inside their run's training block
    for run in np.unique(data.run_index[data.train]):
        block = data.train[data.run_index[data.train] == run]
        starts.append(block[: max(len(block) - window_frames + 1, 0)])
    starts = np.concatenate(starts)
    if len(starts) == 0:
        return None
    bounds, bins = system.metric_bounds, system.js_bins
    train = histogram(angles[data.train], bounds, bins)
    offsets = np.arange(burn_in_frames, window_frames)
    rng = np.random.default_rng(seed)
    js, pmf, js_train = [], [], []
    for _ in range(repeats):
        first = rng.choice(starts, size=replicas, replace=replicas > len(starts))
        frames = angles[(first[:, None] + offsets).ravel()]
        m = compare_to_reference(frames, *held_out, bounds)
        js.append(m["js"])
        pmf.append(m["pmf"])
        js_train.append(js_divergence(histogram(frames, bounds, bins), train))
    return {
        "js": float(np.mean(js)), "js_sd": float(np.std(js)), "pmf": float(np.mean(pmf)),
        "pmf_sd": float(np.std(pmf)), "js_vs_train": float(np.mean(js_train)),
        "js_vs_train_sd": float(np.std(js_train)), "window_frames": int(window_frames),
        "burn_in_frames": int(burn_in_frames), "replicas": int(replicas), "repeats": int(repeats),
    }


def iid_sample_floor(system: MolecularSystem, data, n: int, *, repeats: int = 5, seed: int = 0) -> dict:
    """What ``n`` i.i.d. samples can resolve: ``n`` training frames drawn at random, scored
    against the held-out frames.

    An exact sampler of the training distribution that draws ``n`` samples scores this: the
    plug-in phi/psi JS and PMF error are biased upwards by the empty and sparsely filled bins of
    a finite sample, so an i.i.d. row of ``n`` samples cannot be read below it. (The floor of
    half against half of the reference compares larger sets and says less about ``n``.)

    Args:
      system: the molecular system (dihedrals, metric bins).
      data: its :class:`scoremd.data.MolecularData`.
      n: number of samples (the i.i.d. row's count); capped at the number of training frames.
      repeats: independent draws (without replacement within a draw).
      seed: seed of the draws.

    Returns:
      ``js``/``pmf`` (means against the held-out frames; JS in nats, PMF error in k_BT^2),
      ``js_sd``/``pmf_sd`` (standard deviations over the draws), ``n`` and ``repeats``.
    """
    if n <= 0 or repeats <= 0:
        raise ValueError(f"need n > 0 and repeats > 0, got {n}, {repeats}")
    angles, held_out = _angles_and_held_out(system, data)
    n = min(int(n), len(data.train))
    rng = np.random.default_rng(seed)
    js, pmf = [], []
    for _ in range(repeats):
        m = compare_to_reference(angles[rng.choice(data.train, size=n, replace=False)], *held_out,
                                 system.metric_bounds)
        js.append(m["js"])
        pmf.append(m["pmf"])
    return {"js": float(np.mean(js)), "js_sd": float(np.std(js)), "pmf": float(np.mean(pmf)),
            "pmf_sd": float(np.std(pmf)), "n": n, "repeats": int(repeats)}



def reference_splits(system: MolecularSystem, data_dir: str | Path) -> dict:
    """How much the training/held-out split of a reference matters (docs/design.md §7).

    For every way of holding out half of the runs whole (and for the split by time),
    the phi/psi JS and PMF error between training and held-out frames, and the floor:
    the held-out frames' two halves against each other (as ``validation_halves``). A
    model fitted to the training frames cannot be shown closer to the held-out frames
    than the first of these, nor than the floor.

    Returns:
      {"runs": [{"run", "frames", "phi_positive"}], "splits": [{"held_out_runs" (list, or
      "time"), "js", "pmf", "floor_js", "floor_pmf", "default"}]}; ``phi_positive`` is the
      fraction of frames with the first dihedral > 0 (alanine dipeptide's rare alpha_L basin),
      JS the squared Jensen-Shannon distance (nats), PMF the weighted squared error (k_BT^2),
      both on the system's phi/psi bins (docs/design.md §7).
    """
    data = load_molecular_data(system, data_dir, "runs")
    runs = np.unique(data.run_index)
    per_run = [{"run": int(r), "frames": int(np.sum(data.run_index == r)),
                "phi_positive": phi_positive(system, data.positions[data.run_index == r])} for r in runs]
    default_held = sorted(int(r) for r in np.unique(data.run_index[data.validation]))

    def entry(split: MolecularData, held):
        a, b = split.validation_halves()
        m = dihedral_metrics(system, split.positions[split.train], split.positions[split.validation])
        floor = dihedral_metrics(system, a, b)
        return {"held_out_runs": held, "js": m["js"], "pmf": m["pmf"], "floor_js": floor["js"],
                "floor_pmf": floor["pmf"], "default": held == default_held}

    splits = []
    if len(runs) >= 2:
        for held in combinations(runs.tolist(), len(default_held)):
            mask = np.isin(data.run_index, held)
            split = dataclasses.replace(data, train=np.flatnonzero(~mask), validation=np.flatnonzero(mask))
            splits.append(entry(split, [int(r) for r in held]))
    splits.append(entry(load_molecular_data(system, data_dir, "time"), "time"))
    return {"runs": per_run, "splits": splits}


def protocol_floor(system: MolecularSystem, candidate: np.ndarray, reference_runs: list[np.ndarray]) -> dict:
    """Frames of another MD protocol against the reference, beside the reference's own pieces.

    Every reference run is cut into consecutive chunks as long as the candidate (frames left
    over at a run's end are dropped). For each chunk c, the chunk and the candidate are both
    compared with all reference frames outside c (phi/psi JS and PMF error): the chunk's
    numbers are the floor, an independent run of the reference protocol as long as the
    candidate; the candidate's are the same metric in the same comparison. A candidate
    protocol that samples the reference's distribution scores within the spread of the chunks.

    Args:
      system: the molecule (dihedrals and metric bins).
      candidate: (N, n_beads, 3) frames of the candidate protocol, nm (one run, equilibrated).
      reference_runs: the reference runs, each (N_r, n_beads, 3), nm, together at least two
        chunks as long as the candidate.

    Returns:
      ``{"n_chunks", "chunk_frames", "js", "pmf" (candidate, mean over chunks), "floor_js",
      "floor_pmf" (means over chunks), "floor_js_sd", "floor_pmf_sd", "floor_js_max",
      "floor_pmf_max", "phi_positive" (candidate), "floor_phi_positive" (chunk values)}``;
      JS in nats, PMF error in k_BT^2.

    Raises:
      ValueError: the reference runs hold fewer than two chunks as long as the candidate.
    """
    n = len(candidate)
    chunks = [(r, k) for r, run in enumerate(reference_runs) for k in range(len(run) // n)]
    if len(chunks) < 2:
        lengths = ", ".join(str(len(r)) for r in reference_runs)
        raise ValueError(f"the candidate has {n} frames; the reference runs ({lengths} frames) must hold at least "
                         "two chunks that long: compare a shorter candidate")
    got, floor = [], []
    for r, k in chunks:
        piece = reference_runs[r][k * n:(k + 1) * n]
        rest = np.concatenate([run if q != r else np.concatenate([run[:k * n], run[(k + 1) * n:]])
                               for q, run in enumerate(reference_runs)])
        got.append(dihedral_metrics(system, candidate, rest))
        floor.append(dihedral_metrics(system, piece, rest))
    out = {"n_chunks": len(chunks), "chunk_frames": n, "phi_positive": phi_positive(system, candidate),
           "floor_phi_positive": [phi_positive(system, reference_runs[r][k * n:(k + 1) * n]) for r, k in chunks]}
    for name in ("js", "pmf"):
        values = np.array([f[name] for f in floor])
        out.update({name: float(np.mean([g[name] for g in got])), f"floor_{name}": float(values.mean()),
                    f"floor_{name}_sd": float(values.std(ddof=1)), f"floor_{name}_max": float(values.max())})
    return out
