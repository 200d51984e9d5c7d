"""Evaluation of a trained toy run against its system's exact density, with plots.

JS and PMF errors (docs/metrics.md) of the training data, the i.i.d. samples and
the MD frames against the exact Boltzmann density, next to the finite-sample
floor (exact samples of the same size scored the same way).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..storage import atomic_write_text
from . import _plots
from ._adjusted import adjusted_lines, compare_adjusted
from ._consistency import fp_error_vs_time
from ._text import consistency_lines, expert_steps, format_metric, sampler_text, steps_text
from .metrics import compare_to_reference

__all__ = ["evaluate_toy"]


def evaluate_toy(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray, *, seed: int = 123,
                 report_dir: str | Path | None = None) -> dict:
    """Score a toy run's i.i.d. samples and MD frames against the exact density and write the report.

    Args:
      emulator: the trained :class:`scoremd.Emulator`.
      run_dir: run directory; the report goes to ``run_dir/report``.
      samples: i.i.d. samples, shape (N, *event).
      trajectory: MD frames, shape (frames, replicas, *event); the first
        ``config.simulate.burn_in_frames`` frames are discarded.
      seed: seed of the exact samples that measure the floor.
      report_dir: the report's folder instead of ``run_dir/report``.

    Returns:
      The metrics dict (also written to ``report/metrics.json``).
    """
    run_dir = Path(run_dir)
    out = Path(report_dir) if report_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    system = emulator.system
    burn = emulator.config.simulate.burn_in_frames
    md = trajectory[burn:].reshape(-1, *system.event_shape) if len(trajectory) > burn else trajectory.reshape(
        -1, *system.event_shape)
    data = emulator.training_data()
    ref_js = system.bin_probabilities(system.js_bins)
    ref_pmf = system.bin_probabilities(system.pmf_bins)
    bounds = system.metric_bounds

    def score(x):
        return compare_to_reference(np.asarray(x).reshape(len(x), -1), ref_js, ref_pmf, bounds)

    exact_iid = system.exact_samples(len(samples), seed=seed)
    exact_md = system.exact_samples(len(md), seed=seed + 1)
    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    metrics = {
        "system": system.name,
        "iid": {**score(samples), "n": int(len(samples))},
        "md": {**score(md), "n": int(len(md)), "replicas": int(trajectory.shape[1]),
               "frames_per_replica": int(trajectory.shape[0]), "burn_in_frames": int(burn)},
        "data": {**score(data), "n": int(len(data))},
        "floor_iid": {**score(exact_iid), "n": int(len(exact_iid))},
        "floor_md": {**score(exact_md), "n": int(len(exact_md))},
        "js_bins": system.js_bins,
        "pmf_bins": system.pmf_bins,
        "fp_error": fp_error_vs_time(emulator, data),
        "train_seconds": info.get("train_seconds"),
        "train_steps": emulator.config.train.steps,
        "expert_steps": expert_steps(emulator.config),
    }
    chains = getattr(emulator.config.simulate, "mcmc_chains", 0)
    if chains:
        metrics["adjusted"] = compare_adjusted(emulator, chains=chains)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    _plots.plot_densities(out / "densities.png", system, {"training data": data, "i.i.d.": samples, "MD": md}, ref_js)
    _plots.plot_free_energy(out / "free_energy.png", system, emulator)
    _plots.plot_fp_error(out / "fp_error.png", metrics["fp_error"])
    has_loss = (run_dir / "metrics.jsonl").exists() and _plots.plot_loss(out / "loss.png", run_dir / "metrics.jsonl")

    t = metrics["train_seconds"]
    lines = [
        f"# scoremd report: {system.name}",
        "",
        f"Training: {steps_text(emulator.config)}"
        + (f" in {t / 60:.1f} min" if t else "")
        + f"; model {emulator.config.model.kind} {list(emulator.config.model.hidden)}.",
        f"i.i.d.: {sampler_text(emulator.config)}. "
        f"MD: {trajectory.shape[1]} replicas x {trajectory.shape[0]} frames "
        f"({emulator.config.simulate.integrator} integrator, first {burn} frames discarded).",
        "",
        f"Metrics against the exact Boltzmann density (JS: {system.js_bins} bins per axis, "
        f"PMF error: {system.pmf_bins} bins per axis, in k_BT^2). "
        "The floor is the same metric for exact samples of the same size.",
        "",
        "| samples | n | JS | PMF error | floor JS | floor PMF |",
        "|---|---|---|---|---|---|",
    ]
    for name, key, floor in [("training data", "data", None), ("i.i.d.", "iid", "floor_iid"), ("MD", "md", "floor_md")]:
        m = metrics[key]
        f = metrics[floor] if floor else None
        lines.append(
            f"| {name} | {m['n']} | {format_metric(m['js'])} | {format_metric(m['pmf'])} | "
            + (f"{format_metric(f['js'])} | {format_metric(f['pmf'])} |" if f else "– | – |")
        )
    lines += [
        "",
        "![densities](densities.png)",
        "",
        "Free energy of the data (-log histogram, k_BT) for the exact density, the training data, "
        "the i.i.d. samples and the MD frames.",
        "",
        "![free energy](free_energy.png)",
        "",
        "Learned energy E_theta(x, t0) against the true U/k_BT, both shifted to a minimum of 0.",
        *consistency_lines(has_loss),
        *(adjusted_lines(metrics["adjusted"]) if "adjusted" in metrics else []),
    ]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return metrics
