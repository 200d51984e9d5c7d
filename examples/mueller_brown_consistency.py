"""Consistency experiment on Mueller-Brown: the paper's four recipes, several seeds.

Trains "diffusion", "mixture", "fp" and "both" (examples/configs/mueller_brown_*.toml)
for each seed, samples i.i.d. and by Langevin MD (k_BT = 23, m = 0.5, gamma = 1,
dt = 5e-3, a frame every 50 steps), and writes to OUT:

* ``<recipe>_seed<k>/``: each run directory with its report;
* ``results.jsonl``: one line per finished run (rewritten as runs finish);
* ``table.md``: iid JS, sim JS, iid PMF, sim PMF as mean +- std over seeds;
* ``free_energy.png``: the learned free-energy surfaces next to the exact one;
* ``fp_error.png``: the Fokker-Planck residual against diffusion time per recipe.

Re-running resumes: finished runs are skipped, interrupted ones resume from
their checkpoints.

    python examples/mueller_brown_consistency.py --out runs/consistency [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scoremd  # noqa: E402
from scoremd.analysis import evaluate  # noqa: E402

RECIPES = ("diffusion", "mixture", "fp", "both")
CONFIGS = Path(__file__).parent / "configs"


def run_one(recipe: str, seed: int, out: Path, overrides: list[str]) -> dict:
    run_dir = out / f"{recipe}_seed{seed}"
    metrics_path = run_dir / "report" / "metrics.json"
    config = scoremd.load_config(
        CONFIGS / f"mueller_brown_{recipe}.toml",
        [f"train.seed={seed}", f"sample.seed={1000 + seed}", f"simulate.seed={2000 + seed}", *overrides],
    )
    if metrics_path.exists() and (run_dir / "config.toml").exists() and scoremd.load_config(run_dir / "config.toml") == config:
        return json.loads(metrics_path.read_text())
    emulator = scoremd.train(config, run_dir)
    samples = emulator.sample(config.sample.n, key=jax.random.PRNGKey(config.sample.seed), progress=True)
    start = emulator.initial_positions(config.simulate.replicas, seed=config.simulate.seed)
    traj = emulator.simulate(start, config.simulate.frames, key=jax.random.PRNGKey(config.simulate.seed),
                             out=run_dir / "trajectory.npy", progress=True).frames
    np.save(run_dir / "samples.npy", samples)
    return evaluate(emulator, run_dir, samples, traj)


def free_energy_figure(out: Path, runs: dict[str, Path]):
    system = scoremd.get_system("mueller_brown")
    n = 120
    axes = [np.linspace(lo, hi, n) for lo, hi in system.metric_bounds]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 2)
    true = np.asarray(system.energy(mesh)) / system.kbt
    panels = {"exact": true - true.min()}
    for recipe, run_dir in runs.items():
        e = np.asarray(scoremd.load(run_dir).energy(mesh)) / system.kbt
        panels[recipe] = e - e.min()
    fig, axs = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), sharey=True)
    extent = [*system.metric_bounds[0], *system.metric_bounds[1]]
    for ax, (name, f) in zip(np.atleast_1d(axs), panels.items()):
        im = ax.imshow(f.reshape(n, n).T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10)
        ax.set_title(name)
        ax.set_xlabel("x")
    np.atleast_1d(axs)[0].set_ylabel("y")
    fig.colorbar(im, ax=axs, label="free energy at t0 (k_BT)", shrink=0.9)
    fig.savefig(out / "free_energy.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def fp_error_figure(out: Path, results: list[dict], seed: int):
    """The Fokker-Planck residual against t of each recipe (from the runs' reports)."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for r in results:
        if r["seed"] == seed:
            ax.loglog(r["fp_error"]["t"], np.abs(r["fp_error"]["value"]), "o-", ms=3, label=r["recipe"])
    ax.set_xlabel("diffusion time t")
    ax.set_ylabel("Var_x r / D^2 (gauge invariant)")
    ax.set_title(f"Fokker-Planck residual of the learned energy (seed {seed})")
    ax.legend()
    fig.savefig(out / "fp_error.png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def table(results: list[dict]) -> str:
    lines = ["| recipe | seeds | iid JS | sim JS | iid PMF | sim PMF | train min |", "|---|---|---|---|---|---|---|"]
    for recipe in RECIPES:
        rows = [r for r in results if r["recipe"] == recipe]
        if not rows:
            continue

        def cell(key, metric):
            v = np.array([r[key][metric] for r in rows], float)
            return f"{v.mean():.4f} ± {v.std():.4f}"

        minutes = np.mean([r["train_seconds"] or 0 for r in rows]) / 60
        lines.append(f"| {recipe} | {len(rows)} | {cell('iid', 'js')} | {cell('md', 'js')} | "
                     f"{cell('iid', 'pmf')} | {cell('md', 'pmf')} | {minutes:.1f} |")
    floor = results[0]["floor_iid"]
    lines += ["", f"Floor (exact samples, n = {floor['n']}): JS {floor['js']:.4f}, PMF {floor['pmf']:.4f}. "
              "Std over seeds (ddof = 0)."]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/consistency")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override for every recipe, e.g. train.steps=1000")
    parser.add_argument("--table-only", action="store_true",
                        help="only tabulate the runs that have finished (no training)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        for recipe in args.recipes:
            finished = out / f"{recipe}_seed{seed}" / "report" / "metrics.json"
            if args.table_only:
                if not finished.exists():
                    continue
                m = json.loads(finished.read_text())
            else:
                m = run_one(recipe, seed, out, args.set)
            row = {"recipe": recipe, "seed": seed, **m}
            results.append(row)
            (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in results))
            print(f"{recipe} seed {seed}: iid JS {m['iid']['js']:.4f} sim JS {m['md']['js']:.4f} "
                  f"iid PMF {m['iid']['pmf']:.4f} sim PMF {m['md']['pmf']:.4f}", flush=True)
    if not results:
        raise SystemExit(f"no finished runs in {out}")
    (out / "table.md").write_text(table(results))
    fp_error_figure(out, results, args.seeds[0])
    free_energy_figure(out, {r: out / f"{r}_seed{args.seeds[0]}" for r in args.recipes
                             if (out / f"{r}_seed{args.seeds[0]}" / "report" / "metrics.json").exists()})
    print((out / "table.md").read_text())


if __name__ == "__main__":
    main()
