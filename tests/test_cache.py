"""The compile cache: hits reuse, least recently used is evicted, unhashable keys build afresh;
simulate compiles once per chunk length, also for an unhashable force function."""

import jax
import jax.numpy as jnp
import numpy as np

from scoremd.dynamics import LangevinMiddle
from scoremd.dynamics import _simulate as dynamics
from scoremd._cache import CompileCache


class _Counter:
    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return object()


def test_hit_reuses_and_lru_evicts_oldest():
    cache, build = CompileCache(maxsize=2), _Counter()
    a = cache.get("a", build)
    cache.get("b", build)
    assert cache.get("a", build) is a and build.n == 2  # hit, and "a" is now the most recent
    cache.get("c", build)  # evicts "b", the least recently used
    assert [k for k, _ in cache.items()] == ["a", "c"]
    assert cache.get("a", build) is a and build.n == 3
    cache.get("b", build)
    assert build.n == 4


def test_unhashable_key_builds_every_time():
    cache, build = CompileCache(), _Counter()
    first, second = cache.get(["not", "hashable"], build), cache.get(["not", "hashable"], build)
    assert first is not second and build.n == 2 and not list(cache.items())


class _UnhashableForce:
    """A force function object with __eq__ but no __hash__ (so Python makes it unhashable)."""

    def __eq__(self, other):
        return isinstance(other, _UnhashableForce)

    __hash__ = None

    def __call__(self, x):
        return -10.0 * x


def test_simulate_compiles_at_most_twice_per_call(monkeypatch):
    """7 frames in chunks of 3: one chunk length of 3 and one of 1, each compiled once."""
    built = []
    real = dynamics._make_chunk
    monkeypatch.setattr(dynamics, "_make_chunk", lambda *a, **k: built.append(a[1:]) or real(*a, **k))
    force = _UnhashableForce()
    x0 = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 3)) * 0.1, jnp.float32)
    cfg = LangevinMiddle(kbt=2.5, friction=1.0, dt=0.002)
    traj = dynamics.simulate(cfg, force, x0, jnp.ones(3), 7, 5, key=jax.random.PRNGKey(0), frames_per_chunk=3).frames
    assert traj.shape == (7, 2, 3, 3) and np.isfinite(traj).all()
    assert len(built) == 2, built
