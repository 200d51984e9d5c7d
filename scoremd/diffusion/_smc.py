"""Sequential Monte Carlo along the reverse diffusion of an energy model (docs/design.md §4).

An energy model defines a density at every diffusion time, pi_t(x) ∝ exp(-E(x, t)). The reverse
SDE moves particles from t to t' < t with the score s = -grad E; where the energies at different
times are not one consistent diffusion (a learned model's are not), its samples drift away from
pi_{t_min}, the density whose force field the MD uses. Here the particles carry weights that
correct for that, after the sequential Monte Carlo samplers of Del Moral, Doucet & Jasra (2006):
a step t -> t' proposes x' ~ q(x' | x) (Euler-Maruyama of the reverse SDE) and multiplies the
weight by

    w = pi_{t'}(x') L(x | x') / (pi_t(x) q(x' | x)),

with the backward kernel L the exact forward transition of the VP diffusion from t' to t,
N(x; a x', (1 - a^2) I), a = m_t / m_{t'}. With an exact score and small steps w is constant;
constants of the energies (E is defined up to c(t)) cancel when the weights are normalised.
When the effective sample size 1 / sum w_i^2 (normalised weights) falls below
``ess_threshold`` x the particles, they are resampled (systematic resampling) and their weights
set equal; the last step always resamples, so the output is an unweighted population drawn
from pi_{t_min}, as the MD's Boltzmann density exp(-E(x, t_min)).

Resampled particles are copies; later noise separates them, but the samples of one population
(one chunk of :func:`~scoremd.diffusion.sample`) are not independent. Coordinates are the
network's normalised ones.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple, final

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ..sde import VPSDE
from ._samplers import AbstractSampler, CentreFn, EnergyFn, SamplerKernel, ScoreFn

__all__ = ["SMCInfo", "SMCReverseSDE", "SMCState", "systematic_resample"]


class SMCState(NamedTuple):
    """Particles at grid point ``i``: positions (B, *event) at t_i, normalised log weights (B,), and
    their energies E(x, t_i) (B,) and scores (B, *event), kept so that a step evaluates the model once."""

    positions: Float[Array, " B *event"]
    i: Int[Array, ""]
    log_weights: Float[Array, " B"]
    energy: Float[Array, " B"]
    score: Float[Array, " B *event"]


class SMCInfo(NamedTuple):
    """One step: the time stepped to, non-finite particles (B,), the effective sample size before
    resampling (a number of particles), and whether the step resampled."""

    time: Float[Array, ""]
    is_divergent: Bool[Array, " B"]
    ess: Float[Array, ""]
    resampled: Bool[Array, ""]


def systematic_resample(key: jax.Array, log_weights: Float[Array, " B"]) -> Int[Array, " B"]:
    """Indices of B particles drawn by systematic resampling from normalised log weights (B,).

    Particle i is copied floor(B w_i) or ceil(B w_i) times (the lowest-variance standard scheme).
    """
    b = log_weights.shape[0]
    cdf = jnp.cumsum(jnp.exp(log_weights))
    u = (jnp.arange(b, dtype=cdf.dtype) + jax.random.uniform(key, (), cdf.dtype)) / b
    return jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1]), b - 1)


def _sum_event(x):
    return jnp.sum(x.reshape(x.shape[0], -1), axis=-1)


@final
@dataclasses.dataclass(frozen=True)
class SMCReverseSDE(AbstractSampler):
    """The reverse SDE with importance weights and resampling from the model's energies.

    Attributes (besides :class:`AbstractSampler`'s):
      ess_threshold: resample when the effective sample size falls below this fraction of the
        particles, in (0, 1] (1: every step).
      t_stop: weigh and resample only down to this diffusion time, in [0, 1); the particles are
        resampled for the last time there and continue as the plain reverse SDE (0: to t_min).
        Near t_min the noise is too small to separate resampled copies again.
    """

    ess_threshold: float = 0.5
    t_stop: float = 0.0
    name: ClassVar[str] = "smc"
    default_rho: ClassVar[float] = 1.0
    score_evaluations_per_step: ClassVar[int] = 1  # one energy-and-gradient pass
    needs_energy: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.ess_threshold <= 1.0:
            raise ValueError(f"ess_threshold must lie in (0, 1], got {self.ess_threshold}")
        if not 0.0 <= self.t_stop < 1.0:
            raise ValueError(f"t_stop must lie in [0, 1), got {self.t_stop}")

    def kernel(self, score_fn: ScoreFn, sde: VPSDE, energy_fn: EnergyFn | None = None,
               centre_fn: CentreFn | None = None) -> SamplerKernel:
        """``centre_fn`` (x (B, *event) -> x without the directions E does not depend on, e.g. a
        molecule's centre of mass) makes the weights' Gaussian terms see only the directions the
        energy defines: along the others exp(-E) is flat, not a density."""
        del score_fn  # the score is -grad E, from the same pass as the energy
        if energy_fn is None:
            raise ValueError("SMCReverseSDE weighs its particles by the model's energy: pass energy_fn")
        centre = centre_fn or (lambda y: y)
        times = self.times(sde)
        threshold = self.ess_threshold
        # Grid points t_{i+1} >= t_stop are weighted; the last of them resamples for the last time.
        weighted = np.append(times[1:] >= self.t_stop, False)
        last = weighted[:-1] & ~weighted[1:]

        def energy_and_score(x, t):
            e, pullback = jax.vjp(lambda y: energy_fn(y, jnp.full(y.shape[:1], t, y.dtype)), x)
            (grad,) = pullback(jnp.ones_like(e))
            return e, -grad

        def normalise(log_w, finite):
            log_w = jnp.where(finite, log_w, -jnp.inf)
            return log_w - jax.scipy.special.logsumexp(log_w)

        def init(x, start=0) -> SMCState:
            start = jnp.asarray(start, jnp.int32)
            ts = jnp.asarray(times, x.dtype)
            e, s = energy_and_score(x, ts[start])
            # From the prior N(0, I) at t = 1 the first target is pi_1 ∝ exp(-E(x, 1)); frames
            # diffused from data (regeneration) start with equal weights.
            log_w = jnp.where(start == 0, -e + 0.5 * _sum_event(centre(x) ** 2), jnp.zeros_like(e))
            return SMCState(x, start, normalise(log_w, jnp.isfinite(e)), e, s)

        def step(key, state: SMCState) -> tuple[SMCState, SMCInfo]:
            x, i, log_w, e, s = state
            ts = jnp.asarray(times, x.dtype)
            t, t_next = ts[i], ts[i + 1]
            k_noise, k_resample = jax.random.split(key)
            h, beta = t - t_next, sde.beta(t)
            z = jax.random.normal(k_noise, x.shape, x.dtype)
            x_new = x + (0.5 * beta * x + beta * s) * h + jnp.sqrt(beta * h) * z
            e_new, s_new = energy_and_score(x_new, t_next)
            # Forward transition t_next -> t: x = a x_new + sqrt(1 - a^2) eps.
            d_int = sde.integrated_beta(t) - sde.integrated_beta(t_next)
            a, var = jnp.exp(-0.5 * d_int), -jnp.expm1(-d_int)
            log_backward = -0.5 * _sum_event(centre(x - a * x_new) ** 2) / var
            log_proposal = -0.5 * _sum_event(centre(z) ** 2)
            finite = jnp.isfinite(e_new) & jnp.all(jnp.isfinite(x_new.reshape(x.shape[0], -1)), axis=-1)
            active = jnp.asarray(weighted)[i]
            log_w = normalise(log_w + jnp.where(active, (e - e_new) + log_backward - log_proposal, 0.0), finite)
            ess = 1.0 / jnp.sum(jnp.exp(2.0 * log_w))
            resample = active & ((ess < threshold * x.shape[0]) | jnp.asarray(last)[i])
            idx = jnp.where(resample, systematic_resample(k_resample, log_w), jnp.arange(x.shape[0]))
            log_w = jnp.where(resample, jnp.full_like(log_w, -jnp.log(x.shape[0])), log_w)
            new = SMCState(x_new[idx], i + 1, log_w, e_new[idx], s_new[idx])
            return new, SMCInfo(t_next, ~finite[idx], ess, resample)

        def finalize(state: SMCState):
            if not self.final_denoise:
                return state.positions
            return (state.positions + sde.std(sde.t_min) ** 2 * state.score) / sde.mean_coeff(sde.t_min)

        return SamplerKernel(init, step, finalize)
