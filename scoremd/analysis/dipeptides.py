"""Evaluation of the transferable dipeptide model on held-out test peptides (docs/metrics.md).

For every test peptide the model draws i.i.d. samples and runs Langevin MD (from
i.i.d. samples: the model has never seen the peptide), and both are compared with
the peptide's reference MD: phi/psi JS and PMF error (64 x 64 bins), the share of
frames at phi > 0, the share of frames whose C-alphas are L-handed (chirality), and the
Wasserstein-1 distance of every CG bond length. MD replicas
that diverged are left out of the metrics (all their frames) and counted in the report.

Like with like: each comparison uses m model frames against m reference frames,
and its floor is the same metric between the two halves (in time) of the
reference, m frames each, so that a number and its floor have the same sample
sizes. The paper's protocol caps m at 50 000; ``m = None`` uses as many as the
reference's halves hold (large samples). With a short reference the two halves are
correlated in time and each holds few basin visits, so the floor is then a rough scale
rather than a lower bound: a model can score below it. Units: nm, radians; metrics as
defined in docs/metrics.md.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from ._molecular_metrics import bond_w1, dihedral_metrics, phi_positive

__all__ = ["PeptideResult", "compare_like_with_like", "evaluate_dipeptides", "l_chirality_share", "report_markdown",
           "summarise"]


def l_chirality_share(sequence: str, x: np.ndarray) -> float | None:
    """Share of frames whose every C-alpha with a side chain (not glycine) is L-handed.

    x: (N, 10, 3) slots (N, CA, CB, C, O per residue), nm. L means (N - CA) x (C - CA) . (CB - CA) > 0.
    None for a peptide without a chiral centre (GG).
    """
    residues = [r for r, aa in enumerate(str(sequence).upper()) if aa != "G"]
    if not residues:
        return None
    x = np.asarray(x, np.float64)
    ok = np.ones(len(x), bool)
    for r in residues:
        n, ca, cb, c = (x[:, 5 * r + k] for k in (0, 1, 2, 3))
        ok &= np.einsum("ij,ij->i", np.cross(n - ca, c - ca), cb - ca) > 0
    return float(ok.mean())


def _draw(x: np.ndarray, m: int, rng) -> np.ndarray:
    return x if len(x) <= m else x[np.sort(rng.choice(len(x), m, replace=False))]


def compare_like_with_like(system, model_frames: np.ndarray, reference: np.ndarray, m: int | None,
                           *, seed: int = 0) -> dict:
    """Metrics of model frames against the reference and their floor, at the same sizes.

    The reference (N, 10, 3) is cut into its first and second half in time (A, B); with
    m' = min(m, |A|, |B|, |model|), the model's m' frames are compared with m' frames of B,
    and the floor is m' frames of A against the same m' frames of B.

    Returns:
      ``{"n": m', "js", "pmf", "phi_positive", "l_share" (:func:`l_chirality_share`), "bond_w1" (nm,
      max over bonds), "floor_js", "floor_pmf", "floor_bond_w1"}``.
    """
    rng = np.random.default_rng(seed)
    half = len(reference) // 2
    a, b = reference[:half], reference[half:2 * half]
    n = min(len(a), len(model_frames), m or len(a))
    a, b, x = _draw(a, n, rng), _draw(b, n, rng), _draw(model_frames, n, rng)
    got, floor = dihedral_metrics(system, x, b), dihedral_metrics(system, a, b)
    return {
        "n": int(n), "js": got["js"], "pmf": got["pmf"], "phi_positive": phi_positive(system, x),
        "l_share": l_chirality_share(system.structure, x),
        "bond_w1": float(np.max(bond_w1(system, x, b))), "floor_js": floor["js"], "floor_pmf": floor["pmf"],
        "floor_bond_w1": float(np.max(bond_w1(system, a, b))),
    }


@dataclasses.dataclass(frozen=True)
class PeptideResult:
    """One test peptide's evaluation: ``iid`` and ``md`` each hold one :func:`compare_like_with_like`
    dict per protocol (``"paper"``, ``"large"``; ``md`` is empty when every replica diverged);
    ``reference_ns`` and ``reference_phi_positive`` describe the reference; ``md_diverged`` of
    ``md_replicas`` MD replicas diverged (left out), ``iid_nonfinite`` i.i.d. samples were not finite
    (left out); ``seen_in_training``: the peptide is one of the model's training peptides (then it
    is not a held-out test)."""

    sequence: str
    reference_ns: float
    reference_phi_positive: float
    iid: dict
    md: dict
    md_replicas: int = 0
    md_diverged: int = 0
    seen_in_training: bool = False
    iid_nonfinite: int = 0


def evaluate_dipeptides(emulator, peptides, *, data_dir: str | Path, n_iid: int, replicas: int, frames: int,
                        burn_in_frames: int = 0, key: jax.Array, paper_m: int = 50_000,
                        out_dir: str | Path | None = None, progress=True) -> list[PeptideResult]:
    """Sample and simulate every peptide and compare with its reference (see the module docstring).

    Args:
      emulator: a :class:`~scoremd.app.transferable.TransferableEmulator`.
      peptides: test peptides with reference runs in ``data_dir/dipeptides``.
      n_iid: i.i.d. samples per peptide.
      replicas, frames, burn_in_frames: MD per peptide (system's dt and frame interval), started
        from i.i.d. samples; the first ``burn_in_frames`` of each replica are discarded.
      key: PRNG key (split per peptide).
      paper_m: the paper protocol's sample size (50 000).
      out_dir: if given, writes ``dipeptides.json``, ``dipeptides.md`` and ``ramachandran.png`` there.
    """
    from .._progress import progress_bar
    from ..data.peptide_frames import load_peptide

    if not 0 <= burn_in_frames < frames:
        raise ValueError(f"burn_in_frames ({burn_in_frames}) must lie in [0, frames = {frames})")
    folder = Path(data_dir) / emulator.system.name
    results, sets = [], {}
    bar = progress_bar(progress, len(peptides), "evaluate dipeptides", unit="peptide")
    for seq, k in zip(peptides, jax.random.split(key, len(peptides))):
        ref = load_peptide(folder, seq)
        em = emulator.peptide(seq)
        system = em.system
        k_iid, k_start, k_md = jax.random.split(k, 3)
        iid = np.asarray(em.sample(n_iid, key=k_iid))
        finite = np.isfinite(iid).all(axis=(1, 2))
        # MD starts from i.i.d. samples: the first ones already drawn (no second compilation of the sampler)
        starts = iid[finite][:replicas] if finite.sum() >= replicas else em.sample(replicas, key=k_start)
        traj = em.simulate(starts, frames, key=k_md, throw=False)
        kept = ~np.asarray(traj.diverged)  # a diverged replica is left out whole, not just its non-finite frames
        md = np.asarray(traj.frames[burn_in_frames:, kept]).reshape(-1, 10, 3)
        beads = {"reference": ref.positions, "i.i.d.": iid[finite], "MD": md}
        row = {}
        for name in ("i.i.d.", "MD"):
            row[name] = {} if len(beads[name]) == 0 else {
                p: compare_like_with_like(system, beads[name], ref.positions, m)
                for p, m in (("paper", paper_m), ("large", None))}
        results.append(PeptideResult(seq, len(ref.positions) * ref.frame_ps / 1000,
                                     phi_positive(system, ref.positions), row["i.i.d."], row["MD"],
                                     md_replicas=int(len(kept)), md_diverged=int((~kept).sum()),
                                     iid_nonfinite=int((~finite).sum()),
                                     seen_in_training=seq in tuple(getattr(emulator, "peptides", ()))))
        sets[seq] = beads
        bar.update(1)
    bar.close()
    if out_dir is not None:
        _write(Path(out_dir), emulator, results, sets)
    return results


def summarise(results: list[PeptideResult], protocol: str) -> dict:
    """Mean and standard deviation over peptides of every metric of one protocol."""
    out = {}
    for kind in ("iid", "md"):
        rows = [getattr(r, kind)[protocol] for r in results if getattr(r, kind)]
        for metric in ("js", "pmf", "floor_js", "floor_pmf", "bond_w1", "floor_bond_w1"):
            v = np.array([row[metric] for row in rows if row[metric] is not None], float)
            out[f"{kind}_{metric}"] = (float(v.mean()), float(v.std())) if len(v) else (None, None)
    return out


def _write(out: Path, emulator, results, sets) -> None:
    from ._plots import plot_ramachandran_grid

    out.mkdir(parents=True, exist_ok=True)
    (out / "dipeptides.json").write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=2) + "\n")
    (out / "dipeptides.md").write_text(report_markdown(results))
    plot_ramachandran_grid(out / "ramachandran.png", {r.sequence: emulator.system.peptide(r.sequence) for r in results},
                           sets)


def report_markdown(results: list[PeptideResult]) -> str:
    """The report's text: a table per protocol and the mean ± sd over the held-out peptides, over all of
    them and separately for the peptides with and without a glycine."""
    seen = [r.sequence for r in results if r.seen_in_training]
    lines = ["# Transferable dipeptides: held-out test peptides", "",
             "Each number is m model frames against m frames of the second half (in time) of the peptide's "
             "reference; its floor (in brackets) is the first half against the same m frames (docs/metrics.md). "
             "With a short reference the halves are correlated and hold few basin visits: the floor is then a "
             "rough scale, not a lower bound. MD: replicas started from i.i.d. samples; diverged replicas are "
             "left out whole. Bond W1: the largest Wasserstein-1 distance over the CG bonds (nm). L-handed: the "
             "share of frames whose C-alphas (not glycine) have L chirality (the reference: 1).", ""]
    if seen:
        lines += [f"Marked *: training peptides of this model, not held out ({', '.join(seen)}); the means "
                  "leave them out.", ""]
    held_out = [r for r in results if not r.seen_in_training]
    groups = [("held-out peptides", held_out)]
    with_g = [r for r in held_out if "G" in r.sequence]
    if with_g and len(with_g) < len(held_out):
        groups += [("held-out peptides without glycine", [r for r in held_out if "G" not in r.sequence]),
                   (f"held-out glycine peptides ({', '.join(r.sequence for r in with_g)})", with_g)]
    for protocol, title in (("paper", "paper protocol (m <= 50 000)"), ("large", "large samples (m = half the reference)")):
        lines += [f"## {title}", "",
                  "| peptide | ref. (ns) | m i.i.d. / MD | i.i.d. JS [floor] | MD JS [floor] | i.i.d. PMF [floor] "
                  "| MD PMF [floor] | bond W1 i.i.d. / MD [floor] | phi>0 ref / i.i.d. / MD | L-handed i.i.d. / MD "
                  "| MD diverged |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            empty = dict.fromkeys(("n", "js", "floor_js", "pmf", "floor_pmf", "bond_w1", "floor_bond_w1",
                                   "phi_positive", "l_share"))
            i, m = r.iid.get(protocol, empty), r.md.get(protocol, empty)
            lines.append(f"| {r.sequence}{' *' if r.seen_in_training else ''} | {r.reference_ns:.1f} | {_i(i['n'])} / "
                         f"{_i(m['n'])} | {_f(i['js'], 4)} [{_f(i['floor_js'], 4)}] | {_f(m['js'], 4)} "
                         f"[{_f(m['floor_js'], 4)}] | {_f(i['pmf'])} [{_f(i['floor_pmf'])}] | {_f(m['pmf'])} "
                         f"[{_f(m['floor_pmf'])}] | {_f(i['bond_w1'], 4)} / {_f(m['bond_w1'], 4)} "
                         f"[{_f(i['floor_bond_w1'], 4)}] | {r.reference_phi_positive:.3f} / {_f(i['phi_positive'])} / "
                         f"{_f(m['phi_positive'])} | {_f(i.get('l_share'))} / {_f(m.get('l_share'))} | "
                         f"{r.md_diverged} / {r.md_replicas} |")
        lines.append("")
        for name, group in groups:
            if not group:
                continue
            s = summarise(group, protocol)
            lines += [f"Mean ± sd over {len(group)} {name} (m differs between peptides): i.i.d. JS "
                      f"{_ms(s['iid_js'])} (floor {_ms(s['iid_floor_js'])}), MD JS {_ms(s['md_js'])} (floor "
                      f"{_ms(s['md_floor_js'])}); i.i.d. PMF {_ms(s['iid_pmf'])} (floor {_ms(s['iid_floor_pmf'])}), "
                      f"MD PMF {_ms(s['md_pmf'])} (floor {_ms(s['md_floor_pmf'])}); bond W1 i.i.d. "
                      f"{_ms(s['iid_bond_w1'])}, MD {_ms(s['md_bond_w1'])} (floor {_ms(s['iid_floor_bond_w1'])}) nm.",
                      ""]
    lines += ["![Ramachandran plots](ramachandran.png)", ""]
    return "\n".join(lines)


def _f(v, digits: int = 3) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _i(v) -> str:
    return "n/a" if v is None else str(v)


def _ms(pair) -> str:
    return "n/a" if pair[0] is None else f"{pair[0]:.4f} ± {pair[1]:.4f}"
