"""Alanine dipeptide on the untouched test runs: several training seeds, both protocols, both MDs.

For each recipe of ``examples/configs/alanine_dipeptide_<recipe>.toml`` and each seed, trains
(or resumes), draws the preset's i.i.d. samples, runs the preset's MD (1000 replicas x 0.3 ns)
and scores both against the test runs run_04 ... run_07, which no choice of settings has
seen (``scoremd evaluate --reference test``). With ``--paper-md`` it also runs the paper's MD
protocol (100 replicas x 12 ns from training frames, a frame every 50 steps of 2 fs) and
scores it the same way into ``report_paper_md/``. With ``--also-sample sde`` (or ode, smc) it
also draws the i.i.d. samples of each seed with that sampler (the preset's steps and time grid)
into ``samples_<method>.npy`` and scores them into ``report_<method>/``. Then writes ``OUT/test_table.md``: for every
set (i.i.d., preset MD, paper MD), the phi/psi JS in the paper's protocol (50 000 frames
against 50 000 test frames) and with large samples (every frame against as many test frames),
mean ± sd over seeds, each next to its floor (the validation runs scored the same way at the
same size) and as a ratio to it; the share at phi > 0 (alpha_L) against the test runs' own
share and its standard error over runs. The training-data row is what an exact model of the
training runs would score.

    python examples/alanine_dipeptide_test.py --out runs/aldp_test [--recipes both diffusion] \\
        [--seeds 0 1 2] [--paper-md [RECIPE ...]] [--also-sample sde]

Re-running resumes: finished runs and reports are read back, interrupted training resumes
from its checkpoints, and an existing ``md_paper.npy`` is scored as it is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import scoremd
from scoremd.analysis import TRAINING_AT_MD_SIZE, format_metric
from scoremd.app import run
from scoremd.app.cli import main as cli
from scoremd.storage import atomic_write_text

CONFIGS = Path(__file__).parent / "configs"
PAPER_MD = {"replicas": 100, "frames": 120_000, "steps_per_frame": 50}  # 12 ns at 2 fs, a frame per 0.1 ps


def _scored_on_test(path: Path) -> dict | None:
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    return metrics if str(metrics.get("protocols", {}).get("reference", "")).startswith("test") else None


def run_one(recipe: str, seed: int, out: Path, overrides: list[str], paper_md: bool,
            also_sample: tuple[str, ...] = ()) -> dict:
    """The test-set reports of one training seed: {"preset": metrics, "paper": metrics or None,
    "config": its RunConfig, "samplers": {method: metrics of its i.i.d. samples}}."""
    run_dir = out / f"{recipe}_seed{seed}"
    config = scoremd.load_config(CONFIGS / f"alanine_dipeptide_{recipe}.toml", [*overrides, f"train.seed={seed}"])
    metrics = _scored_on_test(run_dir / "report" / "metrics.json")
    if metrics is None or scoremd.load_config(run_dir / "config.toml") != config:
        metrics = run(config, run_dir, reference="test")
    if "frame_ps" not in metrics["md"]:  # reports written before the frame interval was recorded
        metrics["md"]["frame_ps"] = scoremd.load(run_dir).integrator().dt * config.simulate.steps_per_frame_for(
            scoremd.get_system("alanine_dipeptide"))
    result = {"preset": metrics, "paper": None, "config": config, "samplers": {}}
    for method in also_sample:
        if method == config.sample.method:
            continue
        report, samples = run_dir / f"report_{method}", run_dir / f"samples_{method}.npy"
        result["samplers"][method] = _scored_on_test(report / "metrics.json")
        if result["samplers"][method] is None:
            if not samples.exists():
                assert cli(["sample", str(run_dir), "--method", method, "--n", str(config.sample.n),
                            "--out", str(samples)]) == 0
            assert cli(["evaluate", str(run_dir), "--samples", str(samples), "--reference", "test",
                        "--report", str(report)]) == 0
            result["samplers"][method] = _scored_on_test(report / "metrics.json")
    if paper_md:
        report = run_dir / "report_paper_md"
        result["paper"] = _scored_on_test(report / "metrics.json")
        if result["paper"] is None:
            traj = run_dir / "md_paper.npy"
            if not traj.exists():
                assert cli(["simulate", str(run_dir), "--replicas", str(PAPER_MD["replicas"]), "--frames",
                            str(PAPER_MD["frames"]), "--steps-per-frame", str(PAPER_MD["steps_per_frame"]),
                            "--out", str(traj)]) == 0
            frame_ps = scoremd.load(run_dir).integrator().dt * PAPER_MD["steps_per_frame"]
            assert cli(["evaluate", str(run_dir), "--trajectory", str(traj), "--replicas", str(PAPER_MD["replicas"]),
                        "--frame-ps", f"{frame_ps:g}", "--reference", "test", "--report", str(report)]) == 0
            result["paper"] = _scored_on_test(report / "metrics.json")
    return result


def _mean_sd(values) -> str:
    v = np.asarray(values, float)
    return format_metric(v[0]) if len(v) == 1 else f"{format_metric(v.mean())} ± {format_metric(v.std())}"


def _percent(values) -> str:
    v = 100 * np.asarray(values, float)
    return f"{v[0]:.2f} %" if len(v) == 1 else f"{v.mean():.2f} % ± {v.std():.2f}"


def _row(label: str, reports: list[dict], key: str, share_key: str, test_share: float) -> str:
    """One set scored in both protocols: JS (mean ± sd over seeds), floor, ratio; alpha_L share."""
    paper = [m["protocols"]["paper"][key]["js"] for m in reports]
    large = [m["protocols"]["large"][key]["js"] for m in reports]
    floor_p = reports[0]["protocols"]["paper"][f"floor {key}"]
    floor_l = reports[0]["protocols"]["large"][f"floor {key}"]
    share = [m["phi_positive"][share_key] for m in reports]
    n_p, n_l = reports[0]["protocols"]["paper"][key]["n"], reports[0]["protocols"]["large"][key]["n"]
    return (f"| {label} | {_mean_sd(paper)} | {format_metric(floor_p['js'])} ± {format_metric(floor_p['js_sd'])} | "
            f"{np.mean(paper) / floor_p['js']:.2f} | {n_p} | {_mean_sd(large)} | {format_metric(floor_l['js'])} | "
            f"{np.mean(large) / floor_l['js']:.2f} | {n_l} | "
            f"{_percent(share)} | {100 * (np.mean(share) - test_share):+.2f} |")


def table(results: dict[str, list[dict]]) -> str:
    first = next(iter(results.values()))[0]["preset"]
    runs = first["phi_positive_runs"]
    test_share, se = runs["mean"], runs["se"]
    lines = [
        "| set | paper JS (50 000) | its floor | ratio | n | large-sample JS | its floor | ratio | n | "
        "share at φ > 0 | minus test (points) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        _row("training data (runs 00-01)", [first], "training data", "training data", test_share),
    ]
    for recipe, seeds in results.items():
        preset = [r["preset"] for r in seeds]
        tag = f"{recipe} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
        lines.append(_row(f"{tag}: i.i.d. ({seeds[0]['config'].sample.method}, the preset's)", preset, "i.i.d.",
                          "i.i.d.", test_share))
        for method in seeds[0]["samplers"]:
            lines.append(_row(f"{tag}: i.i.d. ({method})", [r["samplers"][method] for r in seeds], "i.i.d.",
                              "i.i.d.", test_share))
        md = preset[0]["md"]
        lines.append(_row(f"{tag}: MD {md['replicas']} x {md['frames_per_replica'] * md['frame_ps'] / 1000:g} ns",
                          preset, "MD", "MD", test_share))
        paper = [r["paper"] for r in seeds if r["paper"] is not None]
        if paper:
            pm = paper[0]["md"]
            lines.append(_row(f"{recipe} ({len(paper)} seed{'s' if len(paper) > 1 else ''}): MD {pm['replicas']} x "
                              f"{pm['frames_per_replica'] * pm['frame_ps'] / 1000:g} ns (paper)", paper, "MD", "MD",
                              test_share))
            if TRAINING_AT_MD_SIZE in paper[0]["protocols"]["large"]:  # the bound at the long MD's n
                lines.append(_row(f"training data (runs 00-01) at the {recipe} paper MD's n", paper[:1],
                                  TRAINING_AT_MD_SIZE, "training data", test_share))
    shares = ", ".join(f"run {k} {100 * v:.2f} %" for k, v in runs["runs"].items())
    lines += [
        "",
        f"{str(runs['reference']).capitalize()}: share at φ > 0 "
        f"{shares}; mean {100 * test_share:.2f} % ± {100 * se:.2f} (standard error over runs, the reference's "
        "own uncertainty). Floors: the validation runs (02-03) scored against the test runs in the same "
        "protocol at the same size (paper: mean ± sd over 5 draws). JS in nats on 64 x 64 phi/psi bins. "
        "Model columns: mean ± sd (ddof = 0) over seeds; each seed's paper-protocol JS is itself a mean over "
        "5 draws. The training-data row is what an exact model of the training runs scores.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipes", nargs="+", default=["both"], choices=["diffusion", "fp", "both"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--paper-md", nargs="*", metavar="RECIPE",
                        help="also run and score 100 replicas x 12 ns (for the recipes named, default: all)")
    parser.add_argument("--also-sample", nargs="+", default=[], choices=["sde", "ode", "smc"], metavar="METHOD",
                        help="also draw and score each seed's i.i.d. samples with these samplers (sde, ode, smc)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    out = Path(args.out)
    paper = set() if args.paper_md is None else set(args.paper_md or args.recipes)
    if paper - set(args.recipes):
        parser.error(f"--paper-md names recipes not in --recipes: {', '.join(sorted(paper - set(args.recipes)))}")
    results = {r: [run_one(r, s, out, args.set, r in paper, tuple(args.also_sample)) for s in args.seeds]
               for r in args.recipes}
    text = table(results)
    atomic_write_text(out / "test_table.md", text)
    print(text)


if __name__ == "__main__":
    main()
