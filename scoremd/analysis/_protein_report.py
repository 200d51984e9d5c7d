"""The report of a C-alpha protein model against held-out reference MD (docs/metrics.md).

:func:`evaluate_protein` writes ``RUN_DIR/report/`` with ``metrics.json``, ``report.md``
and plots: TIC1/TIC2 free-energy surfaces (deeptime TICA fitted on the training runs),
the distribution of Q (fraction of native contacts). Every metric stands next to its floor:
one half of the held-out runs against the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import load_molecular_data, reference_metadata
from ..geometry import fraction_native_contacts, native_contacts
from ..storage import atomic_write_text
from . import _plots
from ._consistency import fp_error_vs_time
from ._molecular import check_reference
from ._molecular_metrics import md_frames
from ._text import consistency_lines, force_field_text, format_metric, sampler_text, steps_text, wall_text
from .protein import (BOND_MARGIN, BondRange, ClosestApproach, contact_map, distance_js, fit_tica,
                      folding_transitions_per_us, histogram_js, md_blocks, native_positions, radius_of_gyration,
                      rmsd_to_native)

__all__ = ["evaluate_protein"]


def _train_seconds(run_dir: Path) -> float | None:
    info = run_dir / "run.json"
    return json.loads(info.read_text()).get("train_seconds") if info.exists() else None


def _rows(metrics: dict, sets: list[tuple[str, str]], cells) -> list[str]:
    """Markdown table rows: one per (name, metrics key), its cells from ``cells(metrics[key])``."""
    return [f"| {name} | " + " | ".join(cells(metrics[key])) + " |" for name, key in sets]


BLUR_ROW_NM = 1e-3
"""Blur sigma(t0) * s (nm) from which the report adds the row "reference blurred to t0"."""


def blurred_to(emulator, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """Frames x (N, n, 3) nm diffused to the MD force's time t0: m(t0) x + sigma(t0) s noise.

    What the MD at t0 samples if the model is exact (its density is the data's diffused to t0).
    Returns the blurred frames (float32) and the blur sigma(t0) * s in nm.
    """
    t0 = emulator.config.simulate.t0
    m = float(emulator.model.sde.mean_coeff(t0))
    sigma = float(emulator.model.sde.std(t0)) * emulator.scale
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    return (m * x + sigma * noise).astype(np.float32), sigma


def _reference_frame_ps(config, system) -> float:
    """ps between reference frames: ``data.frame_ps`` x stride for a user's trajectories, else the
    runs' recorded protocol, else the system's MD frame interval."""
    if config.data.trajectories is not None:
        return (config.data.frame_ps or system.dt * system.steps_per_frame) * config.data.stride
    meta = reference_metadata(system, config.data.dir)
    if meta and "protocol" in meta[0]:
        return float(meta[0]["protocol"]["frame_interval"])
    return system.dt * system.steps_per_frame


def evaluate_protein(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray, *,
                     reference: str = "validation", report_dir: str | Path | None = None,
                     frame_ps: float | None = None) -> dict:
    """Score i.i.d. samples and MD of a C-alpha protein model and write the report.

    Metrics (each set against the held-out reference): ``js`` / ``pmf`` (TIC1/TIC2,
    100 bins), ``distance_js`` (pairs |i - j| >= 3), ``folded`` (share with Q > 0.8),
    ``mean_q``; for MD also ``transitions_per_us`` (Q > 0.8 <-> Q < 0.3) against the
    reference runs'. ``floor_reference``: one half of the held-out runs against the other.
    ``reference="test"`` scores against the system's test runs instead (floor: held-out runs).
    The report goes to ``report_dir`` (default ``run_dir/report``); ``frame_ps`` is the MD's
    time between frames in ps (default: the config's time step x steps per frame).
    """
    system, config = emulator.system, emulator.config
    check_reference(config, reference)
    run_dir = Path(run_dir)
    out = Path(report_dir) if report_dir is not None else run_dir / "report"
    data = load_molecular_data(system, config.data.dir, config.data.held_out, **config.data.reference_source())
    train = data.positions[data.train]
    held_out = data.positions[data.validation]
    if reference == "test":
        scored = load_molecular_data(system, config.data.dir, runs=system.test_runs).positions
        half_a, half_b = scored[: len(scored) // 2], scored[len(scored) // 2:]
    else:
        scored = held_out
        half_a, half_b = data.validation_halves()
    out.mkdir(parents=True, exist_ok=True)  # once every reference loaded
    burn = config.simulate.burn_in_frames
    md = md_frames(trajectory, burn)
    frame_ps = frame_ps or emulator.integrator().dt * config.simulate.steps_per_frame_for(system)
    ref_frame_ps = _reference_frame_ps(config, system)
    lag = max(1, int(round(system.tica_lag_ps / ref_frame_ps)))
    tica = fit_tica([data.positions[data.run_index == r] for r in np.unique(data.run_index[data.train])], lag)
    native = native_positions(system, config.data.dir)
    pairs, r0 = native_contacts(native, system.native_contact_cutoff)
    bond_range = BondRange(train)
    closest = ClosestApproach(train)
    k = len(r0)
    q_bounds = (-0.5 / k, 1 + 0.5 / k)  # one bin per value k/K of Q
    rmsd_bounds = (0.0, float(rmsd_to_native(scored, native).max()) + 0.1)

    def structure(x):
        return fraction_native_contacts(x, pairs, r0), rmsd_to_native(x, native), contact_map(x, system.native_contact_cutoff)

    scored_structure = structure(scored)

    def row(x, ref=scored):
        q, rmsd, cmap = structure(x)
        q_ref, rmsd_ref, cmap_ref = scored_structure if ref is scored else structure(ref)
        return {**tica.metrics(x, ref), "distance_js": distance_js(x, ref), "folded": float(np.mean(q > 0.8)),
                "mean_q": float(np.mean(q)), "q_js": histogram_js(q, q_ref, q_bounds, k + 1),
                "rmsd_median": float(np.median(rmsd)), "rmsd_js": histogram_js(rmsd, rmsd_ref, rmsd_bounds),
                "contact_mae": float(np.nanmean(np.abs(cmap - cmap_ref)) if k else 0.0),
                "broken": float(np.mean(bond_range.broken(x))), "clash": float(np.mean(closest.clashing(x))),
                "rg_median": float(np.median(radius_of_gyration(x))), "n": int(len(x))}

    flat = trajectory.reshape(-1, *trajectory.shape[2:])
    q_md = fraction_native_contacts(flat, pairs, r0).reshape(trajectory.shape[:2])
    clash_md = closest.clashing(trajectory)
    blocks = md_blocks(trajectory, frame_ps, q_md, rmsd_to_native(flat, native).reshape(trajectory.shape[:2]), clash_md)
    ref_runs = [scored] if reference == "test" else [held_out[data.run_index[data.validation] == r]
                                                       for r in np.unique(data.run_index[data.validation])]
    q_ref = [fraction_native_contacts(x, pairs, r0) for x in ref_runs]
    ref_rate = sum(folding_transitions_per_us(q, ref_frame_ps) * len(q) for q in q_ref) / sum(len(q) for q in q_ref)
    metrics = {
        "system": system.name,
        "reference": {"against": reference, "n": int(len(scored)), "n_train": int(len(train)),
                      "tica_lag_frames": lag, "tica_lag_ps": lag * ref_frame_ps, "native_contacts": int(len(r0)),
                      "bond_range_nm": [bond_range.lo, bond_range.hi],
                      "folded": float(np.mean(np.concatenate(q_ref) > 0.8)), "transitions_per_us": ref_rate,
                      "rmsd_median": float(np.median(scored_structure[1])),
                      "rg_median": float(np.median(radius_of_gyration(scored))),
                      "clash": float(np.mean(closest.clashing(scored)))},
        "iid": row(samples),
        "md": {**row(md), "replicas": int(trajectory.shape[1]), "frames_per_replica": int(trajectory.shape[0]),
               "broken_replicas": float(np.mean(np.any(bond_range.broken(trajectory), axis=0))),
               "clash_replicas": float(np.mean(np.any(clash_md, axis=0))),
               "burn_in_frames": int(burn), "transitions_per_us": folding_transitions_per_us(q_md, frame_ps)},
        "data": row(train),
        "floor_reference": row(half_a, half_b),
        "floor_iid": row(train[np.random.default_rng(0).choice(len(train), min(len(samples), len(train)),
                                                               replace=False)]),
        "floor_md": None,
        "md_blocks": blocks,
        "blurred_reference": None,
        "fp_error": fp_error_vs_time(emulator, train),
        "train_steps": config.train.steps,
        "train_seconds": _train_seconds(run_dir),
    }
    blur = float(emulator.model.sde.std(config.simulate.t0)) * emulator.scale
    if blur >= BLUR_ROW_NM:  # the same frames, blurred: what the force time alone moves each metric by
        metrics["blurred_reference"] = {**row(blurred_to(emulator, scored)[0]), "blur_nm": blur,
                                        "t0": config.simulate.t0}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    sets = {"reference": scored, "training data": train, "i.i.d.": samples, "MD": md}
    _plots.plot_tica(out / "tica.png", {k: tica(v[:: max(1, len(v) // 200_000)]) for k, v in sets.items()},
                     tica.bounds)
    _plots.plot_protein_structure(
        out / "structure.png", {k: structure(v[:: max(1, len(v) // 200_000)]) for k, v in sets.items()},
        q_bounds, k + 1, rmsd_bounds)
    _plots.plot_md_blocks(out / "md_time.png", blocks, {"folded": float(np.mean(scored_structure[0] > 0.8)),
                                                        **{k: metrics["reference"][k] for k in
                                                           ("rmsd_median", "rg_median", "clash")}})
    _plots.plot_fp_error(out / "fp_error.png", metrics["fp_error"])
    has_loss = (run_dir / "metrics.jsonl").exists() and _plots.plot_loss(out / "loss.png", run_dir / "metrics.jsonl")
    f = format_metric
    lines = [
        f"# scoremd report: {system.name}", "",
        f"Training: {steps_text(config)}; model {config.model.kind} {list(config.model.hidden)}{wall_text(emulator)}.",
        f"i.i.d.: {sampler_text(config)}. MD: {trajectory.shape[1]} replicas x {trajectory.shape[0]} frames "
        f"({frame_ps:g} ps apart, first {burn} discarded), {force_field_text(emulator)}.", "",
        f"Against the {'test' if reference == 'test' else 'held-out'} reference ({len(scored)} frames). "
        f"TICA (deeptime) fitted on the training runs at a lag of {lag * ref_frame_ps:g} ps; TIC JS/PMF on "
        f"100 x 100 bins; distance JS = mean over C-alpha pairs |i - j| >= 3; Q over {len(r0)} native contacts "
        "(C-alpha criterion), folded = Q > 0.8. The floor scores half of the reference against the other half; "
        "the i.i.d. floor, as many training frames as i.i.d. samples.", "",
        "| samples | n | TIC JS | TIC PMF | distance JS | folded | mean Q |", "|---|---|---|---|---|---|---|",
    ]
    blur_note = ([] if metrics["blurred_reference"] is None else [
        "", f"The MD's force is the model at t0 = {config.simulate.t0:g}, whose density is the data's blurred by "
        f"{blur:.3g} nm per coordinate; the last row scores the reference frames so blurred against themselves: "
        "what the force time alone costs, before any error of the model."])
    scored_sets = [("i.i.d.", "iid"), ("MD", "md"), ("floor (half vs half)", "floor_reference"),
                   ("i.i.d. floor (training frames)", "floor_iid")]
    if metrics["blurred_reference"] is not None:
        scored_sets.append((f"reference blurred to t0 = {config.simulate.t0:g}", "blurred_reference"))
    lines += _rows(metrics, [("training data", "data"), *scored_sets],
                   lambda r: [str(r["n"]), f(r["js"]), f(r["pmf"]), f(r["distance_js"]), f"{r['folded']:.1%}",
                              f"{r['mean_q']:.3f}"])
    lines += blur_note
    lines += [
        "", f"Structure: Q and RMSD to the native structure (C-alpha, after superposition) as JS of 1-D "
        f"histograms; contact map = probability that a pair |i - j| >= 3 lies within "
        f"{system.native_contact_cutoff:g} nm, compared by the mean absolute difference over pairs; broken = "
        f"share of frames with a consecutive C-alpha distance outside the training data's range widened by "
        f"{BOND_MARGIN:g} nm ({bond_range.lo:.3f}-{bond_range.hi:.3f} nm); clashing = share of frames with a "
        f"pair |i - j| >= 2 closer than the training data's closest approach of that pair less {BOND_MARGIN:g} nm "
        "(beads passing through each other); Rg = radius of gyration.", "",
        "| samples | Q JS | RMSD median (nm) | RMSD JS | contact map MAE | Rg median (nm) | broken frames | "
        "clashing frames |", "|---|---|---|---|---|---|---|---|",
    ]
    lines += _rows(metrics, scored_sets,
                   lambda r: [f(r["q_js"]), f"{r['rmsd_median']:.3f}", f(r["rmsd_js"]), f(r["contact_mae"]),
                              f"{r['rg_median']:.3f}", f"{r['broken']:.2%}", f"{r['clash']:.2%}"])
    ns = [f"{b / 1000:g}" for b in blocks["start_ps"]]
    lines += [
        "", f"MD replicas with at least one broken frame: {metrics['md']['broken_replicas']:.1%}, with a clashing "
        f"one: {metrics['md']['clash_replicas']:.1%} of {trajectory.shape[1]} (a hole in the learned force field: "
        "such a replica leaves the data and often stays away; its frames are kept in every metric).", "",
        "![structure](structure.png)", "",
        f"MD per block of {blocks['block_ps'] / 1000:g} ns of simulated time (all replicas, burn-in included; "
        f"blocks starting at {', '.join(ns)} ns): folded {', '.join(f'{v:.1%}' for v in blocks['folded'])}; "
        f"RMSD median {', '.join(f'{v:.3f}' for v in blocks['rmsd_median'])} nm; Rg median "
        f"{', '.join(f'{v:.3f}' for v in blocks['rg_median'])} nm (reference {metrics['reference']['rg_median']:.3f}); "
        f"clashing {', '.join(f'{v:.1%}' for v in blocks['clash'])}. A force field that holds the data only near "
        "the starting frames drifts here.", "", "![MD over time](md_time.png)",
        "", f"Reference folded share {metrics['reference']['folded']:.1%}. Folding + unfolding transitions "
        f"(Q > 0.8 <-> Q < 0.3) per microsecond: reference {metrics['reference']['transitions_per_us']:.0f}, "
        f"MD {metrics['md']['transitions_per_us']:.0f} (model time; coarse-grained dynamics need not keep the "
        "reference's time scale).", "", "![TICA](tica.png)", "",
        "Free energy -log p(TIC1, TIC2) in k_BT of each set.", *consistency_lines(has_loss),
    ]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return metrics
