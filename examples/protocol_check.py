"""Does another MD protocol sample alanine dipeptide's phi/psi like the shipped reference?

Compares every run of a candidate reference (e.g. hydrogen mass repartitioning with 4-fs
steps) with the shipped 1-us reference (runs 00-03: 2 fs, H-bond constraints, natural
masses), beside the reference's own floor: the reference runs are cut into chunks as long as
the candidate run, and each chunk and the candidate are compared with the rest of the
reference (scoremd.analysis.protocol_floor; JS in nats, PMF error in k_BT^2).

    scoremd data generate alanine_dipeptide --out runs/hmr/alanine_dipeptide --runs 1 --ns 100 \\
        --dt 0.004 --constraints hbonds --hydrogen-mass 3
    python examples/protocol_check.py --candidate runs/hmr
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from scoremd.analysis import phi_positive, protocol_floor
from scoremd.data import load_molecular_data
from scoremd.systems import ALANINE_DIPEPTIDE

ROOT = Path(__file__).parents[1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", required=True, help="folder holding alanine_dipeptide/run_XX of the candidate")
    parser.add_argument("--data", default=str(ROOT / "data"), help="folder holding the shipped reference")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    system = ALANINE_DIPEPTIDE
    reference = load_molecular_data(system, args.data, runs=(0, 1, 2, 3))
    ref_runs = [reference.positions[reference.run_index == r] for r in np.unique(reference.run_index)]
    candidate = load_molecular_data(system, args.candidate, runs=None)
    results = {}
    print(f"reference: {len(ref_runs)} runs, {sum(map(len, ref_runs)) / 1000:.0f} ns, phi > 0 share "
          f"{phi_positive(system, reference.positions):.4f}")
    print(f"{'run':>4s} {'ns':>6s} {'chunks':>6s} {'JS':>8s} {'floor (sd, max)':>24s} {'PMF':>7s} "
          f"{'floor (sd, max)':>22s} {'phi>0':>6s} {'chunks phi>0':>14s}")
    for r in np.unique(candidate.run_index):
        x = candidate.positions[candidate.run_index == r]
        m = protocol_floor(system, x, ref_runs)
        results[int(r)] = m
        share = m["floor_phi_positive"]
        print(f"{int(r):4d} {len(x) / 1000:6.0f} {m['n_chunks']:6d} {m['js']:8.4f} "
              f"{m['floor_js']:8.4f} ({m['floor_js_sd']:.4f}, {m['floor_js_max']:.4f}) {m['pmf']:7.3f} "
              f"{m['floor_pmf']:7.3f} ({m['floor_pmf_sd']:.3f}, {m['floor_pmf_max']:.3f}) "
              f"{m['phi_positive']:6.3f} {min(share):6.3f}-{max(share):.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
