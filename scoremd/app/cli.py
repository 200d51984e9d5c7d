"""The ``scoremd`` command: a thin layer over :mod:`scoremd.app` (train, load, Emulator) and :mod:`scoremd.analysis`.

    scoremd train CONFIG.toml --out RUN_DIR [--set key=value ...]
    scoremd sample RUN_DIR --n N --out FILE.{npy,xtc,dcd,h5}
    scoremd simulate RUN_DIR --replicas R --frames F [--steps-per-frame K] [--dt DT] --out FILE.{npy,xtc,dcd,h5}
    scoremd evaluate RUN_DIR
    scoremd run CONFIG.toml --out RUN_DIR        (train -> sample -> simulate -> evaluate)
    scoremd data toy SYSTEM [--dir data]         (regenerate a toy system's training data)
    scoremd data generate STRUCTURE --out DIR --runs N --ns L   (OpenMM reference MD)

User errors print one line ``scoremd: error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import jax
import numpy as np

from .._errors import ConfigError, DataError, ScoremdError, SimulationDivergedError
from ..storage import TRAJECTORY_FORMATS, write_positions
from .rundir import SAMPLES_FILE, TRAJECTORY_FILE


def _out_path(path: str, overwrite: bool) -> Path:
    p = Path(path)
    if p.suffix not in TRAJECTORY_FORMATS:
        raise ScoremdError(f"--out {path}: unknown format {p.suffix!r}; use one of {', '.join(TRAJECTORY_FORMATS)}")
    targets = [p] if p.suffix == ".npy" else [p, p.with_suffix(".pdb")]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ScoremdError(f"--out {path}: {', '.join(existing)} already exists; choose another name or pass --overwrite")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def cmd_train(args) -> None:
    from .config import load_config
    from .runs import train

    config = load_config(args.config, args.set)
    start = time.perf_counter()
    train(config, args.out, progress=not args.quiet)
    print(f"trained {args.out} in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def _check_format(emulator, out: Path) -> None:
    if out.suffix != ".npy" and not emulator.is_molecular:
        raise ScoremdError(f"--out {out}: {emulator.system.name} is not a molecule; write .npy instead")


def _write(emulator, out: Path, x: np.ndarray) -> None:
    topology = emulator.topology() if out.suffix != ".npy" else None
    files = write_positions(out, x, topology)
    print(f"wrote {' and '.join(map(str, files))}", file=sys.stderr)


def _sample(emulator, n, out: Path, args) -> np.ndarray:
    seed = emulator.config.sample.seed if args.seed is None else args.seed
    sampler = emulator.sampler(method=args.method, steps=args.steps, rho=args.rho)
    x = emulator.sample(n, key=jax.random.PRNGKey(seed), sampler=sampler, progress=not args.quiet)
    bad = int((~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).sum())
    if bad:
        raise ScoremdError(
            f"the sampler produced {bad} of {len(x)} non-finite samples (nothing written to {out}); "
            "use more --steps or --method sde, or train longer")
    _write(emulator, out, x)
    print(f"{x.shape[0]} samples of shape {x.shape[1:]}", file=sys.stderr)
    return x


def _simulate(emulator, replicas, frames, out: Path, args) -> np.ndarray:
    """MD streamed to ``out`` as (frames, replicas, *event) (the run directory's layout)."""
    c = emulator.config.simulate
    seed = c.seed if args.seed is None else args.seed
    start = emulator.initial_positions(replicas, seed=seed)
    integrator = emulator.integrator(integrator=args.integrator, dt=args.dt, friction=args.friction)
    traj = emulator.simulate(
        start, frames, key=jax.random.PRNGKey(seed), integrator=integrator, steps_per_frame=args.steps_per_frame,
        out=out, progress=not args.quiet,
    ).frames
    print(f"wrote {traj.shape[0]} frames x {traj.shape[1]} replicas to {out}", file=sys.stderr)
    return traj


def _replicas_concatenated(traj: np.ndarray) -> np.ndarray:
    """(frames, replicas, *event) -> (replicas * frames, *event): replica 0's frames first."""
    return np.swapaxes(traj, 0, 1).reshape(-1, *traj.shape[2:])


def cmd_sample(args) -> None:
    from .runs import load

    emulator = load(args.run_dir)
    out = _out_path(args.out, args.overwrite)
    _check_format(emulator, out)
    _sample(emulator, args.n, out, args)


def cmd_simulate(args) -> None:
    """MD written to ``--out`` with the replicas concatenated (each replica's frames in time order)."""
    from .runs import load

    emulator = load(args.run_dir)
    out = _out_path(args.out, args.overwrite)
    _check_format(emulator, out)
    partial = out.with_name(f".{out.name}.partial.npy")  # streamed frames, kept until the output is written
    try:
        traj = _simulate(emulator, args.replicas, args.frames, partial, args)
    except SimulationDivergedError as err:
        kept = np.load(partial)
        _write(emulator, out, _replicas_concatenated(kept))
        partial.unlink()
        raise SimulationDivergedError(
            str(err).replace(str(partial), f"{out} (replicas concatenated, {len(kept)} frames each)"),
            replica=err.replica, step=err.step, frames_written=err.frames_written) from None
    _write(emulator, out, _replicas_concatenated(traj))
    partial.unlink()
    print(f"{args.replicas} replicas x {traj.shape[0]} frames, concatenated by replica", file=sys.stderr)


def _load_array(path: Path, ndim_extra: int, event_shape, what: str) -> np.ndarray:
    from ..data import validate_positions

    x = np.load(path, allow_pickle=False)
    if x.ndim != ndim_extra + len(event_shape):
        raise DataError(f"{path}: {what} must have {ndim_extra + len(event_shape)} dimensions, got shape {x.shape}")
    flat = validate_positions(x.reshape(-1, *x.shape[ndim_extra:]), event_shape, str(path))
    return flat.reshape(x.shape)


def _load_trajectory(path: Path, event_shape, replicas: int) -> np.ndarray:
    """MD frames as (frames, replicas, *event) from the run directory's layout or from
    ``scoremd simulate``'s (replicas * frames, *event), split into ``replicas`` replicas."""
    x = np.load(path, allow_pickle=False)
    if x.ndim == 1 + len(event_shape):
        if len(x) % replicas:
            raise DataError(f"{path}: {len(x)} frames cannot be split into {replicas} replicas; pass --replicas")
        x = _load_array(path, 1, event_shape, "trajectory (replicas * frames, ...)")
        return np.swapaxes(x.reshape(replicas, -1, *event_shape), 0, 1)
    return _load_array(path, 2, event_shape, "trajectory (frames, replicas, ...)")


def cmd_evaluate(args, emulator=None) -> dict:
    from ..analysis import evaluate, format_metric
    from .runs import load

    run_dir = Path(args.run_dir)
    emulator = emulator or load(run_dir)
    c = emulator.config
    samples_path = Path(args.samples) if args.samples else run_dir / SAMPLES_FILE
    traj_path = Path(args.trajectory) if args.trajectory else run_dir / TRAJECTORY_FILE
    if samples_path.exists():
        samples = _load_array(samples_path, 1, emulator.event_shape, "samples")
    elif args.samples:
        raise DataError(f"--samples {samples_path} does not exist")
    else:
        samples = _sample(emulator, c.sample.n, samples_path, args)
    if traj_path.exists():
        trajectory = _load_trajectory(traj_path, emulator.event_shape, args.replicas or c.simulate.replicas)
    elif args.trajectory:
        raise DataError(f"--trajectory {traj_path} does not exist")
    else:
        trajectory = _simulate(emulator, c.simulate.replicas, c.simulate.frames, traj_path, args)
    metrics = evaluate(emulator, run_dir, samples, trajectory)
    m, f = metrics, format_metric
    floor = m["floor_iid"]
    print(
        f"i.i.d.: JS {f(m['iid']['js'])}, PMF {f(m['iid']['pmf'])} | "
        f"MD: JS {f(m['md']['js'])}, PMF {f(m['md']['pmf'])} | "
        f"i.i.d. floor (n={floor['n']}): JS {f(floor['js'])}, PMF {f(floor['pmf'])}"
    )
    print(f"report: {run_dir / 'report' / 'report.md'}")
    return metrics


def cmd_run(args) -> None:
    from .config import load_config
    from .runs import train

    config = load_config(args.config, args.set)
    run_dir = Path(args.out)
    emulator = train(config, run_dir, progress=not args.quiet)
    # Regenerate the derived outputs so they match the (possibly extended) model.
    for name in (SAMPLES_FILE, TRAJECTORY_FILE):
        (run_dir / name).unlink(missing_ok=True)
    args.run_dir, args.samples, args.trajectory, args.replicas = run_dir, None, None, None
    cmd_evaluate(args, emulator)


def cmd_data_toy(args) -> None:
    from ..data import make_toy_dataset
    from ..systems import get_system

    system = get_system(args.system)
    x = make_toy_dataset(system, args.dir, seed=args.seed, progress=not args.quiet)
    print(f"wrote {x.shape[0]} frames to {Path(args.dir) / system.name}", file=sys.stderr)


def cmd_data_splits(args) -> None:
    from ..analysis import reference_splits
    from ..systems import MolecularSystem, get_system

    system = get_system(args.system)
    if not isinstance(system, MolecularSystem):
        raise ConfigError(f"{args.system} is not a molecular system; `scoremd data splits` needs reference MD runs")
    result = reference_splits(system, args.dir)
    print(f"{system.name}: {sum(r['frames'] for r in result['runs'])} reference frames in {len(result['runs'])} runs")
    print("run  frames  phi>0")
    for r in result["runs"]:
        print(f"{r['run']:>3}  {r['frames']:>6}  {r['phi_positive']:.2%}")
    print("held out              JS train/held-out  PMF      floor JS  floor PMF")
    for sp in result["splits"]:
        held = sp["held_out_runs"]
        name = "last half of each run" if held == "time" else "runs " + ",".join(map(str, held))
        name += " (default)" if sp["default"] else ""
        print(f"{name:<22}{sp['js']:<19.4f}{sp['pmf']:<9.3f}{sp['floor_js']:<10.4f}{sp['floor_pmf']:.3f}")


def cmd_data_generate(args) -> None:
    from ..data.openmm import MDProtocol, generate_runs

    try:
        protocol = MDProtocol(
            forcefield=tuple(args.forcefield), temperature=args.temperature, friction=args.friction,
            timestep=args.dt, constraints=args.constraints, frame_interval=args.frame_interval,
            equilibration=args.equilibration, platform=args.platform, save_forces=args.forces,
        )
    except ValueError as err:
        raise ScoremdError(str(err)) from None
    n_frames = int(round(args.ns * 1000 / args.frame_interval))
    metas = generate_runs(args.out, args.runs, n_frames, structure=args.structure, protocol=protocol,
                          first_seed=args.first_seed, processes=args.processes, progress=not args.quiet,
                          command=args.command_line)
    total = sum(m["length_ns"] for m in metas)
    print(f"{args.out}: {len(metas)} runs, {total:g} ns in total", file=sys.stderr)


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _sampling_options(p):
    p.add_argument("--method", choices=["sde", "ode"], default=None, help="i.i.d. sampler (default: config)")
    p.add_argument("--steps", type=int, default=None, help="sampler integration steps (default: config)")
    p.add_argument("--rho", type=_positive_float, default=None,
                   help="time-grid exponent: 1 uniform, > 1 denser at small t (default: config, else the sampler's)")


def _md_options(p):
    p.add_argument("--steps-per-frame", type=int, default=None, help="integration steps between frames")
    p.add_argument("--dt", type=float, default=None, help="time step in ps (default: config, else system)")
    p.add_argument("--friction", type=float, default=None, help="friction in 1/ps (default: config, else system)")
    p.add_argument("--integrator", choices=["middle", "leapfrog"], default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scoremd", description="Energy-based diffusion models for molecular sampling and simulation.")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train (or resume) a model")
    p.add_argument("config", help="TOML config, e.g. examples/configs/mueller_brown.toml")
    p.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.steps=1000")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw i.i.d. samples from a trained model")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--out", required=True,
                   help="output file: .npy (shape (n, ...), nm) or, for molecules, .xtc/.dcd/.h5 with a CG topology .pdb beside it")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--overwrite", action="store_true")
    _sampling_options(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("simulate", help="Langevin MD with the learned force")
    p.add_argument("run_dir")
    p.add_argument("--replicas", type=int, required=True)
    p.add_argument("--frames", type=int, required=True, help="frames per replica")
    p.add_argument("--out", required=True,
                   help="output file, replicas concatenated: .npy (shape (replicas * frames, ...), nm) or, for "
                        "molecules, .xtc/.dcd/.h5 with a CG topology .pdb beside it")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--overwrite", action="store_true")
    _md_options(p)
    p.set_defaults(func=cmd_simulate)

    for name, func, help_ in [("evaluate", cmd_evaluate, "metrics and plots into RUN_DIR/report"),
                              ("run", cmd_run, "train -> sample -> simulate -> evaluate")]:
        p = sub.add_parser(name, help=help_)
        if name == "evaluate":
            p.add_argument("run_dir")
            p.add_argument("--samples", default=None, help=f"i.i.d. samples .npy (default RUN_DIR/{SAMPLES_FILE}, made if missing)")
            p.add_argument("--trajectory", default=None,
                           help=f"MD frames .npy: (frames, replicas, ...) or `scoremd simulate`'s (replicas * frames, ...) "
                                f"(default RUN_DIR/{TRAJECTORY_FILE}, made if missing)")
            p.add_argument("--replicas", type=int, default=None,
                           help="replicas in a concatenated --trajectory (default: config simulate.replicas)")
        else:
            p.add_argument("config")
            p.add_argument("--out", required=True)
            p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--seed", type=int, default=None)
        _sampling_options(p)
        _md_options(p)
        p.set_defaults(func=func)

    p = sub.add_parser("data", help="generate training and reference data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("toy", help="(re)generate a toy system's training data (deterministic)")
    q.add_argument("system")
    q.add_argument("--dir", default="data")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=cmd_data_toy)
    q = data_sub.add_parser(
        "splits", help="a molecular reference's runs and how its training/held-out splits differ (phi/psi JS, PMF)")
    q.add_argument("system")
    q.add_argument("--dir", default="data", help="data directory holding <system>/run_*")
    q.set_defaults(func=cmd_data_splits)
    q = data_sub.add_parser(
        "generate", help="OpenMM reference MD: independent runs in parallel processes, resumable and growable")
    q.add_argument("structure", help='"alanine_dipeptide" (built from internal coordinates) or a PDB file with hydrogens')
    q.add_argument("--out", required=True, help="folder of the runs (run_00, run_01, ...); existing runs are resumed/grown")
    q.add_argument("--runs", type=int, default=4, help="independent runs (seeds first_seed, first_seed + 1, ...)")
    q.add_argument("--ns", type=float, required=True, help="length of each run in ns (a larger value grows existing runs)")
    q.add_argument("--first-seed", type=int, default=1)
    q.add_argument("--processes", type=int, default=None, help="parallel processes (default: min(runs, cores))")
    q.add_argument("--forcefield", nargs="+", default=["amber99sbildn.xml", "amber99_obc.xml"])
    q.add_argument("--temperature", type=float, default=300.0, help="K")
    q.add_argument("--friction", type=float, default=1.0, help="1/ps")
    q.add_argument("--dt", type=float, default=0.001, help="time step in ps")
    q.add_argument("--constraints", choices=["none", "hbonds"], default="none")
    q.add_argument("--frame-interval", type=float, default=1.0, help="ps between stored frames")
    q.add_argument("--equilibration", type=float, default=100.0, help="ps before the first stored frame")
    q.add_argument("--platform", default="Reference", help="OpenMM platform (Reference is fastest for small implicit-solvent systems)")
    q.add_argument("--forces", action="store_true", help="also store forces")
    q.set_defaults(func=cmd_data_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = "scoremd " + shlex.join(argv)
    try:
        args.func(args)
    except ScoremdError as err:
        print(f"scoremd: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("scoremd: interrupted; checkpoints and streamed frames written so far are kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
