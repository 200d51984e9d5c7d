"""Evaluation of a coarse-grained molecular model against held-out reference MD (DESIGN §7).

:func:`evaluate_molecule` writes ``RUN_DIR/report/`` with ``metrics.json``,
``report.md`` and plots: Ramachandran free-energy surfaces (held-out reference,
training data, i.i.d. samples, MD), phi/psi JS and PMF errors (64 bins on
[-pi, pi]^2), the Wasserstein-1 distance of every CG bond length (nm), learned
energy histograms (kJ/mol), the Fokker-Planck error against diffusion time and
the training loss. Every metric is reported next to its floor: the same metric
between two independent halves of the held-out reference.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import wasserstein_distance  # noqa: E402

from ..io import atomic_write_text  # noqa: E402
from ..systems import MolecularData, MolecularSystem, load_molecular_data  # noqa: E402
from ..systems._molecule import dihedral_angles  # noqa: E402
from .metrics import compare_to_reference, histogram, js_divergence  # noqa: E402

__all__ = [
    "evaluate_molecule", "held_out_text", "reference_splits", "phi_positive", "md_frames", "md_protocol_floor",
    "iid_sample_floor",
    "dihedral_metrics", "bond_lengths", "bond_w1",
]


def bond_lengths(system: MolecularSystem, x: np.ndarray) -> np.ndarray:
    """CG bond lengths (nm) of frames x (N, n_beads, 3) -> (N, n_bonds)."""
    i, j = np.array(system.bonds).T
    return np.linalg.norm(x[:, j] - x[:, i], axis=-1)


def bond_w1(system: MolecularSystem, x: np.ndarray, reference: np.ndarray) -> list[float]:
    """Wasserstein-1 distance (nm) between the distributions of each CG bond length."""
    a, b = bond_lengths(system, x), bond_lengths(system, reference)
    return [float(wasserstein_distance(a[:, k], b[:, k])) for k in range(a.shape[1])]


def phi_positive(system: MolecularSystem, x: np.ndarray) -> float:
    """Fraction of frames x (N, n_beads, 3) whose first dihedral (phi) is positive."""
    return float(np.mean(dihedral_angles(x, system.dihedrals)[:, 0] > 0))


def dihedral_metrics(system: MolecularSystem, x: np.ndarray, reference: np.ndarray) -> dict:
    """phi/psi JS and PMF error of frames x against reference frames (both (N, n_beads, 3), nm)."""
    bounds = system.metric_bounds
    ref = dihedral_angles(reference, system.dihedrals)
    return compare_to_reference(
        dihedral_angles(x, system.dihedrals),
        histogram(ref, bounds, system.js_bins),
        histogram(ref, bounds, system.pmf_bins),
        bounds,
    )


def reference_splits(system: MolecularSystem, data_dir: str | Path) -> dict:
    """How much the training/held-out split of a reference matters (DESIGN §7).

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
      both on the system's phi/psi bins (DESIGN §7).
    """
    from itertools import combinations

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


def _energies(emulator, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Learned potential U_theta(x, t0) in kJ/mol, evaluated in batches."""
    fn = jax.jit(lambda y: emulator.energy(y))
    out = [np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0)


def _subsample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def _plot_ramachandran(path, system: MolecularSystem, sets: dict[str, np.ndarray], vmax: float = 8.0):
    bins = system.js_bins
    fig, axes = plt.subplots(1, len(sets), figsize=(3.5 * len(sets), 3.4), sharey=True)
    for ax, (name, x) in zip(np.atleast_1d(axes), sets.items()):
        p = histogram(dihedral_angles(x, system.dihedrals), system.metric_bounds, bins)
        with np.errstate(divide="ignore"):
            f = -np.log(p)
        f -= f[np.isfinite(f)].min()
        im = ax.imshow(f.T, origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi], vmin=0, vmax=vmax,
                       cmap="viridis", aspect="equal")
        ax.set_title(f"{name} (n={len(x)})", fontsize=10)
        ax.set_xlabel("phi (rad)")
    np.atleast_1d(axes)[0].set_ylabel("psi (rad)")
    fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.85)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _plot_bonds(path, system: MolecularSystem, sets: dict[str, np.ndarray]):
    n_bonds = len(system.bonds)
    fig, axes = plt.subplots(1, n_bonds, figsize=(3.0 * n_bonds, 2.8))
    lengths = {k: bond_lengths(system, v) for k, v in sets.items()}
    names = [f"{system.cg_map[i][1]}{i}-{system.cg_map[j][1]}{j}" for i, j in system.bonds]
    for b, ax in enumerate(np.atleast_1d(axes)):
        lo = min(np.quantile(v[:, b], 0.001) for v in lengths.values())
        hi = max(np.quantile(v[:, b], 0.999) for v in lengths.values())
        edges = np.linspace(lo, hi, 60)
        for k, v in lengths.items():
            ax.hist(v[:, b], bins=edges, density=True, histtype="step", label=k)
        ax.set_title(names[b], fontsize=9)
        ax.set_xlabel("length (nm)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_energies(path, energies: dict[str, np.ndarray]):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lo = min(np.quantile(e, 0.001) for e in energies.values())
    hi = max(np.quantile(e, 0.995) for e in energies.values())
    edges = np.linspace(lo, hi, 80)
    for k, e in energies.items():
        ax.hist(e, bins=edges, density=True, histtype="step", label=k)
    ax.set_xlabel("learned energy U_theta(x, t0) (kJ/mol, arbitrary offset)")
    ax.set_ylabel("density")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _architecture(m) -> str:
    if m.kind != "mlp":
        return f"{m.heads} heads x {m.head_dim}"
    return m.features + (", whitened distances" if m.whiten_distances else "")


def md_frames(trajectory, burn_in_frames: int) -> np.ndarray:
    """MD frames after burn-in, replicas concatenated.

    Args:
      trajectory: MD frames (nm), shape (frames, replicas, n_beads, 3).
      burn_in_frames: frames of every replica to discard; ignored (nothing discarded) when the
        trajectory is not longer than that.

    Returns:
      Positions (nm), shape (kept frames * replicas, n_beads, 3).
    """
    keep = trajectory[burn_in_frames:] if len(trajectory) > burn_in_frames else trajectory
    return np.asarray(keep).reshape(-1, *trajectory.shape[2:])


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
      data: its :class:`scoremd.systems.MolecularData`.
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
      data: its :class:`scoremd.systems.MolecularData`.
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


def evaluate_molecule(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray) -> dict:
    """Score i.i.d. samples and MD frames against the held-out reference (and, separately,
    against the training frames) and write the report.

    Args:
      emulator: the trained :class:`scoremd.Emulator` of a molecular system.
      run_dir: run directory; the report goes to ``run_dir/report``.
      samples: i.i.d. samples (nm), shape (N, n_beads, 3).
      trajectory: MD frames (nm), shape (frames, replicas, n_beads, 3); the first
        ``config.simulate.burn_in_frames`` frames of every replica are discarded.

    Returns:
      The metrics dict (also written to ``report/metrics.json``): ``iid``, ``md``, ``data``
      (training frames) and ``floor`` (half of the held-out frames against the other half),
      each scored against the held-out frames (phi/psi ``js`` and ``pmf`` error in k_BT^2,
      per-bond ``bond_w1`` in nm, ``n``); ``md_floor`` (:func:`md_protocol_floor` for the MD's
      replicas and length, None without reference metadata); ``iid_floor``
      (:func:`iid_sample_floor` for the number of i.i.d. samples); ``iid_vs_train`` and ``md_vs_train`` (``js``, ``pmf``
      against the training frames); ``fp_error`` vs diffusion time; ``train_seconds``.
    """
    from .report import (_plot_fp_error, _plot_loss, expert_steps, format_metric, fp_error_vs_time, sampler_text,
                         steps_text)

    system: MolecularSystem = emulator.system
    config = emulator.config
    run_dir = Path(run_dir)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    burn = config.simulate.burn_in_frames
    md = md_frames(trajectory, burn)
    data = load_molecular_data(system, config.data.dir, config.data.held_out)
    train = data.positions[data.train]
    reference = data.positions[data.validation]
    half_a, half_b = data.validation_halves()

    def row(x, ref=reference):
        return {**dihedral_metrics(system, x, ref), "bond_w1": bond_w1(system, x, ref), "n": int(len(x))}

    info_path = run_dir / "run.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    n_energy = 20_000
    energies = {
        "held-out reference": _energies(emulator, _subsample(reference, n_energy)),
        "i.i.d.": _energies(emulator, _subsample(samples, n_energy)),
        "MD": _energies(emulator, _subsample(md, n_energy)),
    }
    runs = np.unique(data.run_index)
    ns_per_frame = _ns_per_frame(config.data.dir, system)
    md_frame_ps = emulator.langevin_config().dt * (config.simulate.steps_per_frame or system.steps_per_frame)
    protocol_floor = None
    if ns_per_frame:
        ratio = md_frame_ps / (1000.0 * ns_per_frame)
        window = max(int(round(trajectory.shape[0] * ratio)), 1)
        protocol_floor = md_protocol_floor(
            system, data, replicas=int(trajectory.shape[1]), window_frames=window,
            burn_in_frames=min(int(round(burn * ratio)), window - 1) if len(trajectory) > burn else 0)
    metrics = {
        "system": system.name,
        "reference": {
            "n_validation": int(len(reference)), "n_train": int(len(train)), "runs": int(len(runs)),
            "held_out": config.data.held_out,
            "held_out_runs": int(len(np.unique(data.run_index[data.validation]))),
            "validation_fraction": system.validation_fraction,
            "ns_per_frame": ns_per_frame,
        },
        "iid": row(samples),
        "md": {**row(md), "replicas": int(trajectory.shape[1]), "frames_per_replica": int(trajectory.shape[0]),
               "burn_in_frames": int(burn)},
        "data": row(train),
        "floor": row(half_a, half_b),
        "md_floor": protocol_floor,
        "iid_floor": iid_sample_floor(system, data, len(samples)),
        # Against the frames the model was fitted to: separates the model's error from the
        # difference between training and held-out frames (slow basins make them differ).
        "iid_vs_train": dihedral_metrics(system, samples, train),
        "md_vs_train": dihedral_metrics(system, md, train),
        # Fraction of frames with phi > 0 (alanine dipeptide's rare alpha_L basin).
        "phi_positive": {name: phi_positive(system, x) for name, x in [
            ("held-out reference", reference), ("training data", train), ("i.i.d.", samples),
            ("MD", md), ("MD starts", trajectory[0])]},
        "js_bins": system.js_bins,
        "pmf_bins": system.pmf_bins,
        "energy_mean_kj_mol": {k: float(np.mean(v)) for k, v in energies.items()},
        "fp_error": fp_error_vs_time(emulator, train),
        "train_seconds": info.get("train_seconds"),
        "train_steps": config.train.steps,
        "expert_steps": expert_steps(config),
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    sets = {"held-out reference": reference, "training data": train, "i.i.d.": samples, "MD": md}
    _plot_ramachandran(out / "ramachandran.png", system, sets)
    _plot_bonds(out / "bonds.png", system, {k: _subsample(v, 200_000) for k, v in sets.items()})
    _plot_energies(out / "energies.png", energies)
    _plot_fp_error(out / "fp_error.png", metrics["fp_error"])
    has_loss = (run_dir / "metrics.jsonl").exists() and _plot_loss(out / "loss.png", run_dir / "metrics.jsonl")

    f = format_metric
    t = metrics["train_seconds"]
    m = config.model
    lines = [
        f"# scoremd report: {system.name}",
        "",
        f"Training: {steps_text(config)}" + (f" in {t / 60:.1f} min" if t else "")
        + f"; model {m.kind} ({_architecture(m)}) "
        f"{list(m.hidden)}; FP weight {config.loss.fp_weight}"
        + (f"; experts at {list(m.expert_boundaries)}" if m.expert_boundaries else "") + ".",
        f"i.i.d.: {sampler_text(config)}. "
        f"MD: {trajectory.shape[1]} replicas x {trajectory.shape[0]} frames "
        f"({config.simulate.integrator} integrator, first {burn} frames discarded).",
        "",
        f"Reference: {held_out_text(metrics['reference'])} ({len(reference)} frames), never seen in "
        "training. The floor compares two independent halves of it (by runs where it spans several): "
        "a model cannot be shown to be closer than that.",
        "",
        f"phi/psi JS and PMF error on {system.js_bins} x {system.pmf_bins} bins; bond W1 = mean Wasserstein-1 "
        "distance of the CG bond lengths (nm).",
        "",
        "| samples | n | phi/psi JS | PMF error | bond W1 (nm) |",
        "|---|---|---|---|---|",
    ]
    for name, key in [("training data", "data"), ("i.i.d.", "iid"), ("MD", "md"), ("floor (half vs half)", "floor")]:
        r = metrics[key]
        lines.append(f"| {name} | {r['n']} | {f(r['js'])} | {f(r['pmf'])} | {np.mean(r['bond_w1']):.2e} |")
    sf = metrics["iid_floor"]
    lines += [
        "",
        f"i.i.d. sample-size floor: {sf['n']} training frames drawn at random (as many as the i.i.d. "
        f"samples; mean ± sd over {sf['repeats']} draws) score JS {f(sf['js'])} ± {f(sf['js_sd'])}, "
        f"PMF {f(sf['pmf'])} ± {f(sf['pmf_sd'])} against the held-out frames: an exact sampler of the "
        "training distribution with this many samples scores this, so the i.i.d. row cannot be read below it.",
    ]
    pf = metrics["md_floor"]
    if pf:
        lines += [
            "",
            f"MD protocol floor: the reference MD itself cut into {pf['replicas']} windows of "
            f"{pf['window_frames']} reference frames started at random training frames (first "
            f"{pf['burn_in_frames']} discarded), as long as the learned MD's replicas; mean ± sd over "
            f"{pf['repeats']} draws: JS {f(pf['js'])} ± {f(pf['js_sd'])}, PMF {f(pf['pmf'])} ± {f(pf['pmf_sd'])} "
            f"against the held-out frames, JS {f(pf['js_vs_train'])} ± {f(pf['js_vs_train_sd'])} against the "
            "training frames. A force field with the reference's own dynamics scores this with this protocol; "
            "the MD row cannot be read below it (faster coarse-grained dynamics lower it).",
        ]
    lines += [
        "",
        "Basin populations: fraction of frames at phi > 0 (the rare alpha_L basin): "
        + ", ".join(f"{k} {v:.1%}" for k, v in metrics["phi_positive"].items()) + ".",
    ]
    lines += [
        "",
        "Against the training frames instead (what the model was fitted to; the difference to the "
        "rows above comes from the training and held-out frames differing). MD replicas start from "
        "training frames: where they are shorter than the slowest basin exchange, their basin "
        "populations are partly those of the starting frames, not the model's:",
        "",
        "| samples | phi/psi JS | PMF error |",
        "|---|---|---|",
        *(f"| {name} | {f(metrics[key]['js'])} | {f(metrics[key]['pmf'])} |"
          for name, key in [("i.i.d.", "iid_vs_train"), ("MD", "md_vs_train")]),
        "",
        "![Ramachandran](ramachandran.png)",
        "",
        "Free energy -log p(phi, psi) in k_BT of each set.",
        "",
        "![bonds](bonds.png)",
        "",
        "![energies](energies.png)",
        "",
        "Learned energy of reference frames and of the model's own samples: a consistent model gives "
        "the same histogram for all three.",
        "",
        "![Fokker-Planck error](fp_error.png)",
        "",
        "Squared Fokker-Planck residual of the learned energy against diffusion time.",
    ]
    if has_loss:
        lines += ["", "![loss](loss.png)", ""]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return metrics


def held_out_text(reference: dict) -> str:
    """Which frames were held out, in words, from the ``reference`` entry of a report's metrics."""
    runs, held = reference["runs"], reference.get("held_out_runs")
    if reference.get("held_out", "time") == "runs" and held and held < runs:
        return f"{held} of {runs} independent OpenMM runs, held out whole"
    return f"the last {reference['validation_fraction']:.0%} of each of {runs} OpenMM runs"


def _ns_per_frame(data_dir, system) -> float | None:
    from ..systems._molecular import reference_metadata

    meta = reference_metadata(system, data_dir)
    return meta[0].get("length_ns", 0) / max(meta[0].get("n_frames", 1), 1) if meta else None
