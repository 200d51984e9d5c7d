"""Data parallelism through ``jax.sharding`` (docs/design.md D11).

Training shards each batch over the devices and replicates the parameters
(the compiler inserts the gradient all-reduce; on a CPU ``fit`` uses one device
unless given more, see :func:`scoremd.training.fit`); MD and the samplers shard
their independent replicas and samples the same way. There is no distribution layer of our own: on several
hosts, call :func:`initialize_distributed` (``jax.distributed.initialize`` plus CPU
collectives) first and ``jax.devices()`` spans them all. On a CPU,
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (set before JAX starts) splits the
cores into N devices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


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
