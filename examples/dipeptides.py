"""Transferable dipeptides: one model trained on many dipeptides, evaluated on test peptides it never saw.

Trains (or resumes) the transferable model of a recipe's CPU preset (``--recipe diffusion``,
``fp`` or ``both``, the default; or any ``--config``) on its training peptides
(``data.peptides``, the training pool only), then for every evaluation peptide that has
reference MD in ``data/dipeptides`` draws i.i.d. samples, runs Langevin MD from i.i.d.
starts, and compares both with the peptide's reference in the paper's protocol (m <= 50 000
frames) and with large samples, each number next to its floor (docs/metrics.md). Writes
``OUT/report/dipeptides.md`` (tables, mean ± sd over peptides), ``dipeptides.json`` and
``ramachandran.png`` (reference / i.i.d. / MD for every test peptide).

The reference data come from ``scoremd data generate dipeptides`` (docs/data/dipeptides.md).

    python examples/dipeptides.py --out runs/dipeptides_both
    python examples/dipeptides.py --recipe diffusion --out runs/dipeptides_diffusion   # also: --recipe fp
    python examples/dipeptides.py --out runs/dp --set train.steps=2000 --peptides KS,AT --n-iid 5000
    python examples/dipeptides.py --out runs/dipeptides_both --peptides TM,NA,NV,MQ,LA,MR,GD --report validation_report
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

import scoremd
from scoremd.analysis.dipeptides import evaluate_dipeptides
from scoremd.data.dipeptides import resolve_peptides
from scoremd.data.peptide_frames import available_peptides

CONFIGS = Path(__file__).parent / "configs"
RECIPES = ("diffusion", "fp", "both")


def config_path(recipe: str) -> Path:
    """The CPU preset of a recipe: ``examples/configs/dipeptides_<recipe>.toml``."""
    return CONFIGS / f"dipeptides_{recipe}.toml"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=RECIPES, default=None,
                        help="CPU preset examples/configs/dipeptides_<recipe>.toml (default both)")
    parser.add_argument("--config", default=None, help="any other config file (instead of --recipe)")
    parser.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--peptides", default="evaluation", help="test peptides to evaluate (default: evaluation)")
    parser.add_argument("--n-iid", type=int, default=None, help="i.i.d. samples per peptide (default sample.n)")
    parser.add_argument("--replicas", type=int, default=None, help="MD replicas per peptide (default simulate.replicas)")
    parser.add_argument("--frames", type=int, default=None, help="MD frames per replica (default simulate.frames)")
    parser.add_argument("--report", default="report", help="report folder inside --out (default report); e.g. "
                        "validation_report for validation peptides")
    args = parser.parse_args(argv)
    if args.recipe and args.config:
        parser.error("give --recipe or --config, not both")

    config = scoremd.load_config(args.config or config_path(args.recipe or "both"), args.set)
    emulator = scoremd.train(config, args.out)
    folder = Path(config.data.dir) / emulator.system.name
    wanted = resolve_peptides(args.peptides)
    have = set(available_peptides(folder))
    peptides = [p for p in wanted if p in have]
    if not peptides:
        raise SystemExit(f"none of {', '.join(wanted)} has reference MD in {folder}; make it with "
                         f"`scoremd data generate dipeptides --peptides {args.peptides} --ns 100 --out {folder}`")
    skipped = [p for p in wanted if p not in have]
    if skipped:
        print(f"no reference yet for {', '.join(skipped)}: not evaluated")
    results = evaluate_dipeptides(
        emulator, peptides, data_dir=config.data.dir, n_iid=args.n_iid or config.sample.n,
        replicas=args.replicas or config.simulate.replicas, frames=args.frames or config.simulate.frames,
        burn_in_frames=config.simulate.burn_in_frames, key=jax.random.PRNGKey(config.sample.seed),
        out_dir=Path(args.out) / args.report)
    print((Path(args.out) / args.report / "dipeptides.md").read_text())
    print(f"{len(results)} peptides evaluated; report in {Path(args.out) / args.report}")


if __name__ == "__main__":
    main()
