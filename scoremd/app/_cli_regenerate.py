"""``scoremd regenerate``: where in diffusion time a model loses a basin's weight.

    scoremd regenerate RUN_DIR [--t0 0.05,0.1,0.2,0.35,0.6,1] [--n 40000] [--peptide SEQ] [--out FILE.json]

Training frames diffused to each t0 and sampled back with the learned score
(:func:`scoremd.analysis._regeneration.regeneration_profile`); the table, a JSON file and a plot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._errors import ScoremdError
from ..storage import atomic_write_text
from . import _cli_io as files
from . import _cli_types as types


def _t0_list(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated diffusion times, e.g. 0.1,0.3,1; got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one diffusion time")
    return values


def add_parser(sub) -> argparse.ArgumentParser:
    """Add ``regenerate`` to the ``scoremd`` sub-commands; the caller adds the sampling options."""
    p = sub.add_parser("regenerate", help="where in diffusion time the model loses a basin's weight: training "
                                          "frames diffused to t0 and sampled back, their basin share against t0")
    p.add_argument("run_dir")
    p.add_argument("--t0", type=_t0_list, default=None,
                   help="comma-separated diffusion times in [t_min, 1] (default: 0.05,0.1,0.2,0.35,0.6,1; "
                        "1 is i.i.d. sampling)")
    p.add_argument("--n", type=types.count, default=40_000,
                   help="training frames drawn at random, regenerated from every t0 (default 40000: the "
                        "binomial standard error of a 3 %% share is then 0.09 percentage points)")
    p.add_argument("--out", default=None, help="JSON file (default RUN_DIR/report/regeneration.json); a PNG beside it")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--seed", type=types.seed, default=None)
    p.add_argument("--peptide", default=None, help="transferable dipeptide models: the dipeptide, e.g. GN")
    return p


def regenerate(args, load) -> dict:
    """Training frames diffused to each t0 and sampled back: their basin share against t0.

    ``load()`` gives the run's emulator (one dipeptide's for ``--peptide``), called once
    ``--out`` has been checked. Writes ``RUN_DIR/report/regeneration[_PEPTIDE].json`` and
    ``.png`` (or ``--out`` and the PNG beside it) and prints the table."""
    import jax
    from tqdm.auto import tqdm

    from ..analysis._plots import plot_regeneration
    from ..analysis._regeneration import DEFAULT_T0, basin_statistic, regeneration_profile

    suffix = f"_{args.peptide}" if getattr(args, "peptide", None) else ""
    if args.out:  # the report's own file is rewritten like the rest of report/; a named one is not
        out = files.out_path(args.out, args.overwrite, {".json": (".json", ".png")}, "the profile (JSON, a PNG beside it)")
    else:
        out = Path(args.run_dir) / "report" / f"regeneration{suffix}.json"
    emulator = load()
    try:
        basin_statistic(emulator.system)
    except ValueError as err:
        raise ScoremdError(str(err)) from None
    t0s = DEFAULT_T0 if args.t0 is None else tuple(args.t0)
    t_min = float(emulator.model.sde.t_min)
    bad = [t for t in t0s if not t_min <= t <= 1.0]
    if bad:
        raise ScoremdError(f"--t0 values must lie in [t_min = {t_min:g}, 1]; got {bad}")
    files.check_size(emulator, args.n, f"{args.n} frames")
    seed = emulator.config.sample.seed if args.seed is None else args.seed
    frames = emulator.initial_positions(args.n, seed=seed)
    sampler = emulator.sampler(method=args.method, steps=args.steps, rho=args.rho)
    with tqdm(total=args.n * len(t0s), desc="regenerate", unit="frame", disable=args.quiet) as bar:
        result = regeneration_profile(_WithSampler(emulator, sampler), frames, t0s,
                                      key=jax.random.PRNGKey(seed), progress=bar.update,
                                      reference=emulator.training_data())
    result = {"run": str(args.run_dir), "peptide": getattr(args, "peptide", None), "seed": seed,
              "sampler": {"method": sampler.name, "steps": int(sampler.n_steps), "rho": sampler.rho},
              "expert_boundaries": list(emulator.config.model.expert_boundaries or ()), **result}
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2) + "\n")
    plot_regeneration(out.with_suffix(".png"), result)
    js = "start_js" in result
    print(f"{result['statistic']} of {result['n']} training frames: {100 * result['start']:.2f} % "
          f"(± {100 * result['start_se']:.2f})"
          + (f"; their {result['js_angles']} JS against all training frames {result['start_js']:.5f}" if js else "")
          + "; regenerated from t0:")
    for row in result["profile"]:
        se = (row["se"] ** 2 + result["start_se"] ** 2) ** 0.5
        shift = f"{(row['share'] - result['start']) / se:+.1f} se" if se > 0 else "no spread"
        print(f"  t0 {row['t0']:<5g} {100 * row['share']:6.2f} % ± {100 * row['se']:.2f}  ({shift})"
              + (f"  JS {row['js']:.5f}" if js else ""))
    if js and result["reference_n"] < 5 * result["n"]:
        print(f"note: the training data hold {result['reference_n']} frames, fewer than 5 x --n: the drawn frames "
              "repeat them, so their own JS is no floor; read the JS column for its trend in t0 only")
    print(f"wrote {out} and {out.with_suffix('.png')}", file=sys.stderr)
    return result


class _WithSampler:
    """An emulator whose regenerate uses a given sampler (``--method/--steps/--rho``)."""

    def __init__(self, emulator, sampler):
        self._emulator, self._sampler, self.system = emulator, sampler, emulator.system

    def regenerate(self, positions, t0, *, key):
        return self._emulator.regenerate(positions, t0, key=key, sampler=self._sampler)
