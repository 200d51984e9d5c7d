"""The report of a coarse-grained molecular model against held-out reference MD (docs/metrics.md).

:func:`evaluate_molecule` writes ``RUN_DIR/report/`` with ``metrics.json``,
``report.md`` and plots: Ramachandran free-energy surfaces (held-out reference,
training data, i.i.d. samples, MD), phi/psi JS and PMF errors (64 bins on
[-pi, pi]^2), the Wasserstein-1 distance of every CG bond length (nm), learned
energy histograms (kJ/mol), the Fokker-Planck error against diffusion time and
the training loss. Every metric is reported next to its floor.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from .._errors import ConfigError
from ..data import load_molecular_data, reference_metadata
from ..storage import atomic_write_text
from ..systems import MolecularSystem
from . import _plots
from ._consistency import fp_error_vs_time
from ._floors import iid_sample_floor, md_protocol_floor
from ._molecular_metrics import (bond_w1, dihedral_metrics, md_frames, phi_positive, phi_positive_blocks,
                                 phi_positive_by_run)
from ._protocols import protocol_lines, protocols
from ._text import (architecture_text, consistency_lines, expert_steps, force_field_text, format_metric,
                    held_out_text, sampler_text, steps_text, wall_text)

__all__ = ["evaluate_molecule"]


def _energies(emulator, x: np.ndarray, batch: int = 8192) -> np.ndarray:
    """Learned potential U_theta(x, t0) in kJ/mol, evaluated in batches."""
    fn = jax.jit(lambda y: emulator.energy(y))
    out = [np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0)


TRAINING_AT_MD_SIZE = "training data, MD's n"
"""Protocol set name of the training frames drawn at the MD's size (when the MD outnumbers the
i.i.d. samples, as the paper's 100 x 12 ns does): the training-data bound next to the long MD."""


def _subsample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    if len(x) <= n:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def check_reference(config, reference: str) -> None:
    """Refuse, before any work, a ``reference`` a molecular report cannot score against.

    Raises:
      ValueError: ``reference`` is neither ``"validation"`` nor ``"test"``.
      ConfigError: ``"test"`` with a user's own trajectories (``data.trajectories``): the test runs
        are the shipped reference's, not the user's files.
    """
    if reference not in ("validation", "test"):
        raise ValueError(f'reference must be "validation" or "test", got {reference!r}')
    if reference == "test" and config.data.trajectories is not None:
        raise ConfigError("the test reference is the system's shipped test runs, not the files of data.trajectories; "
                          'score a model of your own trajectories with reference="validation" (its held-out files)')


def evaluate_molecule(emulator, run_dir: str | Path, samples: np.ndarray, trajectory: np.ndarray, *,
                      reference: str = "validation", report_dir: str | Path | None = None,
                      frame_ps: float | None = None) -> dict:
    """Score i.i.d. samples and MD frames against the held-out reference (and, separately,
    against the training frames) and write the report.

    Args:
      emulator: the trained :class:`scoremd.Emulator` of a molecular system.
      run_dir: run directory; the report goes to ``run_dir/report``.
      samples: i.i.d. samples (nm), shape (N, n_beads, 3).
      trajectory: MD frames (nm), shape (frames, replicas, n_beads, 3); the first
        ``config.simulate.burn_in_frames`` frames of every replica are discarded.
      reference: what the two protocols of docs/metrics.md (``protocols`` in the metrics) score
        against: ``"validation"`` (the held-out runs; floor: the training runs) or ``"test"``
        (the system's test runs, which no choice has seen; floor: the held-out runs).
      report_dir: where the report goes instead of ``run_dir/report`` (e.g. a second MD
        protocol scored beside the first).
      frame_ps: simulated time between MD frames in ps (default: the config's time step x
        steps per frame): the MD protocol floor's window and the per-block shares use it.

    Returns:
      The metrics dict (also written to ``report/metrics.json``), in the schema every report
      shares: ``iid``, ``md``, ``data`` (training frames) scored against the held-out frames
      (phi/psi ``js`` and ``pmf`` error in k_BT^2, per-bond ``bond_w1`` in nm, ``n``);
      ``floor_iid`` (:func:`iid_sample_floor` for the number of i.i.d. samples); ``floor_md``
      (:func:`md_protocol_floor` for the MD's replicas and length, None without reference
      metadata); and ``floor_reference`` (half of the held-out frames against the other half); ``iid_vs_train`` and ``md_vs_train`` (``js``, ``pmf``
      against the training frames); ``protocols`` (:func:`~scoremd.analysis._protocols.protocols`:
      the paper's 50 000-frame protocol and large samples, each with its floor); ``phi_positive``
      (share of frames at phi > 0 of each set), ``phi_positive_runs`` and
      ``phi_positive_training_runs`` (:func:`~scoremd.analysis.phi_positive_by_run` of the scored
      reference and of the training frames); ``fp_error`` vs
      diffusion time; ``train_seconds``.
    """
    check_reference(emulator.config, reference)
    against = reference
    system: MolecularSystem = emulator.system
    config = emulator.config
    run_dir = Path(run_dir)
    out = Path(report_dir) if report_dir is not None else run_dir / "report"
    burn = config.simulate.burn_in_frames
    md = md_frames(trajectory, burn)
    data = load_molecular_data(system, config.data.dir, config.data.held_out,  # no test runs
                               **config.data.reference_source())
    train = data.positions[data.train]
    reference = data.positions[data.validation]
    half_a, half_b = data.validation_halves()

    def row(x, ref=reference):
        return {**dihedral_metrics(system, x, ref), "bond_w1": bond_w1(system, x, ref), "n": int(len(x))}

    if against == "test":
        test = load_molecular_data(system, config.data.dir, runs=system.test_runs)
        scored, scored_runs = test.positions, test.run_index
        independent, described = data.positions[data.validation], f"test runs {list(system.test_runs)}"
    else:
        scored, independent, described = data.positions[data.validation], train, "held-out (validation) runs"
        scored_runs = data.run_index[data.validation]
    out.mkdir(parents=True, exist_ok=True)  # once every reference loaded
    protocol_sets = {"i.i.d.": samples, "MD": md}
    if against == "test":
        # An exact model of the frames it was fitted to scores this row: where the training runs
        # and the test runs differ (slow basins), no model of the training frames scores lower.
        protocol_sets["training data"] = _subsample(train, len(samples), seed=3)
        if len(md) > len(samples):  # long MD is scored at a larger n: the same bound at its size
            protocol_sets[TRAINING_AT_MD_SIZE] = _subsample(train, len(md), seed=4)

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
    md_frame_ps = frame_ps or emulator.integrator().dt * config.simulate.steps_per_frame_for(system)
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
               "burn_in_frames": int(burn), "frame_ps": float(md_frame_ps)},
        "data": row(train),
        "floor_reference": row(half_a, half_b),
        "floor_iid": iid_sample_floor(system, data, len(samples)),
        "floor_md": protocol_floor,
        # Against the frames the model was fitted to: separates the model's error from the
        # difference between training and held-out frames (slow basins make them differ).
        "iid_vs_train": dihedral_metrics(system, samples, train),
        "md_vs_train": dihedral_metrics(system, md, train),
        # Fraction of frames with phi > 0 (alanine dipeptide's rare alpha_L basin).
        "phi_positive": {name: phi_positive(system, x) for name, x in [
            ("held-out reference", reference), ("training data", train), ("i.i.d.", samples),
            ("MD", md), ("MD starts", trajectory[0])]},
        # The share in each run of the scored reference: its spread is the reference's own uncertainty.
        "phi_positive_runs": {"reference": described, **phi_positive_by_run(system, scored, scored_runs)},
        # ... and in each training run: a model fitted to few runs inherits their uncertainty.
        "phi_positive_training_runs": phi_positive_by_run(system, train, data.run_index[data.train]),
        # The same per block of MD time: drift away from the starting populations shows here.
        "phi_positive_md_blocks": phi_positive_blocks(system, trajectory, md_frame_ps),
        "js_bins": system.js_bins,
        "pmf_bins": system.pmf_bins,
        "energy_mean_kj_mol": {k: float(np.mean(v)) for k, v in energies.items()},
        "protocols": {"reference": described, **protocols(system, protocol_sets, scored, independent)},
        "fp_error": fp_error_vs_time(emulator, train),
        "train_seconds": info.get("train_seconds"),
        "train_steps": config.train.steps,
        "expert_steps": expert_steps(config),
    }
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")

    sets = {"held-out reference": reference, "training data": train, "i.i.d.": samples, "MD": md}
    _plots.plot_ramachandran(out / "ramachandran.png", system, sets)
    _plots.plot_bonds(out / "bonds.png", system, {k: _subsample(v, 200_000) for k, v in sets.items()})
    _plots.plot_energies(out / "energies.png", energies)
    _plots.plot_fp_error(out / "fp_error.png", metrics["fp_error"])
    has_loss = (run_dir / "metrics.jsonl").exists() and _plots.plot_loss(out / "loss.png", run_dir / "metrics.jsonl")

    f = format_metric
    t = metrics["train_seconds"]
    m = config.model
    lines = [
        f"# scoremd report: {system.name}",
        "",
        f"Training: {steps_text(config)}" + (f" in {t / 60:.1f} min" if t else "")
        + f"; model {m.kind} ({architecture_text(m)}) "
        f"{list(m.hidden)}; FP weight {config.loss.fp_weight}"
        + (f"; experts at {list(m.expert_boundaries)}" if m.expert_boundaries else "") + wall_text(emulator) + ".",
        f"i.i.d.: {sampler_text(config)}. "
        f"MD: {trajectory.shape[1]} replicas x {trajectory.shape[0]} frames of {md_frame_ps:g} ps "
        f"({config.simulate.integrator} integrator, first {burn} frames discarded), {force_field_text(emulator)}.",
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
    for name, key in [("training data", "data"), ("i.i.d.", "iid"), ("MD", "md"), ("floor (half vs half)", "floor_reference")]:
        r = metrics[key]
        lines.append(f"| {name} | {r['n']} | {f(r['js'])} | {f(r['pmf'])} | {np.mean(r['bond_w1']):.2e} |")
    sf = metrics["floor_iid"]
    lines += [
        "",
        f"i.i.d. sample-size floor: {sf['n']} training frames drawn at random (as many as the i.i.d. "
        f"samples; mean ± sd over {sf['repeats']} draws) score JS {f(sf['js'])} ± {f(sf['js_sd'])}, "
        f"PMF {f(sf['pmf'])} ± {f(sf['pmf_sd'])} against the held-out frames: an exact sampler of the "
        "training distribution with this many samples scores this, so the i.i.d. row cannot be read below it.",
    ]
    pf = metrics["floor_md"]
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
    lines += protocol_lines(metrics["protocols"])
    lines += [
        "",
        "Basin populations: fraction of frames at phi > 0 (the rare alpha_L basin): "
        + ", ".join(f"{k} {v:.1%}" for k, v in metrics["phi_positive"].items()) + ".",
        *_share_by_run_lines(metrics),
        "",
        f"MD share at phi > 0 per block of {metrics['phi_positive_md_blocks']['block_ps']:g} ps of simulated "
        "time (all replicas, from the start): "
        + ", ".join(f"{v:.1%}" for v in metrics["phi_positive_md_blocks"]["share"]) + ".",
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
        *consistency_lines(has_loss),
    ]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return metrics


def _share_by_run_lines(metrics: dict) -> list[str]:
    """The phi > 0 share of each scored reference run, and the model's shares in units of its uncertainty."""
    by_run, share = metrics["phi_positive_runs"], metrics["phi_positive"]
    text = (f"Share at phi > 0 in each of the {by_run['reference']}: "
            + ", ".join(f"run {r} {v:.2%}" for r, v in by_run["runs"].items()) + f"; mean {by_run['mean']:.2%}")
    se = by_run["se"]
    if se == 0:
        text += " (every run the same: no spread over runs to compare with)."
    elif se is not None:
        text += (f" ± {se:.2%} (standard error over runs: the reference's own uncertainty on the share). "
                 + ", ".join(f"{k} {share[k]:.2%} ({(share[k] - by_run['mean']) / se:+.1f} se)"
                             for k in ("training data", "i.i.d.", "MD")) + ".")
    else:
        text += " (one run: no uncertainty over runs)."
    train = metrics.get("phi_positive_training_runs")
    if train and train["se"] and se:
        both = (se ** 2 + train["se"] ** 2) ** 0.5
        text += (f" The training runs hold {train['mean']:.2%} ± {train['se']:.2%} (standard error over its "
                 f"{len(train['runs'])} runs): a model fitted to them inherits that uncertainty. Against the two "
                 f"together (± {both:.2%}): "
                 + ", ".join(f"{k} {(share[k] - by_run['mean']) / both:+.1f}" for k in ("training data", "i.i.d.", "MD"))
                 + " combined standard errors.")
    return ["", text]


def _ns_per_frame(data_dir, system) -> float | None:
    meta = reference_metadata(system, data_dir)
    return meta[0].get("length_ns", 0) / max(meta[0].get("n_frames", 1), 1) if meta else None
