"""Reading and writing the command line's sample and trajectory files, safely.

Every output is checked before any work (format, writable place, no unasked
overwrite, size against memory) and written under a temporary name, then renamed
into place; MD frames stream to a hidden file and reach ``--out`` only when the
run is complete. Positions in nm.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import jax
import numpy as np

from .._errors import DataError, ResumeError, ScoremdError, SimulationDivergedError
from ..storage import TRAJECTORY_FORMATS, check_allocation, check_output_path, write_positions
from .rundir import read_md_record, read_sampler_record, write_md_record, write_sampler_record

__all__ = ["check_format", "check_size", "checked", "load_samples", "load_trajectory", "mcmc_to", "out_path",
           "refuse_ignored_options", "sample_to", "simulate_to", "with_force_time", "with_recorded_force_time",
           "with_recorded_sampler"]


def checked(check):
    """ValueError from a check -> ScoremdError (one line, exit 2)."""
    def run(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except ValueError as err:
            raise ScoremdError(str(err)) from None
    return run


MD_SAVE_SECONDS = 60.0
"""How often an MD run of the command line saves its state to be resumable (s of wall time)."""

FRAME_OUTPUTS = {fmt: (fmt,) if fmt == ".npy" else (fmt, ".pdb") for fmt in TRAJECTORY_FORMATS}
"""Frames files: each accepted suffix and the suffixes of the files written for it (a topology
PDB beside every format but .npy)."""


def out_path(path: str, overwrite: bool, outputs: dict[str, tuple[str, ...]] = FRAME_OUTPUTS,
             what: str = "frames") -> Path:
    """Check ``--out`` before any work: known format, writable place, no unasked overwrite.

    ``outputs`` maps each accepted suffix to the suffixes of every file written for it (all of
    them are checked); ``what`` names the content in the refusal of an unknown suffix.
    """
    p = Path(path)
    if p.suffix not in outputs:
        raise ScoremdError(f"--out {path}: unknown format {p.suffix!r} for {what}; use one of {', '.join(outputs)}")
    targets = [p.with_suffix(s) for s in outputs[p.suffix]]
    for t in targets:
        checked(check_output_path)(t, f"--out {path}")
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ScoremdError(f"--out {path}: {', '.join(existing)} already exists; choose another name or pass --overwrite")
    return p


def refuse_ignored_options(args, samples_path: Path, traj_path: Path) -> None:
    """Options that only shape newly made samples or MD must not be silently ignored."""
    made = {"samples": [o for o in ("method", "steps", "rho", "t_stop") if getattr(args, o, None) is not None],
            "MD frames": [o for o in ("steps_per_frame", "dt", "friction", "integrator", "t0")
                          if getattr(args, o, None) is not None]}
    for what, path, options in (("samples", samples_path, made["samples"]), ("MD frames", traj_path, made["MD frames"])):
        if path.exists() and (options or getattr(args, "seed", None) is not None or getattr(args, "step", None)):
            names = ", ".join("--" + o.replace("_", "-") for o in options + ["seed", "step"]
                              if o in options or getattr(args, o, None) is not None)
            raise ScoremdError(f"{names} would not apply: the {what} in {path} already exist and are evaluated "
                               "as they are; remove the file (or pass other --samples/--trajectory) to make new ones")


def check_size(emulator, count: int, what: str) -> None:
    """Refuse, before anything is allocated, ``count`` frames that would not fit in memory."""
    checked(check_allocation)(count * int(np.prod(emulator.event_shape)) * 4, what)


def check_format(emulator, out: Path) -> None:
    """Before any work: a trajectory format needs a molecule and its CG topology."""
    if out.suffix != ".npy" and not emulator.is_molecular:
        raise ScoremdError(f"--out {out}: {emulator.system.name} is not a molecule; write .npy instead")
    if out.suffix != ".npy":
        emulator.topology()  # CheckpointError now, not after the sampling


def write(emulator, out: Path, x: np.ndarray) -> None:
    topology = None
    if out.suffix != ".npy":
        topology, x = emulator.topology(), emulator.beads(x)
    files = write_positions(out, x, topology)
    print(f"wrote {' and '.join(map(str, files))}", file=sys.stderr)


def sample_to(emulator, n, out: Path, args) -> np.ndarray:
    check_size(emulator, n, f"{n} samples")
    seed = emulator.config.sample.seed if args.seed is None else args.seed
    try:
        sampler = emulator.sampler(method=args.method, steps=args.steps, rho=args.rho,
                                   t_stop=getattr(args, "t_stop", None))
    except ValueError as err:
        raise ScoremdError(f"--t-stop: {err}; add --method smc") from None
    x = emulator.sample(n, key=jax.random.PRNGKey(seed), sampler=sampler, progress=not args.quiet)
    bad = int((~np.isfinite(x.reshape(len(x), -1)).all(axis=1)).sum())
    if bad:
        raise ScoremdError(
            f"the sampler produced {bad} of {len(x)} non-finite samples (nothing written to {out}); "
            "use more --steps or --method sde, or train longer")
    write(emulator, out, x)
    write_sampler_record(out, sampler, seed, len(x))
    print(f"{x.shape[0]} samples of shape {x.shape[1:]}", file=sys.stderr)
    return x


def with_force_time(emulator, t0: float | None):
    """The emulator with its MD force taken at diffusion time ``t0`` (``--t0``): its
    ``config.simulate.t0`` replaced, so the MD and the report use it. None: unchanged."""
    c = emulator.config
    if t0 is None or t0 == c.simulate.t0:
        return emulator
    return dataclasses.replace(emulator, config=dataclasses.replace(c, simulate=dataclasses.replace(c.simulate, t0=t0)))


def with_recorded_force_time(emulator, trajectory_path: Path, n: int):
    """The emulator, its ``config.simulate.t0`` set to the force time recorded beside
    ``trajectory_path`` (``n``: its frames, all replicas together), so that the report of MD made
    with ``--t0`` states that t0. Without a record: unchanged."""
    record = read_md_record(trajectory_path, n)
    return emulator if record is None else with_force_time(emulator, float(record["t0"]))


def with_recorded_sampler(emulator, samples_path: Path, n: int):
    """The emulator, its ``config.sample`` set to the sampler recorded beside ``samples_path``.

    So that a report of samples drawn with another sampler than the config's (``scoremd
    sample --method ...``) names the one that drew them. Without a record: unchanged.
    """
    record = read_sampler_record(samples_path, n)
    c = emulator.config
    if record is None:
        return emulator
    sample = dataclasses.replace(c.sample, method=record["method"], steps=record["steps"], rho=record["rho"],
                                 smc_t_stop=record.get("t_stop", 0.0), seed=record.get("seed", c.sample.seed), n=n)
    if sample == c.sample:
        return emulator
    return dataclasses.replace(emulator, config=dataclasses.replace(c, sample=sample))


def simulate_to(emulator, replicas, frames, out: Path, args, *, concatenate: bool) -> np.ndarray:
    """MD with the learned force, written to ``out`` only once the run is complete.

    Frames stream to a hidden file beside ``out`` as the run goes, and the integrator's state
    is saved beside it every minute. On success ``out`` gets them, replicas concatenated
    (``scoremd simulate``) or as (frames, replicas, *event) (the run directory's layout),
    replacing an old file only then. An interrupted run (Ctrl-C, SIGTERM, a lost session)
    keeps both hidden files, and the same command resumes it from the last save, giving the
    frames an uninterrupted run gives. If a replica diverges, the frames before it go to
    ``<name>.partial<ext>``, which cannot shadow a good file, and ``out`` is left as it was.
    Returns the frames (frames, replicas, *event).
    """
    check_size(emulator, replicas * frames, f"{replicas} replicas x {frames} frames")
    c = emulator.config.simulate
    seed = c.seed if args.seed is None else args.seed
    start = _start(emulator, replicas, seed, args)
    integrator = emulator.integrator(integrator=args.integrator, dt=args.dt, friction=args.friction)
    stream, resume = out.with_name(f".{out.name}.stream.npy"), out.with_name(f".{out.name}.resume.npz")
    model = hashlib.sha256(b"".join(np.asarray(leaf).tobytes() for leaf in jax.tree_util.tree_leaves(emulator.params)))
    if emulator.masses is not None:  # a transferable model's peptides share their parameters
        model.update(np.asarray(emulator.masses, np.float64).tobytes())
    tag = json.dumps({"system": emulator.system.name, "model": model.hexdigest(), "t0": emulator.config.simulate.t0,
                      "seed": seed, "start": getattr(args, "start", "training")})
    if resume.exists() and stream.exists():
        if not args.quiet:
            print(f"resuming the MD saved in {resume}", file=sys.stderr)
    else:
        resume.unlink(missing_ok=True)  # a save without its frames cannot resume anything

    def arrange(frames_):
        return replicas_concatenated(frames_) if concatenate else frames_

    try:
        traj = emulator.simulate(
            start, frames, key=jax.random.PRNGKey(seed), integrator=integrator, steps_per_frame=args.steps_per_frame,
            out=stream, progress=not args.quiet, checkpoint=resume, checkpoint_tag=tag,
            checkpoint_seconds=MD_SAVE_SECONDS,
        ).frames
    except SimulationDivergedError as err:
        kept = np.load(stream)
        state = f"{out} is untouched" if out.exists() else f"{out} was not written"
        where = f"nothing was written; {state}"
        if len(kept):
            partial = out.with_name(f"{out.stem}.partial{out.suffix}")
            write(emulator, partial, arrange(kept))  # (replaces the partial of an earlier failed run)
            where = f"the {len(kept)} frames of every replica before it are in {partial}; {state}"
        stream.unlink()
        resume.unlink(missing_ok=True)
        raise SimulationDivergedError(f"{str(err).split('; the ')[0]}; {where}", replica=err.replica,
                                      step=err.step, frames_written=err.frames_written) from None
    except ResumeError as err:  # the saved run stays as it is
        raise ResumeError(f"{err} (the frames are in {stream})") from None
    except KeyboardInterrupt:
        if resume.exists():
            print(f"the MD so far is saved in {stream} and {resume}: run the same command again to resume it",
                  file=sys.stderr)
        else:
            stream.unlink(missing_ok=True)
        raise
    except BaseException:
        stream.unlink(missing_ok=True)
        resume.unlink(missing_ok=True)
        raise
    try:
        write(emulator, out, arrange(traj))
        write_md_record(out, emulator.config.simulate.t0, traj.shape[0] * traj.shape[1])
    finally:
        stream.unlink(missing_ok=True)
    print(f"{replicas} replicas x {traj.shape[0]} frames" + (", concatenated by replica" if concatenate else ""),
          file=sys.stderr)
    return traj


def _start(emulator, replicas: int, seed: int, args) -> np.ndarray:
    """Starting positions: training frames, or i.i.d. samples (``--start iid``)."""
    if getattr(args, "start", "training") == "iid":
        return emulator.sample(replicas, key=jax.random.PRNGKey(seed + 1), progress=not args.quiet)
    return emulator.initial_positions(replicas, seed=seed)


def mcmc_to(emulator, replicas, frames, out: Path, args) -> np.ndarray:
    """MALA/HMC chains on the learned energy (``scoremd simulate --method mala|hmc``), replicas
    concatenated in ``out``, written only once the run is complete. Returns (frames, replicas, *event)."""
    from ..dynamics import HMC, MALA

    check_size(emulator, replicas * frames, f"{replicas} chains x {frames} frames")
    seed = emulator.config.simulate.seed if args.seed is None else args.seed
    method = (MALA(step_size=args.step_size) if args.method == "mala"
              else HMC(step_size=args.step_size, n_leapfrog=args.leapfrog_steps))
    start = _start(emulator, replicas, seed, args)
    stream = out.with_name(f".{out.name}.stream.npy")
    try:
        result = emulator.mcmc(start, frames, key=jax.random.PRNGKey(seed), method=method,
                               steps_per_frame=args.steps_per_frame, n_warmup=args.warmup, out=stream,
                               progress=not args.quiet)
        write(emulator, out, replicas_concatenated(result.frames))
        write_md_record(out, emulator.config.simulate.t0, result.frames.shape[0] * result.frames.shape[1])
    finally:
        stream.unlink(missing_ok=True)
    unit = "nm^2" if args.method == "mala" else "ps"
    print(f"{args.method}: {replicas} chains x {frames} frames, concatenated by chain; step size "
          f"{result.step_size:.4g} {unit}, acceptance {result.acceptance_rate:.3f}, ESS {result.ess:.0f} "
          f"(median over coordinates), {result.gradient_evaluations} gradient evaluations per chain", file=sys.stderr)
    return result.frames


def replicas_concatenated(traj: np.ndarray) -> np.ndarray:
    """(frames, replicas, *event) -> (replicas * frames, *event): replica 0's frames first."""
    return np.swapaxes(traj, 0, 1).reshape(-1, *traj.shape[2:])


def _read(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataError(f"{path}: not a readable .npy array of {what} ({str(err).splitlines()[0][:200]}); "
                        "write positions with numpy.save (nm)") from None


def load_array(path: Path, ndim_extra: int, event_shape, what: str, x: np.ndarray | None = None) -> np.ndarray:
    """Positions from ``path`` (or the array ``x`` already read from it), checked: (..., *event), finite."""
    from ..data import validate_positions

    x = _read(path, what) if x is None else x
    if x.ndim != ndim_extra + len(event_shape):
        raise DataError(f"{path}: {what} must have {ndim_extra + len(event_shape)} dimensions, got shape {x.shape}")
    flat = validate_positions(x.reshape(-1, *x.shape[ndim_extra:]), event_shape, str(path))
    return flat.reshape(x.shape)


def load_trajectory(path: Path, event_shape, replicas: int) -> np.ndarray:
    """MD frames as (frames, replicas, *event) from the run directory's layout or from
    ``scoremd simulate``'s (replicas * frames, *event), split into ``replicas`` replicas."""
    x = _read(path, "MD frames")
    if x.ndim == 1 + len(event_shape):
        if len(x) % replicas:
            raise DataError(f"{path}: {len(x)} frames cannot be split into {replicas} replicas; pass --replicas")
        x = load_array(path, 1, event_shape, "trajectory (replicas * frames, ...)", x)
        return np.swapaxes(x.reshape(replicas, -1, *event_shape), 0, 1)
    return load_array(path, 2, event_shape, "trajectory (frames, replicas, ...)", x)


def load_samples(path: Path, event_shape) -> np.ndarray:
    """i.i.d. samples (N, *event) from a ``.npy`` file, validated."""
    return load_array(path, 1, event_shape, "samples")
