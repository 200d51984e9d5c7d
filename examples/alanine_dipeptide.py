"""Alanine dipeptide (five backbone beads): the paper's recipes side by side.

Trains each recipe of ``examples/configs/alanine_dipeptide_<recipe>.toml`` (CPU
presets; ``--gpu`` picks ``examples/configs/gpu/``), draws i.i.d. samples and
runs Langevin MD with the learned force (CPU presets: 1000 replicas x 0.3 ns,
gamma = 1/ps, dt = 2 fs), evaluates both against the held-out reference MD, and
writes to OUT:

* ``<recipe>/``: each run directory with its report (``<recipe>/report/report.md``);
* ``table.md``: phi/psi JS and PMF of i.i.d. samples and MD, bond W1 and the
  training time, next to the floor of the held-out reference and the floor of
  the MD protocol (reference MD cut into windows like the replicas), and the
  same samples scored against the training frames;
* ``ramachandran.png``: the free-energy surfaces of every recipe's i.i.d. samples
  and MD next to the reference.

Re-running resumes: finished recipes are skipped, interrupted ones resume from
their checkpoints.

    python examples/alanine_dipeptide.py --out runs/aldp [--recipes diffusion fp both] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import scoremd  # noqa: E402
from scoremd.analysis import histogram  # noqa: E402
from scoremd.analysis import held_out_text, md_frames  # noqa: E402
from scoremd.analysis import format_metric  # noqa: E402
from scoremd.app import run  # noqa: E402
from scoremd.storage import atomic_write_text  # noqa: E402
from scoremd.data import load_molecular_data  # noqa: E402
from scoremd.geometry import dihedral_angles  # noqa: E402

RECIPES = ("diffusion", "fp", "both")
CONFIGS = Path(__file__).parent / "configs"


def run_one(recipe: str, out: Path, overrides: list[str], gpu: bool) -> dict:
    run_dir = out / recipe
    config = scoremd.load_config(CONFIGS / ("gpu" if gpu else "") / f"alanine_dipeptide_{recipe}.toml", overrides)
    metrics_path = run_dir / "report" / "metrics.json"
    if metrics_path.exists() and scoremd.load_config(run_dir / "config.toml") == config:
        return json.loads(metrics_path.read_text())
    return run(config, run_dir)


def table(results: dict[str, dict]) -> str:
    f = format_metric
    first = next(iter(results.values()))  # reference rows are the same for every recipe
    floor, data, pf = first["floor_reference"], first["data"], first.get("floor_md")
    lines = [
        "| recipe | iid JS | sim JS | iid PMF | sim PMF | iid bond W1 (nm) | sim bond W1 (nm) | training (min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for recipe, m in results.items():
        t = m.get("train_seconds")
        lines.append(
            f"| {recipe} | {f(m['iid']['js'])} | {f(m['md']['js'])} | {f(m['iid']['pmf'])} | {f(m['md']['pmf'])} | "
            f"{np.mean(m['iid']['bond_w1']):.1e} | {np.mean(m['md']['bond_w1']):.1e} | "
            + (f"{t / 60:.1f} |" if t else "– |")
        )
    lines.append(f"| floor (held-out half vs half) | {f(floor['js'])} | | {f(floor['pmf'])} | | "
                 f"{np.mean(floor['bond_w1']):.1e} | | |")
    lines.append(f"| training data vs held-out | {f(data['js'])} | | {f(data['pmf'])} | | "
                 f"{np.mean(data['bond_w1']):.1e} | | |")
    sf = first.get("floor_iid")
    if sf:
        lines.append(f"| i.i.d. sample-size floor ({sf['n']} training frames, mean ± sd) | {f(sf['js'])} ± "
                     f"{f(sf['js_sd'])} | | {f(sf['pmf'])} ± {f(sf['pmf_sd'])} | | | | |")
    if pf:
        lines.append(f"| MD protocol floor ({pf['replicas']} reference windows, mean ± sd) | | "
                     f"{f(pf['js'])} ± {f(pf['js_sd'])} | | {f(pf['pmf'])} ± {f(pf['pmf_sd'])} | | | |")
    if all("iid_vs_train" in m for m in results.values()):
        lines += ["", "Against the training frames (what each model was fitted to):", "",
                  "| recipe | iid JS | sim JS | iid PMF | sim PMF |", "|---|---|---|---|---|"]
        lines += [f"| {recipe} | {f(m['iid_vs_train']['js'])} | {f(m['md_vs_train']['js'])} | "
                  f"{f(m['iid_vs_train']['pmf'])} | {f(m['md_vs_train']['pmf'])} |" for recipe, m in results.items()]
        if pf:
            lines.append(f"| MD protocol floor | | {f(pf['js_vs_train'])} ± {f(pf['js_vs_train_sd'])} | | |")
    ref = first["reference"]
    lines += ["", f"Held-out reference: {ref['n_validation']} frames ({held_out_text(ref)}); "
              f"training: {ref['n_train']} frames."]
    return "\n".join(lines) + "\n"


def ramachandran_figure(path: Path, out: Path, recipes: list[str]):
    system = scoremd.get_system("alanine_dipeptide")
    config = scoremd.load_config(out / recipes[0] / "config.toml")
    data = load_molecular_data(system, config.data.dir, config.data.held_out)
    panels = [("held-out reference", data.positions[data.validation])]
    for recipe in recipes:
        traj = np.load(out / recipe / "trajectory.npy", mmap_mode="r")
        burn = scoremd.load_config(out / recipe / "config.toml").simulate.burn_in_frames
        panels += [(f"{recipe}: i.i.d.", np.load(out / recipe / "samples.npy")),
                   (f"{recipe}: MD", md_frames(traj, burn))]
    cols = 1 + 2 * len(recipes)
    fig, axes = plt.subplots(1, cols, figsize=(3.0 * cols, 3.2), sharey=True)
    for ax, (name, x) in zip(axes, panels):
        with np.errstate(divide="ignore"):
            f = -np.log(histogram(dihedral_angles(x, system.dihedrals), system.metric_bounds, 64))
        ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi],
                  vmin=0, vmax=8, cmap="viridis")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("phi")
    axes[0].set_ylabel("psi")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/aldp")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--gpu", action="store_true", help="use the paper-sized presets in examples/configs/gpu/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every recipe")
    args = parser.parse_args()
    out = Path(args.out)
    results = {}
    for recipe in args.recipes:
        results[recipe] = run_one(recipe, out, args.set, args.gpu)
        atomic_write_text(out / "table.md", table(results))
        print(table(results), flush=True)
    ramachandran_figure(out / "ramachandran.png", out, args.recipes)
    print(f"wrote {out / 'table.md'} and {out / 'ramachandran.png'}")


if __name__ == "__main__":
    main()
