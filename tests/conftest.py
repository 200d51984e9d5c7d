"""Shared fixtures and the strict numerics harness.

Stochastic tests use fixed keys; tolerances are k * (standard error) with k = 5.
Every test runs with JAX's strict dtype promotion (no silent float32 -> float64 or
int -> float mixing) and with implicit rank promotion (broadcasting arrays of
different rank) raising, so shape bugs surface as errors, not as wrong numbers.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
# One CPU device, as JAX's own default: results do not depend on the machine's core count. The
# default split into one device per core (scoremd.parallel.split_cpu_cores) and two-device runs
# are tested in subprocesses (tests/test_parallel.py).
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_debug_nans", False)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(scope="session")
def aldp():
    """All-atom alanine dipeptide built from internal coordinates: (OpenMM topology, 20 jittered
    copies of its positions (20, 22, 3) in nm)."""
    import numpy as np
    from openmm import app, unit

    from scoremd.data.structures import build_alanine_dipeptide

    top, pos = build_alanine_dipeptide(app.ForceField("amber99sbildn.xml", "amber99_obc.xml"), -80.0, 150.0)
    x = np.array(pos.value_in_unit(unit.nanometer))
    rng = np.random.default_rng(0)  # a small set of distorted conformations to compare angles on
    return top, x[None] + 0.02 * rng.normal(size=(20, *x.shape))


@pytest.fixture
def getkey():
    """Fresh, deterministic PRNG keys: getkey() -> key 0, 1, 2, ..."""
    counter = iter(range(10**6))
    return lambda: jax.random.PRNGKey(next(counter))
