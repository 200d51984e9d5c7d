"""In which range of diffusion times does a trained model's i.i.d. sampler move basin weight?

Reference frames are diffused to a time t0 and sampled back with the run's own sampler
(scoremd.diffusion.regenerate); with an exact score every t0 returns the frames' basin share.
The basin: folded (Q > 0.8) for the C-alpha proteins, phi > 0 (alpha_L) for the dipeptides.
Frames: the run's held-out (validation) frames, or the test runs with --reference test; for a
transferable dipeptide run, the reference MD of the peptide given by --peptide.

    scoremd run examples/configs/chignolin_both.toml --out runs/chignolin_both
    python examples/basin_by_time.py runs/chignolin_both --t0 0.05,0.1,0.2,0.3,1.0
    python examples/basin_by_time.py runs/dipeptides_both --peptide LL
    python examples/basin_by_time.py runs/bba/diffusion_seed0 --method sde --t0 0.01,0.03,0.1,1.0 --frames 2000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import mdtraj
import numpy as np

import scoremd
from scoremd.analysis import phi_positive
from scoremd.data import load_molecular_data
from scoremd.data.peptide_frames import load_peptide
from scoremd.geometry import fraction_native_contacts, native_contacts


def basin_indicator(system):
    """(name, function frames (N, n, 3) nm -> share of frames in the basin)."""
    if system.is_protein:
        native = mdtraj.load(system.structure).xyz[0].astype(np.float64)
        pairs, r0 = native_contacts(native, system.native_contact_cutoff)
        return "folded (Q > 0.8)", lambda x: float(np.mean(fraction_native_contacts(x, pairs, r0) > 0.8))
    if system.dihedrals:
        return "phi > 0", lambda x: phi_positive(system, x)
    raise SystemExit(f"{system.name}: no basin defined (needs a C-alpha protein or a phi dihedral)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a trained run directory (scoremd train / run)")
    parser.add_argument("--t0", default="0.05,0.1,0.2,0.3,0.6,1.0", help="diffusion times to start from")
    parser.add_argument("--frames", type=int, default=20_000, help="reference frames drawn at random")
    parser.add_argument("--reference", choices=("validation", "test"), default="validation")
    parser.add_argument("--peptide", default=None, help="the dipeptide (transferable runs only), e.g. LL")
    parser.add_argument("--method", choices=("sde", "ode", "smc"), default=None,
                        help="sampler (default: the run's sample.method); e.g. sde to see the score alone "
                             "when the run samples by smc")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the run's sample.steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    try:
        t0s = [float(v) for v in args.t0.split(",")]
    except ValueError:
        raise SystemExit(f"--t0 must be comma-separated numbers in (0, 1], got {args.t0!r}") from None

    em = scoremd.load(args.run)
    transferable = hasattr(em, "peptides")
    if transferable != (args.peptide is not None):
        raise SystemExit(f"--peptide is for transferable dipeptide runs, and they need it ({args.run} is "
                         f"{'one' if transferable else 'not one'})")
    if transferable:
        data_dir, seen = Path(em.config.data.dir) / em.system.name, args.peptide.upper() in em.peptides
        em = em.peptide(args.peptide)
        args.reference = f"{em.system.name} reference MD ({'a training' if seen else 'a held-out'} peptide)"
    system, config = em.system, em.config
    if not em.is_molecular:
        raise SystemExit(f"{system.name} is not a molecule; this diagnostic needs reference frames")
    name, share = basin_indicator(system)
    if transferable:
        frames = load_peptide(data_dir, args.peptide).positions
    elif args.reference == "test":
        frames = load_molecular_data(system, config.data.dir, runs=system.test_runs).positions
    else:
        data = load_molecular_data(system, config.data.dir, config.data.held_out)
        frames = data.positions[data.validation]
    rng = np.random.default_rng(args.seed)
    frames = frames[rng.choice(len(frames), min(args.frames, len(frames)), replace=False)]
    base = share(frames)
    se = np.sqrt(base * (1 - base) / len(frames))
    sampler = em.sampler(method=args.method, steps=args.steps)
    print(f"{system.name}, {args.run}: {name} of {len(frames)} {args.reference} frames {base:.4f} "
          f"(binomial sd of one draw of this size {se:.4f}); sampler {sampler}")
    print(f"{'t0':>6s} {'share':>8s} {'change':>8s}")
    results = {"frames": len(frames), "reference": args.reference, "basin": name, "share_frames": base, "t0": {}}
    for i, t0 in enumerate(t0s):
        x = em.regenerate(frames, t0, key=jax.random.PRNGKey(args.seed + 1 + i), sampler=sampler)
        s = share(x)
        results["t0"][str(t0)] = s
        print(f"{t0:6.3f} {s:8.4f} {s - base:+8.4f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
