"""Shared fixtures. Stochastic tests use fixed keys; tolerances are k * (standard error) with k = 5."""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_debug_nans", False)


@pytest.fixture
def getkey():
    """Fresh, deterministic PRNG keys: getkey() -> key 0, 1, 2, ..."""
    counter = iter(range(10**6))
    return lambda: jax.random.PRNGKey(next(counter))
