"""Fast folders (C-alpha chignolin and BBA): recipes "diffusion", "fp" and "both", several seeds each.

For each protein and recipe of ``examples/configs/<protein>_<recipe>.toml`` (by default every
recipe that has a config for the protein: chignolin diffusion, fp and both, BBA diffusion and
both) and each seed,
trains (or resumes), draws i.i.d. samples, runs Langevin MD with the learned force and
writes the protein report (TICA with deeptime, pair distances, Q, transitions) against the
held-out runs, or with ``--reference test`` against the test runs. Then writes
``OUT/<protein>/table.md``: mean ± sd over seeds of TIC JS and PMF, distance JS and the
folded share of i.i.d. samples and MD, next to the floor (half of the reference against the
other half) and the reference's own folded share.

The reference is the shipped structure-based surrogate (docs/data/fast_folders.md). With D. E.
Shaw Research trajectories, pass their paths with --set (nothing else changes), e.g.

    python examples/fast_folders.py --protein chignolin --out runs/ff \\
        --set "data.trajectories=['DESRES/CLN025-0-protein-*.dcd']" \\
        --set data.topology=DESRES/CLN025-0-protein.pdb --set data.frame_ps=200

    python examples/fast_folders.py --protein chignolin --out runs/ff [--recipes diffusion fp both] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import scoremd
from scoremd.analysis import format_metric
from scoremd.app import run
from scoremd.storage import atomic_write_text

CONFIGS = Path(__file__).parent / "configs"
RECIPES = ("diffusion", "fp", "both")


def config_path(protein: str, recipe: str) -> Path:
    """The preset of a protein and recipe: ``examples/configs/<protein>_<recipe>.toml``."""
    return CONFIGS / f"{protein}_{recipe}.toml"


def recipes_of(protein: str) -> list[str]:
    """The recipes with a preset for ``protein``, in table order."""
    return [r for r in RECIPES if config_path(protein, r).exists()]


def run_one(protein: str, recipe: str, seed: int, out: Path, overrides: list[str], reference: str) -> dict:
    run_dir = out / protein / f"{recipe}_seed{seed}"
    sets = [*overrides, f"train.seed={seed}", f"sample.seed={1000 + seed}", f"simulate.seed={2000 + seed}"]
    config = scoremd.load_config(config_path(protein, recipe), sets)
    metrics_path = run_dir / "report" / "metrics.json"
    if metrics_path.exists() and scoremd.load_config(run_dir / "config.toml") == config:
        metrics = json.loads(metrics_path.read_text())
        if metrics.get("reference", {}).get("against") == reference:
            return metrics
    return run(config, run_dir, reference=reference)


def _mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{format_metric(v.mean())} ± {format_metric(v.std())}"


def table(results: dict[str, list[dict]], failures: list[str] = ()) -> str:
    done = [runs for runs in results.values() if runs]
    if not done:
        return "No run finished:\n\n" + "\n".join(f"- {f}" for f in failures) + "\n"
    first = done[0][0]
    floor, ref = first["floor_reference"], first["reference"]
    lines = [
        "| recipe | seeds | iid TIC JS | MD TIC JS | iid TIC PMF | MD TIC PMF | iid distance JS | MD distance JS | "
        "iid folded | MD folded | iid Q JS | MD Q JS | iid RMSD JS | MD RMSD JS | MD broken replicas | "
        "MD clashing frames | MD transitions/µs | training (min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for recipe, runs in results.items():
        if not runs:
            lines.append(f"| {recipe} | 0 | every seed's MD diverged (below) |" + " |" * 15)
            continue

        def col(key, field):
            return _mean_sd([m[key].get(field, np.nan) for m in runs])

        minutes = [m["train_seconds"] / 60 for m in runs if m.get("train_seconds")]
        lines.append(
            f"| {recipe} | {len(runs)} | {col('iid', 'js')} | {col('md', 'js')} | {col('iid', 'pmf')} | "
            f"{col('md', 'pmf')} | {col('iid', 'distance_js')} | {col('md', 'distance_js')} | "
            f"{_mean_sd([m['iid']['folded'] for m in runs])} | {_mean_sd([m['md']['folded'] for m in runs])} | "
            f"{col('iid', 'q_js')} | {col('md', 'q_js')} | "
            f"{col('iid', 'rmsd_js')} | {col('md', 'rmsd_js')} | {col('md', 'broken_replicas')} | "
            f"{col('md', 'clash')} | "
            f"{_mean_sd([m['md']['transitions_per_us'] for m in runs])} | "
            + (f"{np.mean(minutes):.1f} |" if minutes else "– |"))
    lines += [
        f"| floor (reference half vs half) | | {format_metric(floor['js'])} | | {format_metric(floor['pmf'])} | | "
        f"{format_metric(floor['distance_js'])} | | {floor['folded']:.3f} | | "
        f"{format_metric(floor.get('q_js', np.nan))} | | "
        f"{format_metric(floor.get('rmsd_js', np.nan))} | | | | | |",
        "",
        f"Reference ({ref['against']}, {ref['n']} frames): folded share {ref['folded']:.3f}, "
        f"{ref['transitions_per_us']:.0f} transitions per µs; TICA lag {ref['tica_lag_ps']:g} ps. "
        "Mean ± sd (ddof = 0) over seeds. MD broken replicas: the share of replicas that reached a "
        "C-alpha chain outside the training data's bond range; MD clashing frames: the share of frames "
        "with a non-bonded pair closer than any training frame has it (docs/metrics.md).",
    ]
    if failures:  # a diverged MD stops that seed, not the table
        lines += ["", "Not in the table (the seed's MD diverged; its run directory keeps the model and samples):", "",
                  *(f"- {f}" for f in failures)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protein", choices=["chignolin", "bba"], required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipes", nargs="+", default=None,
                        help="recipes to run (default: every one with a config for the protein)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--reference", choices=["validation", "test"], default="validation")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    available = recipes_of(args.protein)
    recipes = list(dict.fromkeys(args.recipes or available))  # each once, in the order given
    missing = [r for r in recipes if not config_path(args.protein, r).exists()]
    if missing:
        parser.error(f"no config for {args.protein} recipe(s) {', '.join(missing)} in {CONFIGS}; "
                     f"{args.protein} has: {', '.join(available)}")
    args.recipes = recipes
    out = Path(args.out)
    results: dict[str, list[dict]] = {r: [] for r in args.recipes}
    failures = []
    for recipe in args.recipes:
        for seed in args.seeds:
            try:
                results[recipe].append(run_one(args.protein, recipe, seed, out, args.set, args.reference))
            except scoremd.SimulationDivergedError as e:
                failures.append(f"{recipe}, seed {seed}: {e}")
                print(f"{recipe} seed {seed}: MD diverged, going on with the next run ({e})")
    text = table(results, failures)
    atomic_write_text(out / args.protein / "table.md", text)
    print(text)


if __name__ == "__main__":
    main()
