"""Data parallelism through ``jax.sharding`` (docs/design.md D11).

Training shards each batch over the devices and replicates the parameters
(the compiler inserts the gradient all-reduce; on a CPU ``fit`` uses one device
unless given more, see :func:`scoremd.training.fit`); MD and the samplers shard
their independent replicas and samples the same way. There is no distribution layer of our own: on several
hosts, call :func:`initialize_distributed` (``jax.distributed.initialize`` plus CPU
collectives) first and ``jax.devices()`` spans them all.

On a CPU JAX makes one device of all cores; independent replicas and samples run faster
on one device per core (measured on 2 cores: MD of 100 replicas 2.2x, 1000 replicas 1.3x;
one device alone is as fast as before). :func:`split_cpu_cores`, called when scoremd is
imported, asks JAX for that, unless JAX has already started or the user chose a count
(``JAX_NUM_CPU_DEVICES``, ``jax_num_cpu_devices`` or ``XLA_FLAGS=
--xla_force_host_platform_device_count``); ``JAX_NUM_CPU_DEVICES=1`` keeps one device.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


MAX_CPU_DEVICES = 8
"""At most this many CPU devices by default (batches must divide evenly over them)."""


def split_cpu_cores(n: int | None = None) -> int | None:
    """Ask JAX for one CPU device per core (at most :data:`MAX_CPU_DEVICES`), before JAX starts.

    Does nothing (returns None) when the user chose a CPU device count (the environment
    variable ``JAX_NUM_CPU_DEVICES``, the config ``jax_num_cpu_devices`` or ``XLA_FLAGS``
    with ``--xla_force_host_platform_device_count``), when JAX's backends have already
    started, or on a single core. It only changes the CPU backend: GPUs and TPUs stay the
    default devices where present. ``fit`` still trains on one CPU device unless told
    otherwise (see :func:`scoremd.training.fit`).

    Returns:
      The number of CPU devices asked for, or None.
    """
    if "JAX_NUM_CPU_DEVICES" in os.environ or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return None
    if jax.config.jax_num_cpu_devices != -1:  # set in this process
        return None
    if n is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = min(cores, MAX_CPU_DEVICES)
    if n < 2:
        return None
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError:  # JAX has already started: its device count stays
        return None
    return int(n)


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Join a multi-process JAX job (several hosts, or several processes on one) before any JAX work.

    A thin call of ``jax.distributed.initialize``: with no arguments it detects the cluster
    (SLURM, Open MPI, Kubernetes; or the ``JAX_COORDINATOR_ADDRESS`` environment variable);
    otherwise ``coordinator`` ("host:port" of process 0), ``num_processes`` and this
    ``process_id``. On CPUs the processes' collectives go through gloo (TCP). Afterwards
    ``jax.devices()`` lists every process's devices and :func:`scoremd.training.fit` trains on
    all of them (each process runs the same program on the same data; process 0 writes the
    metrics).
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # only used on CPU devices
    jax.distributed.initialize(coordinator, num_processes, process_id)


class BatchSharding(NamedTuple):
    """Shardings of one data-parallel layout over a 1-D device mesh."""

    batch: NamedSharding  # leading axis split over the devices
    replicated: NamedSharding  # a full copy on every device


def batch_sharding(n: int, devices: Sequence[jax.Device] | None = None) -> BatchSharding | None:
    """The layout that splits a leading axis of length ``n`` over ``devices`` (default: all).

    Returns None (run unsharded) on a single device or when the number of
    devices does not divide ``n``.
    """
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < 2 or n % len(devices):
        return None
    mesh = Mesh(np.array(devices), ("batch",))
    return BatchSharding(NamedSharding(mesh, PartitionSpec("batch")), NamedSharding(mesh, PartitionSpec()))
