"""The Fokker-Planck residual of an energy-based diffusion model (docs/design.md §3).

For dx = f dt + g dW the log-density of the marginals obeys

    d/dt log p = 1/2 g^2 (div s + |s|^2) - f . s - div f.

For the VP SDE, f = -1/2 beta x and g^2 = beta, so a model with log q = -E and
s = -grad E has the residual (Plainer et al. 2025, eq. 8)

    r(x, t) = d/dt log q - 1/2 beta(t) (div s + |s|^2 + x . s + D),

which vanishes for the true diffused density (up to an x-independent c(t) that
an unnormalised model absorbs). The divergence is estimated with random probes
v ~ N(0, I) (Hutchinson: E[v^T (grad s) v] = div s); two independent estimates
r1, r2 give the unbiased square E[r1 r2] = r^2.

Three estimators, final classes on :class:`AbstractFPEstimator`, share this interface:

* :class:`ExactFP` (D4, default): one reverse pass of sum_b E(x_b, t_b) gives
  the score and d/dt E together; one forward-mode ``jax.jvp`` of that pass per
  probe (vmapped, primal shared) gives v^T (grad s) v.
* :class:`TaylorFP`: the same score and dE/dt pass; v^T (grad s) v from a second-order
  forward Taylor pass per probe (``jax.experimental.jet``) instead of forward-over-reverse.
* :class:`FiniteDifferenceFP`: finite differences as in the paper: central
  differences of the score along h v (h = 1e-4), and a one-sided 3-point
  stencil in t with steps 5e-4 and 1e-3, (-3 E(t) + 4 E(t + h_t) - E(t + 2 h_t)) / (2 h_t)
  (the paper's reference code uses the points t + 5e-4, t, t - 1e-3 instead).

All quantities are in the network's normalised coordinates and k_BT units.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable
from typing import ClassVar, final

import jax
import jax.numpy as jnp
import numpy as np

from ..sde import VPSDE

__all__ = ["AbstractFPEstimator", "ExactFP", "FP_ESTIMATORS", "FiniteDifferenceFP", "TaylorFP", "fp_error_curve",
           "fp_error_curves", "fp_loss", "fp_residual"]

EnergyFn = Callable[[jax.Array, jax.Array], jax.Array]
"""energy_fn(x, t) -> E, x (B, *event), t (B,) -> (B,), in k_BT."""



def _flat_dot(a, b):
    return jnp.sum((a * b).reshape(a.shape[0], -1), axis=-1)


def _score(energy_fn: EnergyFn, t):
    return lambda y: -jax.grad(lambda z: jnp.sum(energy_fn(z, t)))(y)


@dataclasses.dataclass(frozen=True)
class AbstractFPEstimator(abc.ABC):
    """Estimates the terms of the residual that need derivatives of the energy."""

    name: ClassVar[str]

    @abc.abstractmethod
    def terms(self, energy_fn: EnergyFn, x: jax.Array, t: jax.Array, probes: jax.Array):
        """(score (B, *event), dE/dt (B,), v^T (grad s) v per probe (P, B))."""


@final
@dataclasses.dataclass(frozen=True)
class ExactFP(AbstractFPEstimator):
    """Autodiff: one forward-over-reverse sweep per probe (no step sizes; D4)."""

    name: ClassVar[str] = "exact"

    def terms(self, energy_fn, x, t, probes):
        # One reverse pass of sum_b E_b gives grad_x E and, as sample b's energy depends on
        # t_b alone, dE_b/dt_b. One forward-mode pass of that (vmapped over the probes,
        # primal shared) adds v^T (grad s) v: the whole residual from a single
        # forward-over-reverse sweep.
        grad_xt = jax.grad(lambda y, tt: jnp.sum(energy_fn(y, tt)), argnums=(0, 1))

        def quad_form(v):
            (g_x, g_t), (hv, _) = jax.jvp(grad_xt, (x, t), (v, jnp.zeros_like(t)))
            return g_x, g_t, -_flat_dot(v, hv)

        g_x, g_t, vjv = jax.vmap(quad_form, out_axes=(None, None, 0))(probes)
        return -g_x, g_t, vjv


@final
@dataclasses.dataclass(frozen=True)
class TaylorFP(AbstractFPEstimator):
    """Taylor mode: one reverse pass gives the score and dE/dt; v^T (grad^2 E) v per probe is the
    second coefficient of a forward Taylor expansion of E along v (``jax.experimental.jet``), a
    forward pass carrying two extra series instead of forward-over-reverse (no step sizes).

    Equals :class:`ExactFP` to rounding (tested in float64). Needs every primitive of the
    network to have a jet rule (the MLPs do; ``lax.cond`` of a mixture does not: train experts,
    as the mixture recipes do, not the mixture as a whole).
    """

    name: ClassVar[str] = "taylor"

    def terms(self, energy_fn, x, t, probes):
        from jax.experimental import jet

        g_x, g_t = jax.grad(lambda y, tt: jnp.sum(energy_fn(y, tt)), argnums=(0, 1))(x, t)

        def quad_form(v):
            _, (_, second) = jet.jet(lambda y: energy_fn(y, t), (x,), ((v, jnp.zeros_like(v)),))
            return -second  # v^T (grad s) v = -v^T (grad^2 E) v

        return -g_x, g_t, jax.vmap(quad_form)(probes)


@final
@dataclasses.dataclass(frozen=True)
class FiniteDifferenceFP(AbstractFPEstimator):
    """Finite differences (the paper's estimator): steps in x and t, normalised units.

    Attributes:
      space_step: h of the central difference of the score along probes.
      time_step: h_t of the one-sided 3-point stencil in t.
    """

    space_step: float = 1e-4
    time_step: float = 5e-4
    name: ClassVar[str] = "fd"

    def terms(self, energy_fn, x, t, probes):
        h_t, h = self.time_step, self.space_step
        e0, e1, e2 = (energy_fn(x, t + k * h_t) for k in (0, 1, 2))
        de_dt = (-3.0 * e0 + 4.0 * e1 - e2) / (2.0 * h_t)
        score_fn = _score(energy_fn, t)

        def quad_form(v):
            return _flat_dot(v, score_fn(x + h * v) - score_fn(x - h * v)) / (2.0 * h)

        return score_fn(x), de_dt, jax.vmap(quad_form)(probes)


FP_ESTIMATORS: dict[str, type[AbstractFPEstimator]] = {c.name: c for c in (ExactFP, TaylorFP, FiniteDifferenceFP)}
"""The estimators by their configuration name."""


def fp_residual(
    energy_fn: EnergyFn,
    sde: VPSDE,
    x: jax.Array,
    t: jax.Array,
    probes: jax.Array,
    estimator: AbstractFPEstimator = ExactFP(),
) -> jax.Array:
    """Probe estimates of the Fokker-Planck residual r(x, t).

    Args:
      energy_fn: batched energy E(x, t) in k_BT.
      sde: the VP SDE (beta(t)).
      x: noisy samples, shape (B, *event).
      t: diffusion times, shape (B,).
      probes: divergence probes, shape (P, B, *event); one estimate per probe.
      estimator: :class:`ExactFP` or :class:`FiniteDifferenceFP`.

    Returns:
      Residual estimates of shape (P, B); their mean over probes estimates r.
    """
    if not isinstance(estimator, AbstractFPEstimator):
        raise TypeError(f"estimator must be ExactFP() or FiniteDifferenceFP(), got {estimator!r}")
    dim = math.prod(x.shape[1:])
    s, de_dt, vjv = estimator.terms(energy_fn, x, t, probes)
    beta = sde.beta(t).astype(x.dtype)
    deterministic = -de_dt - 0.5 * beta * (_flat_dot(s, s) + _flat_dot(x, s) + dim)
    return deterministic[None, :] - 0.5 * beta[None, :] * vjv


def fp_loss(
    energy_fn: EnergyFn,
    sde: VPSDE,
    key: jax.Array,
    x0: jax.Array,
    t_range: tuple[float, float],
    estimator: AbstractFPEstimator = ExactFP(),
) -> jax.Array:
    """Unbiased estimate of E_t E_{x_t} r(x_t, t)^2 / D^2 with t ~ U(t_range).

    Two independent probes per sample give r1, r2 and the estimate r1 r2
    (which can be negative for a single batch; its expectation is r^2).

    Args:
      energy_fn: batched energy in k_BT.
      sde: the VP SDE.
      key: PRNG key (times, noise, probes).
      x0: clean normalised samples, shape (B, *event).
      t_range: (lo, hi) of the uniform time density.
      estimator: :class:`ExactFP` or :class:`FiniteDifferenceFP`.
    """
    key_t, key_x, key_v = jax.random.split(key, 3)
    lo, hi = t_range
    t = jax.random.uniform(key_t, x0.shape[:1], x0.dtype, lo, hi)
    xt, _ = sde.marginal(key_x, x0, t)
    probes = jax.random.normal(key_v, (2, *x0.shape), x0.dtype)
    r = fp_residual(energy_fn, sde, xt, t, probes, estimator)
    dim = math.prod(x0.shape[1:])
    return jnp.mean(r[0] * r[1]) / dim**2


def fp_error_curves(
    energy_fn: EnergyFn,
    sde: VPSDE,
    key: jax.Array,
    x0: jax.Array,
    times,
    n_probes: int = 8,
    estimator: AbstractFPEstimator = ExactFP(),
) -> tuple[np.ndarray, np.ndarray]:
    """Both diagnostics of :func:`fp_error_curve` from one pass: (Var_x r / D^2, E_x r^2 / D^2),
    each of shape (len(times),)."""
    dim = math.prod(x0.shape[1:])
    n = x0.shape[0]
    if n < 2:
        raise ValueError(f"the FP error needs at least 2 samples, got {n}")

    @jax.jit
    def at(key, t):
        key_x, key_v = jax.random.split(key)
        tt = jnp.full(x0.shape[:1], t, x0.dtype)
        xt, _ = sde.marginal(key_x, x0, tt)
        probes = jax.random.normal(key_v, (2 * n_probes, *x0.shape), x0.dtype)
        r = fp_residual(energy_fn, sde, xt, tt, probes, estimator)
        r1, r2 = r[:n_probes].mean(0), r[n_probes:].mean(0)
        centred = jnp.sum((r1 - jnp.mean(r1)) * (r2 - jnp.mean(r2))) / (n - 1) / dim**2
        return centred, jnp.mean(r1 * r2) / dim**2

    keys = jax.random.split(key, len(times))
    values = np.array([[float(v) for v in at(k, float(t))] for k, t in zip(keys, times)]).reshape(-1, 2)
    return values[:, 0], values[:, 1]


def fp_error_curve(
    energy_fn: EnergyFn,
    sde: VPSDE,
    key: jax.Array,
    x0: jax.Array,
    times,
    n_probes: int = 8,
    estimator: AbstractFPEstimator = ExactFP(),
    *,
    centred: bool = True,
):
    """Diagnostic: how far the energy is from solving the Fokker-Planck equation, at each time.

    With ``centred`` (default), the variance over x of the residual, Var_x r(x, t) / D^2:
    gauge invariant, since adding an x-independent c(t) to the energy (which changes no
    score, sample or force) shifts r by c'(t) for every x alike. Without it, the mean
    square E_x r(x, t)^2 / D^2, which is what the training loss penalises but also
    counts c'(t). Both are unbiased: two independent probe means r1, r2 per sample give
    E[r1 r2] = r^2, and the centred products sum to (B - 1) Var_x r over B samples.
    Same residual as training (D5); :func:`fp_error_curves` gives both from one pass.

    Args:
      energy_fn: batched energy E(x, t) in k_BT.
      sde: the VP SDE.
      key: PRNG key (noise and probes).
      x0: clean normalised samples, shape (B, *event), B >= 2.
      times: diffusion times to evaluate.
      n_probes: Hutchinson probes per mean (2 n_probes per time).
      estimator: :class:`ExactFP` or :class:`FiniteDifferenceFP`.
      centred: the gauge-invariant variance (True) or the raw mean square (False).

    Returns:
      numpy array of shape (len(times),), dimensionless (k_BT^2 per unit time^2 / D^2).
    """
    variance, mean_square = fp_error_curves(energy_fn, sde, key, x0, times, n_probes, estimator)
    return variance if centred else mean_square
