"""i.i.d. samplers of the reverse diffusion, as pure ``init`` / ``step`` kernels (docs/design.md §4).

* :class:`ReverseSDE`: Euler-Maruyama on the reverse-time SDE (Song et al. 2021,
  eq. 6) from t = 1 to t_min, x <- x + [1/2 beta x + beta s] dt + sqrt(beta dt) xi.
* :class:`ProbabilityFlowODE`: Heun's method on the probability-flow ODE
  dx/dt = -1/2 beta(t) (x + s(x, t)) (Song et al. 2021, eq. 13).

Both end with one denoising step x0 = (x + sigma^2 s) / m at t_min (Tweedie;
D7). :class:`~scoremd.diffusion.SMCReverseSDE` (``scoremd.diffusion._smc``) reweights and
resamples the reverse SDE's particles with the model's energies. ``sampler.kernel(score_fn, sde)``
(energy samplers: ``kernel(score_fn, sde, energy_fn)``) returns the blackjax-shaped pair::

    state = kernel.init(x1)                     # x1 ~ N(0, I) at t = 1 (or init(x, start) at grid point start)
    state, info = kernel.step(key, state)       # one step down the time grid
    x0 = kernel.finalize(state)                 # the denoising step

and :func:`sample` is a thin driver over it that draws any number of samples
in chunks of fixed size (the last one padded), so memory is bounded and the
chunk is compiled once. Everything here is in the network's normalised,
dimensionless coordinates; ``score_fn(x, t) -> s`` with x (B, *event), t (B,), and
``energy_fn(x, t) -> E`` (B,) with s = -grad_x E.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar, NamedTuple, final

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._cache import CompileCache
from .._checks import positive_float, positive_int
from .._progress import Progress, progress_bar
from ..parallel import batch_sharding
from ..sde import VPSDE
from ..storage import check_allocation

__all__ = ["AbstractIntegrator", "AbstractSampler", "ProbabilityFlowODE", "ReverseSDE", "SamplerInfo",
           "SamplerKernel", "SamplerState", "regenerate", "sample", "time_grid"]

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]
EnergyFn = Callable[[jax.Array, jax.Array], jax.Array]
CentreFn = Callable[[jax.Array], jax.Array]


def time_grid(sde: VPSDE, n_steps: int, rho: float = 1.0) -> np.ndarray:
    """Decreasing integration times from 1 to t_min, shape (n_steps + 1,).

    t_i = t_min + (1 - t_min) (1 - i/n)^rho: rho = 1 is uniform (the paper's
    reverse SDE); rho > 1 concentrates steps at small t, where the score is
    stiff (~1/sigma_t^2) and a deterministic solver needs them.
    """
    u = 1.0 - np.arange(n_steps + 1) / n_steps
    return sde.t_min + (1.0 - sde.t_min) * u**rho


class SamplerState(NamedTuple):
    """Samples at grid point ``i``: positions (B, *event) at time t_i."""

    positions: Float[Array, " B *event"]
    i: Int[Array, ""]


class SamplerInfo(NamedTuple):
    """What one step reports: the time stepped to, and which samples are not finite (B,)."""

    time: Float[Array, ""]
    is_divergent: Bool[Array, " B"]


class SamplerKernel(NamedTuple):
    """``init(x, start=0) -> state`` (x at grid point ``start``), ``step(key, state) -> (state, info)``,
    ``finalize(state) -> x0``."""

    init: Callable
    step: Callable
    finalize: Callable


def _times(score_fn: ScoreFn, x, t):
    return score_fn(x, jnp.full(x.shape[:1], t, x.dtype))


@dataclasses.dataclass(frozen=True)
class AbstractSampler(abc.ABC):
    """A reverse-diffusion sampler on a time grid from t = 1 to t_min.

    Attributes:
      n_steps: integration steps, > 0.
      rho: time-grid exponent (see :func:`time_grid`), > 0; None: the sampler's default.
      final_denoise: apply the Tweedie denoising step at t_min.
    """

    n_steps: int = 1000
    rho: float | None = None
    final_denoise: bool = True
    name: ClassVar[str]
    default_rho: ClassVar[float]
    score_evaluations_per_step: ClassVar[int]
    needs_energy: ClassVar[bool] = False  # kernel() needs the energy function, not only the score

    def __post_init__(self):
        object.__setattr__(self, "n_steps", positive_int(self.n_steps, "the sampler's number of steps"))
        if self.rho is not None:
            object.__setattr__(self, "rho", positive_float(self.rho, "the time-grid exponent rho"))

    def times(self, sde: VPSDE) -> np.ndarray:
        """The decreasing time grid, shape (n_steps + 1,)."""
        return time_grid(sde, self.n_steps, self.default_rho if self.rho is None else self.rho)

    @abc.abstractmethod
    def kernel(self, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None = None,
               centre_fn: CentreFn | None = None) -> SamplerKernel:
        """The sampler as an ``init``/``step``/``finalize`` triple on this sampler's time grid.

        ``score_fn`` maps (x (B, *event), t (B,)) to the score (B, *event); ``energy_fn`` maps the
        same to E (B,) and is required when ``needs_energy``; ``centre_fn`` removes the directions
        the energy does not depend on (a molecule's centre of mass)."""


@dataclasses.dataclass(frozen=True)
class AbstractIntegrator(AbstractSampler):
    """A sampler that moves each particle on its own by one integration rule, ``_update``."""

    @abc.abstractmethod
    def _update(self, score_fn: ScoreFn, sde: VPSDE, key, x, t, t_next):
        """x at t -> x at t_next (< t)."""

    def kernel(self, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None = None,
               centre_fn: CentreFn | None = None) -> SamplerKernel:
        del energy_fn, centre_fn  # the integrators need only the score
        times = self.times(sde)

        def init(x, start=0) -> SamplerState:
            return SamplerState(x, jnp.asarray(start, jnp.int32))

        def step(key, state: SamplerState) -> tuple[SamplerState, SamplerInfo]:
            x, i = state
            ts = jnp.asarray(times, x.dtype)
            x = self._update(score_fn, sde, key, x, ts[i], ts[i + 1])
            bad = ~jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=-1)
            return SamplerState(x, i + 1), SamplerInfo(ts[i + 1], bad)

        def finalize(state: SamplerState):
            x = state.positions
            if not self.final_denoise:
                return x
            s = _times(score_fn, x, sde.t_min)
            return (x + sde.std(sde.t_min) ** 2 * s) / sde.mean_coeff(sde.t_min)

        return SamplerKernel(init, step, finalize)


@final
@dataclasses.dataclass(frozen=True)
class ReverseSDE(AbstractIntegrator):
    """Euler-Maruyama on the reverse-time SDE (the paper's sampler; uniform grid by default)."""

    name: ClassVar[str] = "sde"
    default_rho: ClassVar[float] = 1.0
    score_evaluations_per_step: ClassVar[int] = 1

    def _update(self, score_fn, sde, key, x, t, t_next):
        dt = t - t_next
        beta = sde.beta(t)
        s = _times(score_fn, x, t)
        noise = jax.random.normal(key, x.shape, x.dtype)
        return x + (0.5 * beta * x + beta * s) * dt + jnp.sqrt(beta * dt) * noise


@final
@dataclasses.dataclass(frozen=True)
class ProbabilityFlowODE(AbstractIntegrator):
    """Heun's method on the probability-flow ODE (deterministic; grid rho = 3 by default)."""

    name: ClassVar[str] = "ode"
    default_rho: ClassVar[float] = 3.0
    score_evaluations_per_step: ClassVar[int] = 2

    def _update(self, score_fn, sde, key, x, t, t_next):
        del key

        def drift(y, s):
            return -0.5 * sde.beta(s) * (y + _times(score_fn, y, s))

        h = t_next - t
        d1 = drift(x, t)
        d2 = drift(x + h * d1, t + h)
        return x + 0.5 * h * (d1 + d2)


def _kernel(sampler: AbstractSampler, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None,
            centre_fn: CentreFn | None) -> SamplerKernel:
    if sampler.needs_energy and energy_fn is None:
        raise ValueError(f"the {sampler.name!r} sampler weighs its particles by the model's energy: pass energy_fn")
    return sampler.kernel(score_fn, sde, energy_fn, centre_fn)


def _integrate(kernel: SamplerKernel, key, state, start: int, stop: int):
    """Steps start .. stop - 1 of the kernel's grid from ``state``, then the final step."""

    def body(_, carry):
        state, key = carry
        key, sub = jax.random.split(key)
        state, _ = kernel.step(sub, state)
        return state, key

    state, _ = jax.lax.fori_loop(start, stop, body, (state, key))
    return kernel.finalize(state)


def _make_chunk(sampler: AbstractSampler, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None,
                centre_fn: CentreFn | None):
    kernel = _kernel(sampler, score_fn, sde, energy_fn, centre_fn)
    return jax.jit(lambda key, x: _integrate(kernel, key, kernel.init(x), 0, sampler.n_steps))


_COMPILED = CompileCache(maxsize=8)


def sample(
    sampler: AbstractSampler,
    score_fn: ScoreFn,
    sde: VPSDE,
    n: int,
    event_shape,
    *,
    key: jax.Array,
    chunk_size: int = 10_000,
    dtype=jnp.float32,
    progress: Progress = False,
    devices=None,
    energy_fn: EnergyFn | None = None,
    centre_fn: CentreFn | None = None,
) -> np.ndarray:
    """Draw ``n`` samples by integrating the reverse diffusion.

    Args:
      sampler: the integrator and its grid, e.g. ``ReverseSDE(n_steps=1000)`` or
        ``ProbabilityFlowODE(n_steps=50)``.
      score_fn: batched score s(x, t) in normalised coordinates.
      sde: the diffusion process (defines beta(t), t_min).
      n: number of samples, > 0 (refused with ValueError when the result would not fit in memory).
      event_shape: shape of one sample.
      key: PRNG key; the same key gives the same samples.
      chunk_size: samples integrated at once; bounds memory.
      progress: ``True`` for a progress bar over chunks, or a callable (:mod:`scoremd._progress`).
      devices: devices to split each chunk over (default ``jax.devices()``; one device,
        or a count that does not divide the chunk, runs unsplit; docs/design.md D11).
      energy_fn: batched energy E(x, t) (B,) with score_fn = -grad_x E; needed by samplers with
        ``needs_energy`` (:class:`~scoremd.diffusion.SMCReverseSDE`, whose particles are one
        population per chunk: resampled copies are not independent).
      centre_fn: x (B, *event) -> x without the directions the energy does not depend on (a
        molecule's centre of mass), for samplers with ``needs_energy``; default none.

    The compiled chunk is cached per (sampler, score and energy functions, SDE), so a second call
    with the same score function does not compile again (a score function that reads a
    global changed between calls keeps the value it was compiled with).

    Returns:
      Samples in normalised coordinates, shape (n, *event_shape), numpy.
    """
    if not isinstance(sampler, AbstractSampler):
        raise TypeError(f"sampler must be a scoremd.diffusion sampler (e.g. ReverseSDE()), got {sampler!r}")
    n, chunk_size = positive_int(n, "the number of samples"), positive_int(chunk_size, "chunk_size")
    event_shape = tuple(event_shape)
    check_allocation(n * math.prod(event_shape) * np.dtype(dtype).itemsize, f"{n} samples of shape {event_shape}")
    run = _COMPILED.get((sampler, score_fn, energy_fn, centre_fn, sde),
                        lambda: _make_chunk(sampler, score_fn, sde, energy_fn, centre_fn))
    chunk = min(chunk_size, n)
    n_chunks = math.ceil(n / chunk)
    out = np.empty((n_chunks * chunk, *event_shape), np.dtype(dtype))
    keys = jax.random.split(key, n_chunks)
    layout = batch_sharding(chunk, devices)
    bar = progress_bar(progress, n_chunks, f"sample ({sampler.name})")
    try:
        for i in range(n_chunks):
            k_prior, k_path = jax.random.split(keys[i])
            x1 = sde.prior_sample(k_prior, (chunk, *event_shape), dtype)
            if layout is not None:
                x1 = jax.device_put(x1, layout.batch)
            out[i * chunk : (i + 1) * chunk] = np.asarray(run(k_path, x1))
            bar.update(1)
    finally:
        bar.close()
    return out[:n]


def regenerate(
    sampler: AbstractSampler,
    score_fn: ScoreFn,
    sde: VPSDE,
    x0,
    t0: float,
    *,
    key: jax.Array,
    energy_fn: EnergyFn | None = None,
    centre_fn: CentreFn | None = None,
) -> tuple[np.ndarray, float]:
    """Diffuse data to t0 and integrate the sampler's grid from there down to t_min.

    With an exact score the result is distributed like ``x0`` for every t0 (up to the grid's
    discretisation error), so comparing a statistic of the output for several t0 (e.g. a basin
    population) shows in which range of diffusion times a learned score loses it; t0 = 1 is
    ordinary sampling from data-free noise, t0 -> 0 returns the data.

    Args:
      sampler: integrator and grid; integration starts at the grid time closest to t0.
      score_fn: batched score s(x, t) in normalised coordinates.
      sde: the diffusion process.
      x0: clean samples (B, *event) in normalised coordinates, integrated as one batch (memory
        grows with B; pass tens of thousands of frames, not millions).
      t0: diffusion time in [t_min, 1] to start from.
      key: PRNG key (noise of the forward diffusion and of the sampler).
      energy_fn, centre_fn: as for :func:`sample` (an SMC sampler starts from equal weights at t0).

    The compiled integration is cached per (sampler, score and energy functions, SDE) and batch shape,
    like :func:`sample`'s, so a profile over several t0 and batches compiles once.

    Returns:
      (samples (B, *event) in normalised coordinates, numpy; the grid time actually used).
    """
    x0 = jnp.asarray(x0)
    if not (x0.ndim >= 2 and jnp.all(jnp.isfinite(x0))):
        raise ValueError(f"x0 must be finite samples of shape (B, *event), got shape {x0.shape}")
    if not sde.t_min <= t0 <= 1.0:
        raise ValueError(f"t0 must lie in [t_min = {sde.t_min:g}, 1], got {t0}")
    times = sampler.times(sde)
    start = int(np.argmin(np.abs(times - t0)))
    key_fwd, key_path = jax.random.split(key)
    xt, _ = sde.marginal(key_fwd, x0, jnp.full((x0.shape[0],), times[start], x0.dtype))

    run = _COMPILED_REGENERATE.get((sampler, score_fn, energy_fn, centre_fn, sde),
                                   lambda: _make_regenerate(sampler, score_fn, sde, energy_fn, centre_fn))
    return np.asarray(run(key_path, xt, jnp.asarray(start, jnp.int32))), float(times[start])


def _make_regenerate(sampler: AbstractSampler, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None,
                     centre_fn: CentreFn | None):
    """The jitted integration from a traced start index: one compilation serves every t0."""
    kernel = _kernel(sampler, score_fn, sde, energy_fn, centre_fn)
    return jax.jit(lambda key, x, start: _integrate(kernel, key, kernel.init(x, start), start, sampler.n_steps))


_COMPILED_REGENERATE = CompileCache(maxsize=8)
