"""The Fokker-Planck residual of an energy-based diffusion model (DESIGN §3).

For dx = f dt + g dW the log-density of the marginals obeys

    d/dt log p = 1/2 g^2 (div s + |s|^2) - f . s - div f.

For the VP SDE, f = -1/2 beta x and g^2 = beta, so a model with log q = -E and
s = -grad E has the residual (Plainer et al. 2025, eq. 8)

    r(x, t) = d/dt log q - 1/2 beta(t) (div s + |s|^2 + x . s + D),

which vanishes for the true diffused density (up to an x-independent c(t) that
an unnormalised model absorbs). The divergence is estimated with random probes
v ~ N(0, I) (Hutchinson: E[v^T (grad s) v] = div s); two independent estimates
r1, r2 give the unbiased square E[r1 r2] = r^2.

Two estimators share this interface:

* ``"exact"`` (DESIGN D4): one reverse pass of sum_b E(x_b, t_b) gives the
  score and d/dt E together; one forward-mode ``jax.jvp`` of that pass per
  probe (vmapped, primal shared) gives v^T (grad s) v.
* ``"fd"``: the paper's finite differences: central differences of the score
  along h v (h = 1e-4), and the one-sided 3-point stencil in t with steps
  5e-4 and 1e-3, i.e. (-3 E(t) + 4 E(t + h_t) - E(t + 2 h_t)) / (2 h_t).

All quantities are in the network's normalised coordinates and k_BT units.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from .sde import VPSDE

EnergyFn = Callable[[jax.Array, jax.Array], jax.Array]
"""energy_fn(x, t) -> E, x (B, *event), t (B,) -> (B,), in k_BT."""

ESTIMATORS = ("exact", "fd")
FD_SPACE_STEP = 1e-4
FD_TIME_STEP = 5e-4


def _flat_dot(a, b):
    return jnp.sum((a * b).reshape(a.shape[0], -1), axis=-1)


def _score(energy_fn: EnergyFn, t):
    return lambda y: -jax.grad(lambda z: jnp.sum(energy_fn(z, t)))(y)


def fp_residual(
    energy_fn: EnergyFn,
    sde: VPSDE,
    x: jax.Array,
    t: jax.Array,
    probes: jax.Array,
    estimator: str = "exact",
) -> jax.Array:
    """Probe estimates of the Fokker-Planck residual r(x, t).

    Args:
      energy_fn: batched energy E(x, t) in k_BT.
      sde: the VP SDE (beta(t)).
      x: noisy samples, shape (B, *event).
      t: diffusion times, shape (B,).
      probes: divergence probes, shape (P, B, *event); one estimate per probe.
      estimator: ``"exact"`` or ``"fd"``.

    Returns:
      Residual estimates of shape (P, B); their mean over probes estimates r.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown Fokker-Planck estimator {estimator!r}; choose one of {ESTIMATORS}")
    dim = math.prod(x.shape[1:])
    score_fn = _score(energy_fn, t)
    if estimator == "exact":
        # One reverse pass of sum_b E_b gives grad_x E and, as sample b's energy depends on
        # t_b alone, dE_b/dt_b. One forward-mode pass of that (vmapped over the probes,
        # primal shared) adds v^T (grad s) v: the whole residual from a single
        # forward-over-reverse sweep.
        grad_xt = jax.grad(lambda y, tt: jnp.sum(energy_fn(y, tt)), argnums=(0, 1))

        def quad_form(v):
            (g_x, g_t), (hv, _) = jax.jvp(grad_xt, (x, t), (v, jnp.zeros_like(t)))
            return g_x, g_t, -_flat_dot(v, hv)

        g_x, g_t, vjv = jax.vmap(quad_form, out_axes=(None, None, 0))(probes)
        s, de_dt = -g_x, g_t
    else:
        h_t = FD_TIME_STEP
        e0, e1, e2 = (energy_fn(x, t + k * h_t) for k in (0, 1, 2))
        de_dt = (-3.0 * e0 + 4.0 * e1 - e2) / (2.0 * h_t)
        s = score_fn(x)
        h = FD_SPACE_STEP

        def quad_form(v):
            return _flat_dot(v, score_fn(x + h * v) - score_fn(x - h * v)) / (2.0 * h)

        vjv = jax.vmap(quad_form)(probes)
    beta = sde.beta(t).astype(x.dtype)
    deterministic = -de_dt - 0.5 * beta * (_flat_dot(s, s) + _flat_dot(x, s) + dim)
    return deterministic[None, :] - 0.5 * beta[None, :] * vjv


def fp_loss(
    energy_fn: EnergyFn,
    sde: VPSDE,
    key: jax.Array,
    x0: jax.Array,
    t_range: tuple[float, float],
    estimator: str = "exact",
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
      estimator: ``"exact"`` or ``"fd"``.
    """
    key_t, key_x, key_v = jax.random.split(key, 3)
    lo, hi = t_range
    t = jax.random.uniform(key_t, x0.shape[:1], x0.dtype, lo, hi)
    xt, _ = sde.marginal(key_x, x0, t)
    probes = jax.random.normal(key_v, (2, *x0.shape), x0.dtype)
    r = fp_residual(energy_fn, sde, xt, t, probes, estimator)
    dim = math.prod(x0.shape[1:])
    return jnp.mean(r[0] * r[1]) / dim**2


def fp_error_curve(
    energy_fn: EnergyFn,
    sde: VPSDE,
    key: jax.Array,
    x0: jax.Array,
    times,
    n_probes: int = 8,
    estimator: str = "exact",
):
    """Diagnostic: mean squared residual (unbiased pair estimate) / D^2 at each time.

    Uses the same residual as training (DESIGN D5). Returns a numpy array of
    shape (len(times),).
    """
    import numpy as np

    dim = math.prod(x0.shape[1:])

    @jax.jit
    def at(key, t):
        key_x, key_v = jax.random.split(key)
        tt = jnp.full(x0.shape[:1], t, x0.dtype)
        xt, _ = sde.marginal(key_x, x0, tt)
        probes = jax.random.normal(key_v, (2 * n_probes, *x0.shape), x0.dtype)
        r = fp_residual(energy_fn, sde, xt, tt, probes, estimator)
        r1, r2 = r[:n_probes].mean(0), r[n_probes:].mean(0)
        return jnp.mean(r1 * r2) / dim**2

    keys = jax.random.split(key, len(times))
    return np.array([float(at(k, float(t))) for k, t in zip(keys, times)])
