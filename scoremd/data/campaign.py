"""Reference MD for many dipeptides as a Dask campaign (docs/design.md D13).

The campaign is a set of Dask tasks, one per peptide, run and chunk: task k of a
run grows it to k chunks (:func:`scoremd.data.openmm.run_reference_md`, which
checkpoints at the end of each chunk), and depends on task k - 1. Tasks are
idempotent: a chunk that is already on disk returns at once, so the same call
resumes an interrupted campaign and grows a finished one. A worker killed in the
middle of a chunk loses that chunk only; Dask reruns the task, which continues
from the checkpoint bit-identically (OpenMM's Reference platform is
deterministic given the checkpoint). A peptide whose task fails (a structure
OpenMM cannot parameterise, a folder holding another protocol's run) is
reported with its error; the other peptides go on.

Without a scheduler address a local Dask cluster is started with one
single-threaded worker process per core (the Reference platform is fastest with
one thread; docs/design.md §9); with an address (``tcp://host:8786``, e.g. from
dask-jobqueue on SLURM) the same tasks run on that cluster, whose workers must
have scoremd installed and see ``out_dir`` (a shared file system).

Layout: ``out_dir/<SEQ>/run_XX/`` per peptide and run, each a reference run
(topology.pdb all-atom, positions.npy the beads only; see :mod:`scoremd.data.openmm`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
import warnings
from concurrent.futures import CancelledError
from pathlib import Path

from .._errors import DataError
from .dipeptides import Dipeptide, peptide_seed, resolve_peptides
from .openmm import MDProtocol

DIPEPTIDE_PROTOCOL = MDProtocol(temperature=310.0, friction=1.0, timestep=0.002, constraints="hbonds",
                                frame_interval=1.0, equilibration=100.0)
"""This project's dipeptide protocol: amber99sbildn + native OBC (the alanine dipeptide's), NoCutoff,
310 K, Langevin 1/ps, 2 fs with H-bond constraints, a frame per ps, Reference platform."""

PUBLISHED_PROTOCOL = MDProtocol(forcefield=("amber14-all.xml", "implicit/obc1.xml"), temperature=310.0,
                                friction=0.3, timestep=0.0005, constraints="none", frame_interval=1.0,
                                equilibration=100.0, platform="CPU", cutoff=2.0)
"""The published reference protocol: amber14-all + implicit/obc1 (a CustomGB force; the CPU platform
with one thread is the fastest for it), CutoffNonPeriodic 2 nm, no constraints, 310 K, Langevin 0.3/ps,
0.5 fs. Measured here per simulated ns 14-22x slower than :data:`DIPEPTIDE_PROTOCOL` (docs/data/dipeptides.md)."""


@dataclasses.dataclass(frozen=True)
class CampaignReport:
    """What a campaign left on disk.

    Attributes:
      frames: peptide -> frames per run (of the runs that finished every chunk).
      ns_per_day: peptide -> simulation speed of its last chunk (ns/day per worker).
      failed: peptide -> the error that stopped it.
    """

    frames: dict[str, list[int]]
    ns_per_day: dict[str, float]
    failed: dict[str, str]


def _grow(out_dir: str, sequence: str, n_frames: int, protocol: MDProtocol, seed: int, command: str | None,
          previous=None) -> dict:
    """One task: grow ``out_dir`` to ``n_frames`` (one chunk, one checkpoint). ``previous``: the
    result of the run's previous chunk (orders the tasks; its error is passed on).

    A :class:`DataError` (bad input: the user's to fix) is returned as ``{"error": message}`` rather
    than raised, so workers do not log tracebacks for it; anything else raises.
    """
    from .openmm import run_reference_md

    if previous is not None and "error" in previous:
        return previous
    try:
        meta = run_reference_md(out_dir, n_frames, structure=Dipeptide(sequence), protocol=protocol, seed=seed,
                                chunk_frames=n_frames, progress=False, command=command)
    except DataError as err:
        return {"error": str(err)}
    return {"frames": meta["n_frames"], "ns_per_day": meta.get("ns_per_day")}


def _client(scheduler: str | None, workers: int | None):
    from distributed import Client, LocalCluster

    logging.getLogger("distributed").setLevel(logging.WARNING)  # its default (INFO) buries the progress bar
    warnings.filterwarnings("ignore", message="Port .* is already in use")  # it then picks another port
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="30s"), None
        except (OSError, TimeoutError) as err:
            raise DataError(f"cannot reach the Dask scheduler at {scheduler}: {err}; check the address "
                            "(tcp://host:port) or leave --scheduler out for a local cluster") from None
    import dask

    n = workers or os.cpu_count() or 1
    # The worker processes configure their logging (and timeouts) from the environment when they
    # start: without this they print ~10 INFO lines each. Only the children see the variables.
    # Local workers share the machine with whatever else runs (a campaign at low priority behind a
    # training): the default 30-s comm timeouts then drop the scheduler connection, so they are long.
    child_env = {"DASK_LOGGING__DISTRIBUTED": "warning", **_LOCAL_TIMEOUTS_ENV}
    saved = {k: os.environ.get(k) for k in child_env}
    os.environ.update(child_env)
    try:
        with dask.config.set(_LOCAL_TIMEOUTS):
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            try:
                client = Client(cluster)
            except BaseException:  # e.g. Ctrl-C or SIGTERM while connecting: no worker left behind
                cluster.close()
                raise
    finally:
        for k, v in saved.items():
            if v is None:
                del os.environ[k]
            else:
                os.environ[k] = v
    return client, cluster


_LOCAL_TIMEOUTS = {"distributed.comm.timeouts.connect": "300s", "distributed.comm.timeouts.tcp": "600s"}
_LOCAL_TIMEOUTS_ENV = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "300s",
                       "DASK_DISTRIBUTED__COMM__TIMEOUTS__TCP": "600s"}


def generate_dipeptides(
    out_dir: str | Path,
    peptides,
    ns: float,
    *,
    runs: int = 1,
    protocol: MDProtocol = DIPEPTIDE_PROTOCOL,
    chunk_ns: float = 1.0,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> CampaignReport:
    """Run (or grow) reference MD of ``peptides`` to ``ns`` ns per run on Dask.

    Args:
      out_dir: campaign folder (``<SEQ>/run_XX`` inside).
      peptides: dipeptides or sets (:func:`scoremd.data.dipeptides.resolve_peptides`).
      ns: length of each run in ns; a larger value later grows the same runs.
      runs: independent runs per peptide (run r has seed :func:`peptide_seed` (peptide, r)).
      protocol: MD protocol (:data:`DIPEPTIDE_PROTOCOL` or :data:`PUBLISHED_PROTOCOL`, or your own).
      chunk_ns: ns per task (the most a killed worker loses).
      scheduler: address of a running Dask scheduler; None starts a local cluster.
      workers: local workers (default: one per core); ignored with ``scheduler``.
      progress: a tqdm bar over chunks on stderr.
      command: the command line, recorded in each run's metadata.

    Chunks are scheduled breadth first (every peptide's first chunk before any second), so an
    interrupted campaign has grown all peptides evenly.
    """
    from distributed import as_completed

    from .._progress import progress_bar

    seqs = resolve_peptides(peptides)
    if not ns > 0 or not chunk_ns > 0 or runs < 1:
        raise DataError("ns and chunk_ns must be positive and runs >= 1")
    total = int(round(ns * 1000 / protocol.frame_interval))
    step = max(1, int(round(chunk_ns * 1000 / protocol.frame_interval)))
    targets = list(range(step, total, step)) + [total]
    out = Path(out_dir)
    client, cluster = _client(scheduler, workers)
    out.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    try:
        chains: dict[tuple[str, int], object] = {}
        owner, every = {}, []
        for c, target in enumerate(targets):
            for seq in seqs:
                for r in range(runs):
                    fut = client.submit(
                        _grow, str(out / seq / f"run_{r:02d}"), seq, target, protocol, peptide_seed(seq, r),
                        command, chains.get((seq, r)), key=f"{seq}-run{r:02d}-{target}-{token}", priority=-c)
                    chains[(seq, r)] = fut
                    owner[fut.key] = (seq, r)
                    every.append(fut)
        bar = progress_bar(progress, len(owner), f"dipeptide MD ({len(seqs)} peptides x {runs} runs)", unit="chunk")
        failed: dict[str, str] = {}
        speed: dict[str, float] = {}
        for fut in as_completed(every):
            seq, _ = owner[fut.key]
            bar.update(1)
            if fut.status == "error":
                if seq not in failed:
                    failed[seq] = _message(fut.exception())
                continue
            try:
                result = fut.result()
            except CancelledError as err:  # the scheduler went away: no chunk result can come any more
                bar.close()
                raise DataError(f"the campaign lost its Dask scheduler ({err}); every finished chunk is on disk and "
                                "checked, so rerun the same command to continue where it stopped") from None
            if "error" in result:
                failed.setdefault(seq, result["error"])
            elif result.get("ns_per_day"):
                speed[seq] = result["ns_per_day"]
        bar.close()
        frames = {}
        for seq in seqs:
            if seq in failed:
                continue
            frames[seq] = [chains[(seq, r)].result()["frames"] for r in range(runs)]
        return CampaignReport(frames=frames, ns_per_day=speed, failed=failed)
    finally:
        try:
            client.close()
        finally:
            if cluster is not None:
                cluster.close()


def _message(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text if isinstance(err, DataError) else f"{type(err).__name__}: {text}"


__all__ = ["DIPEPTIDE_PROTOCOL", "PUBLISHED_PROTOCOL", "CampaignReport", "generate_dipeptides"]
