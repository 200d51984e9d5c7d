"""The ``scoremd`` command: a thin layer over :mod:`scoremd.app` (train, load, Emulator) and :mod:`scoremd.analysis`.

    scoremd train CONFIG.toml --out RUN_DIR [--set key=value ...]
    scoremd sample RUN_DIR --n N --out FILE.{npy,xtc,dcd,h5}
    scoremd simulate RUN_DIR --replicas R --frames F [--steps-per-frame K] [--dt DT] [--t0 T] --out FILE.{npy,xtc,dcd,h5}
    scoremd simulate RUN_DIR --method mala|hmc --replicas R --frames F --out FILE   (Metropolis-adjusted chains)
    scoremd evaluate RUN_DIR
    scoremd regenerate RUN_DIR [--t0 0.05,0.1,...] [--n N]   (where in diffusion time a basin weight goes wrong)
    scoremd run CONFIG.toml --out RUN_DIR        (train -> sample -> simulate -> evaluate)
    scoremd data toy SYSTEM [--dir data]         (regenerate a toy system's training data)
    scoremd data generate STRUCTURE --out DIR --runs N --ns L   (OpenMM reference MD)
    scoremd data generate dipeptides --peptides SET --ns L --out DIR [--scheduler ADDR]   (Dask campaign)
    scoremd data go NATIVE.pdb --temperature T --epsilon E --out DIR --runs N --ns L   (Go-model C-alpha reference)

User errors print one line ``scoremd: error: ...`` and exit with status 2; Ctrl-C exits with 130 and
SIGTERM with 143, both after shutting down the worker processes a command started.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path


from .._errors import ConfigError, DataError, ScoremdError
from ..storage import check_output_path
from . import _cli_io as files
from . import _cli_types as types
from ._signals import Terminated, terminate_as_interrupt
from .rundir import SAMPLES_FILE, TRAJECTORY_FILE


def cmd_train(args) -> None:
    from .config import load_config
    from .runs import train

    files.checked(check_output_path)(args.out, f"--out {args.out}", directory=True)
    config = load_config(args.config, args.set)
    if args.distributed or args.coordinator is not None:
        from ..parallel import initialize_distributed

        if args.coordinator is not None and (args.num_processes is None or args.process_id is None):
            raise ScoremdError("--coordinator needs --num-processes and --process-id (or use --distributed alone "
                               "under SLURM/Open MPI, where they are detected)")
        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    start = time.perf_counter()
    train(config, args.out, progress=not args.quiet)
    print(f"trained {args.out} in {time.perf_counter() - start:.1f} s", file=sys.stderr)


_TRANSFERABLE_EVALUATION = (
    "transferable dipeptide models are evaluated per test peptide: run `python examples/dipeptides.py --config "
    "CONFIG --out RUN_DIR` (scoremd.analysis.dipeptides.evaluate_dipeptides); `scoremd train` trains them and "
    "`scoremd sample/simulate --peptide SEQ` use them")


def _wall(args) -> bool | None:
    """``--excluded-volume`` / ``--no-excluded-volume``: True / False, else None (as configured)."""
    return getattr(args, "excluded_volume", None)


def _load_for(args, out: Path | None):
    """The run's Emulator; a transferable run's for ``--peptide`` (which only such runs take).
    ``out``: the frames file to be written, whose format is checked against the emulator."""
    from .runs import load

    emulator = load(args.run_dir, step=args.step, excluded_volume=_wall(args))
    peptide = getattr(args, "peptide", None)
    if hasattr(emulator, "peptide"):
        if peptide is None:
            raise ScoremdError(f"{args.run_dir} is a transferable dipeptide model: say which dipeptide with "
                               "--peptide (e.g. --peptide GN)")
        try:
            emulator = emulator.peptide(peptide)
        except DataError as err:
            raise ScoremdError(str(err)) from None
    elif peptide is not None:
        raise ScoremdError(f"--peptide is for transferable dipeptide models; {args.run_dir} is a "
                           f"{emulator.system.name} model")
    if out is not None:
        files.check_format(emulator, out)
    return emulator


def cmd_sample(args) -> None:
    out = files.out_path(args.out, args.overwrite)
    emulator = _load_for(args, out)
    files.sample_to(emulator, args.n, out, args)


def cmd_simulate(args) -> None:
    """MD written to ``--out`` with the replicas concatenated (each replica's frames in time order).

    ``--out`` is replaced only once the whole run succeeded; the frames of a diverged run go
    to ``<name>.partial<ext>`` beside it (never over a good file)."""
    out = files.out_path(args.out, args.overwrite)
    emulator = files.with_force_time(_load_for(args, out), args.t0)
    if args.method == "langevin":
        if args.step_size is not None:
            raise ScoremdError("--step-size is for --method mala/hmc; Langevin MD takes --dt")
        files.simulate_to(emulator, args.replicas, args.frames, out, args, concatenate=True)
    else:
        if args.dt is not None or args.friction is not None or args.integrator is not None:
            raise ScoremdError("--dt, --friction and --integrator are Langevin MD settings; "
                               f"--method {args.method} takes --step-size (default: adapted)")
        files.mcmc_to(emulator, args.replicas, args.frames, out, args)


def cmd_evaluate(args, emulator=None) -> dict:
    from ..analysis import evaluate, format_metric
    from .runs import load

    run_dir = Path(args.run_dir)
    samples_path = Path(args.samples) if args.samples else run_dir / SAMPLES_FILE
    traj_path = Path(args.trajectory) if args.trajectory else run_dir / TRAJECTORY_FILE
    files.refuse_ignored_options(args, samples_path, traj_path)
    reference = getattr(args, "reference", "validation")
    report_dir = Path(args.report) if getattr(args, "report", None) else run_dir / "report"
    if report_dir.exists() and not report_dir.is_dir():  # before any sampling or MD
        raise ScoremdError(f"--report {report_dir} is a file; give a folder for the report")
    frame_ps = getattr(args, "frame_ps", None)
    if frame_ps is not None and not traj_path.exists():
        raise ScoremdError("--frame-ps describes an existing --trajectory; new MD takes --dt and --steps-per-frame "
                           "and is timed by them")
    emulator = emulator or load(run_dir, step=getattr(args, "step", None), excluded_volume=_wall(args))
    if hasattr(emulator, "peptide"):
        raise ScoremdError(_TRANSFERABLE_EVALUATION)
    emulator = files.with_force_time(emulator, args.t0)
    if reference == "test" and emulator.is_molecular:  # before any sampling or MD
        from ..analysis import check_reference
        from ..data import load_molecular_data

        check_reference(emulator.config, reference)
        load_molecular_data(emulator.system, emulator.config.data.dir, runs=emulator.system.test_runs)
    c = emulator.config
    if samples_path.exists():
        samples = files.load_samples(samples_path, emulator.event_shape)
    elif args.samples:
        raise DataError(f"--samples {samples_path} does not exist")
    else:
        samples = files.sample_to(emulator, c.sample.n, samples_path, args)
    emulator = files.with_recorded_sampler(emulator, samples_path, len(samples))  # the report names the sampler used
    if traj_path.exists():
        trajectory = files.load_trajectory(traj_path, emulator.event_shape, args.replicas or c.simulate.replicas)
        emulator = files.with_recorded_force_time(emulator, traj_path, trajectory.shape[0] * trajectory.shape[1])
    elif args.trajectory:
        raise DataError(f"--trajectory {traj_path} does not exist")
    else:
        trajectory = files.simulate_to(emulator, c.simulate.replicas, c.simulate.frames, traj_path, args, concatenate=False)
        frame_ps = (emulator.integrator(integrator=args.integrator, dt=args.dt, friction=args.friction).dt
                    * c.simulate.steps_per_frame_for(emulator.system, args.steps_per_frame))
    metrics = evaluate(emulator, run_dir, samples, trajectory, reference=reference, report_dir=report_dir,
                       frame_ps=frame_ps)
    m, f = metrics, format_metric
    floor = m["floor_iid"]
    print(
        f"i.i.d.: JS {f(m['iid']['js'])}, PMF {f(m['iid']['pmf'])} | "
        f"MD: JS {f(m['md']['js'])}, PMF {f(m['md']['pmf'])} | "
        f"i.i.d. floor (n={floor['n']}): JS {f(floor['js'])}, PMF {f(floor['pmf'])}"
    )
    print(f"report: {report_dir / 'report.md'}")
    return metrics


def cmd_regenerate(args) -> dict:
    from ._cli_regenerate import regenerate

    return regenerate(args, lambda: _load_for(args, None))


def cmd_run(args) -> None:
    from .config import load_config
    from .runs import train

    files.checked(check_output_path)(args.out, f"--out {args.out}", directory=True)
    config = load_config(args.config, args.set)
    from ..systems import TransferableSystem, get_system

    if isinstance(get_system(config.system), TransferableSystem):
        raise ScoremdError(_TRANSFERABLE_EVALUATION)
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

    files.checked(check_output_path)(args.dir, f"--dir {args.dir}", directory=True)
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


def _sampling_options(p):
    p.add_argument("--method", choices=["sde", "ode", "smc"], default=None, help="i.i.d. sampler (default: config)")
    p.add_argument("--steps", type=types.count, default=None, help="sampler integration steps (default: config)")
    p.add_argument("--rho", type=types.positive, default=None,
                   help="time-grid exponent: 1 uniform, > 1 denser at small t (default: config, else the sampler's)")
    p.add_argument("--t-stop", type=types.t_stop, default=None,
                   help="--method smc: weigh the particles only down to this diffusion time, then plain reverse "
                        "SDE (default: config sample.smc_t_stop, 0 = to t_min)")


def _step_option(p):
    p.add_argument("--step", type=types.count, default=None,
                   help="load the checkpoint of this training step instead of the newest (e.g. an intact one)")
    p.add_argument("--excluded-volume", action=argparse.BooleanOptionalAction, default=None,
                   help="add the excluded-volume wall (model.excluded_volume) to a model trained without it, for "
                        "this sampling or MD only: zero on every training frame, it keeps beads from passing "
                        "through each other off the data (C-alpha MLP models; docs/design.md §5); "
                        "--no-excluded-volume leaves it off (default: as the run's config says)")


def _md_options(p):
    p.add_argument("--steps-per-frame", type=types.count, default=None, help="integration steps between frames")
    p.add_argument("--dt", type=types.time_step, default=None, help="time step in ps (default: config, else system)")
    p.add_argument("--friction", type=types.rate, default=None, help="friction in 1/ps, >= 0 (default: config, else system)")
    p.add_argument("--integrator", choices=["middle", "leapfrog"], default=None)
    p.add_argument("--t0", type=types.diffusion_time, default=None,
                   help="diffusion time at which the model is the force field (default: config simulate.t0, "
                        "1e-5 unless the preset says otherwise); larger t0 smooths the energy (docs/design.md §9)")


def build_parser() -> argparse.ArgumentParser:
    parser = types.Parser(prog="scoremd", description="Energy-based diffusion models for molecular sampling and simulation.")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train (or resume) a model")
    p.add_argument("config", help="TOML config, e.g. examples/configs/mueller_brown.toml")
    p.add_argument("--out", required=True, help="run directory (resumed if it exists)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.steps=1000")
    p.add_argument("--distributed", action="store_true",
                   help="one of several processes training together (jax.distributed; the cluster is detected "
                        "under SLURM/Open MPI); start the same command in every process, --out on a shared disk")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="without a detected cluster: process 0's address (implies --distributed)")
    p.add_argument("--num-processes", type=types.count, default=None, help="with --coordinator")
    p.add_argument("--process-id", type=types.seed, default=None, help="with --coordinator")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw i.i.d. samples from a trained model")
    p.add_argument("run_dir")
    p.add_argument("--n", type=types.count, required=True, help="number of samples")
    p.add_argument("--out", required=True,
                   help="output file: .npy (shape (n, ...), nm) or, for molecules, .xtc/.dcd/.h5 with a CG topology .pdb beside it")
    p.add_argument("--seed", type=types.seed, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--peptide", default=None, help="transferable dipeptide models: the dipeptide, e.g. GN")
    _sampling_options(p)
    _step_option(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("simulate", help="Langevin MD with the learned force, or MALA/HMC chains on the learned energy")
    p.add_argument("run_dir")
    p.add_argument("--replicas", type=types.count, required=True)
    p.add_argument("--frames", type=types.count, required=True, help="frames per replica")
    p.add_argument("--out", required=True,
                   help="output file, replicas concatenated: .npy (shape (replicas * frames, ...), nm) or, for "
                        "molecules, .xtc/.dcd/.h5 with a CG topology .pdb beside it")
    p.add_argument("--seed", type=types.seed, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--peptide", default=None,
                   help="transferable dipeptide models: the dipeptide, e.g. GN (start with --start iid if unseen)")
    _md_options(p)
    p.add_argument("--method", choices=["langevin", "mala", "hmc"], default="langevin",
                   help="langevin: MD with the learned force (default); mala/hmc: Metropolis-adjusted chains "
                        "(BlackJAX) on the learned energy, no time-step bias, no dynamics")
    p.add_argument("--start", choices=["training", "iid"], default="training",
                   help="starting positions: training frames (default) or i.i.d. samples ('diffuse, then correct')")
    p.add_argument("--warmup", type=types.seed, default=500, help="mala/hmc: steps before the first frame (step size "
                   "adapted over them unless --step-size is given)")
    p.add_argument("--step-size", type=types.positive, default=None,
                   help="mala/hmc: fixed step size (mala: nm^2; hmc: leapfrog step in ps); default: adapted")
    p.add_argument("--leapfrog-steps", type=types.count, default=10, help="hmc: leapfrog steps per proposal")
    _step_option(p)
    p.set_defaults(func=cmd_simulate)

    for name, func, help_ in [("evaluate", cmd_evaluate, "metrics and plots into RUN_DIR/report"),
                              ("run", cmd_run, "train -> sample -> simulate -> evaluate")]:
        p = sub.add_parser(name, help=help_)
        if name == "evaluate":
            p.add_argument("run_dir")
            _step_option(p)
            p.add_argument("--reference", choices=["validation", "test"], default="validation",
                           help="molecules: score both protocols against the held-out runs or the test runs")
            p.add_argument("--samples", default=None, help=f"i.i.d. samples .npy (default RUN_DIR/{SAMPLES_FILE}, made if missing)")
            p.add_argument("--trajectory", default=None,
                           help=f"MD frames .npy: (frames, replicas, ...) or `scoremd simulate`'s (replicas * frames, ...) "
                                f"(default RUN_DIR/{TRAJECTORY_FILE}, made if missing)")
            p.add_argument("--replicas", type=types.count, default=None,
                           help="replicas in a concatenated --trajectory (default: config simulate.replicas)")
            p.add_argument("--frame-ps", type=types.positive, default=None, metavar="PS",
                           help="time between the frames of an existing --trajectory in ps (default: the config's "
                                "dt x steps per frame); e.g. 0.1 for `simulate --steps-per-frame 50` at 2 fs")
            p.add_argument("--report", default=None, metavar="DIR",
                           help="write the report here instead of RUN_DIR/report (e.g. a second MD protocol "
                                "scored beside the first)")
        else:
            p.add_argument("config")
            p.add_argument("--out", required=True)
            p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--seed", type=types.seed, default=None)
        _sampling_options(p)
        _md_options(p)
        p.set_defaults(func=func)

    from . import _cli_regenerate

    p = _cli_regenerate.add_parser(sub)
    _sampling_options(p)
    _step_option(p)
    p.set_defaults(func=cmd_regenerate)

    p = sub.add_parser("data", help="generate training and reference data")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    q = data_sub.add_parser("toy", help="(re)generate a toy system's training data (deterministic)")
    q.add_argument("system")
    q.add_argument("--dir", default="data")
    q.add_argument("--seed", type=types.seed, default=0)
    q.set_defaults(func=cmd_data_toy)
    q = data_sub.add_parser(
        "splits", help="a molecular reference's runs and how its training/held-out splits differ (phi/psi JS, PMF)")
    q.add_argument("system")
    q.add_argument("--dir", default="data", help="data directory holding <system>/run_*")
    q.set_defaults(func=cmd_data_splits)
    from . import _cli_generate, _cli_go

    _cli_generate.add_parser(data_sub)
    _cli_go.add_parsers(data_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a bad argument (2, one line already printed)
        return int(exit_.code or 0)
    args.command_line = "scoremd " + shlex.join(argv)
    try:
        with terminate_as_interrupt():
            args.func(args)
    except ScoremdError as err:
        print(f"scoremd: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(f"scoremd: {'terminated' if isinstance(stop, Terminated) else 'interrupted'}; checkpoints, "
              "reference-MD chunks and the learned MD saved so far are kept (the same command resumes them)",
              file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
