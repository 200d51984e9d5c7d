"""Evaluation of a trained run against its system's exact density, with plots.

:func:`evaluate` writes ``RUN_DIR/report/`` with ``metrics.json``, PNG plots and
``report.md``: JS and PMF errors (DESIGN §7) of the training data, the i.i.d.
samples and the MD frames against the exact Boltzmann density, next to the
finite-sample floor (exact samples of the same size scored the same way).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ..io import atomic_write_text  # noqa: E402
from .metrics import compare_to_reference, histogram  # noqa: E402

__all__ = ["evaluate", "format_metric"]


def format_metric(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.4f}" if x < 10 else f"{x:.1f}"


def _hist(x, bounds, bins):
    """Histogram for plots: all zeros (an empty panel) when no sample is inside the bounds."""
    try:
        return histogram(x, bounds, bins)
    except ValueError:
        return np.zeros((bins,) * len(bounds))


def _free_energy_grid(system, emulator, n: int = 120):
    """True and learned free energies (k_BT, minimum 0) on a grid over the metric box."""
    axes = [np.linspace(lo, hi, n) for lo, hi in system.metric_bounds]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, system.dim)
    true = np.asarray(system.energy(jnp.asarray(mesh))) / system.kbt
    learned = np.asarray(emulator.energy(mesh)) / system.kbt
    shape = (n,) * system.dim
    return axes, (true - true.min()).reshape(shape), (learned - learned.min()).reshape(shape)


def _plot_densities(path, system, sets: dict[str, np.ndarray], ref: np.ndarray):
    bounds = system.metric_bounds
    if system.dim == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        edges = np.linspace(*bounds[0], ref.shape[0] + 1)
        centres, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
        ax.plot(centres, ref / width, "k-", lw=2, label="exact")
        for name, x in sets.items():
            ax.plot(centres, _hist(x, bounds, ref.shape[0]) / width, label=name, alpha=0.8)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend()
    else:
        panels = {"exact": ref, **{k: _hist(v, bounds, ref.shape[0]) for k, v in sets.items()}}
        fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), sharey=True)
        extent = [*bounds[0], *bounds[1]]
        for ax, (name, p) in zip(axes, panels.items()):
            with np.errstate(divide="ignore"):
                f = -np.log(p)
            if np.isfinite(f).any():
                f -= f[np.isfinite(f)].min()
            im = ax.imshow(f.T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10, cmap="viridis")
            ax.set_title(name)
            ax.set_xlabel("x")
        axes[0].set_ylabel("y")
        fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _plot_free_energy(path, system, emulator, cutoff: float = 10.0):
    axes, true, learned = _free_energy_grid(system, emulator)
    if system.dim == 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(axes[0], true, "k-", lw=2, label="true U/k_BT")
        ax.plot(axes[0], learned, "C1--", label="learned E_theta(x, t0)")
        ax.set_ylim(-0.5, 3 * cutoff)
        ax.set_xlabel("x")
        ax.set_ylabel("energy (k_BT, minimum at 0)")
        ax.legend()
    else:
        fig, axs = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
        extent = [*system.metric_bounds[0], *system.metric_bounds[1]]
        diff = np.where(true < cutoff, learned - true, np.nan)
        for ax, (name, f, kw) in zip(axs, [
            ("true U/k_BT", true, dict(vmin=0, vmax=cutoff)),
            ("learned E_theta(x, t0)", learned, dict(vmin=0, vmax=cutoff)),
            (f"learned - true (where true < {cutoff:g})", diff, dict(vmin=-2, vmax=2, cmap="RdBu_r")),
        ]):
            im = ax.imshow(f.T, origin="lower", extent=extent, aspect="auto", **kw)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("x")
            fig.colorbar(im, ax=ax, shrink=0.85)
        axs[0].set_ylabel("y")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _plot_loss(path, metrics_file: Path):
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for stage in dict.fromkeys(r.get("stage", "") for r in rows):
        sel = [r for r in rows if r.get("stage", "") == stage]
        ax.plot([r["step"] for r in sel], [r["loss"] for r in sel], label=stage or None)
    if any("stage" in r for r in rows):
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def expert_steps(config) -> list[int] | None:
    """Optimiser steps of each expert of a run config's mixture (smallest t first); None
    without experts."""
    boundaries = config.model.expert_boundaries
    return list(config.train.expert_steps(len(boundaries) + 1)) if boundaries else None


def steps_text(config) -> str:
    """The optimiser steps of a run config in words: per expert where they differ."""
    per = expert_steps(config)
    if per and len(set(per)) > 1:
        return "steps per expert (smallest t first) " + " / ".join(str(n) for n in per)
    return f"{config.train.steps} steps" + (" per expert" if per else "")


def sampler_text(config) -> str:
    """The i.i.d. sampler of a run config in words, e.g. "sde sampler, 200 steps, time grid rho = 2"."""
    c = config.sample
    grid = f"time grid rho = {c.rho:g}" if c.rho else "the sampler's default time grid"
    return f"{c.method} sampler, {c.steps} steps, {grid}"


def fp_error_vs_time(emulator, data: np.ndarray, *, n: int = 512, n_times: int = 16, seed: int = 0) -> dict:
    """Mean squared Fokker-Planck residual / D^2 of the model at log-spaced times (DESIGN D5).

    Uses the training residual (exact estimator, 8 probe pairs per point) on ``n``
    training samples diffused to each time.
    """
    from ..fokker_planck import fp_error_curve

    sde = emulator.model.sde
    times = np.geomspace(max(sde.t_min, 1e-4), 1.0, n_times)
    x0 = jnp.asarray(data[np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False)]
                     / emulator.scale)

    def energy_fn(x, t):
        return emulator.model.energy(emulator.params, x, t)

    values = fp_error_curve(energy_fn, sde, jax.random.PRNGKey(seed), x0, times)
    return {"t": times.tolist(), "value": values.tolist()}


def _plot_fp_error(path, curve: dict):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    t, v = np.array(curve["t"]), np.array(curve["value"])
    ax.plot(t, np.abs(v), "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("diffusion time t")
    ax.set_ylabel("E[r^2] / D^2 (|unbiased estimate|)")
    ax.set_title("Fokker-Planck residual of the learned energy")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def evaluate(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray, *, seed: int = 123) -> dict:
    """Score i.i.d. samples and MD frames against the exact density and write the report.

    Molecules are scored against their held-out reference MD instead
    (:func:`scoremd.analysis.molecular.evaluate_molecule`).

    Args:
      emulator: the trained :class:`scoremd.Emulator`.
      run_dir: run directory; the report goes to ``run_dir/report``.
      samples: i.i.d. samples, shape (N, *event).
      trajectory: MD frames, shape (frames, replicas, *event); the first
        ``config.simulate.burn_in_frames`` frames are discarded.
      seed: seed of the exact samples that measure the floor.

    Returns:
      The metrics dict (also written to ``report/metrics.json``).
    """
    from ..workflow import load_training_data

    if emulator.is_molecular:
        from .molecular import evaluate_molecule

        return evaluate_molecule(emulator, run_dir, samples, trajectory)
    run_dir = Path(run_dir)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    system = emulator.system
    burn = emulator.config.simulate.burn_in_frames
    md = trajectory[burn:].reshape(-1, *system.event_shape) if len(trajectory) > burn else trajectory.reshape(
        -1, *system.event_shape)
    data = load_training_data(emulator.config, progress=False)
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
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    _plot_densities(out / "densities.png", system, {"training data": data, "i.i.d.": samples, "MD": md}, ref_js)
    _plot_free_energy(out / "free_energy.png", system, emulator)
    _plot_fp_error(out / "fp_error.png", metrics["fp_error"])
    has_loss = (run_dir / "metrics.jsonl").exists() and _plot_loss(out / "loss.png", run_dir / "metrics.jsonl")

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
        "",
        "![Fokker-Planck error](fp_error.png)",
        "",
        "Squared Fokker-Planck residual of the learned energy against diffusion time: where it is large, "
        "the energy at that time is not consistent with the diffusion of the energies at other times.",
    ]
    if has_loss:
        lines += ["", "![loss](loss.png)", ""]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return metrics


