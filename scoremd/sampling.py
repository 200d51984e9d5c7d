"""i.i.d. samplers of the reverse diffusion (DESIGN §4).

* :func:`reverse_sde_sample`: Euler-Maruyama on the reverse-time SDE
  (Song et al. 2021, eq. 6) from t = 1 to t_min,
  x <- x + [1/2 beta x + beta s] dt + sqrt(beta dt) xi, followed by one
  denoising step x0 = (x + sigma^2 s) / m at t_min (Tweedie; DESIGN D7).
* :func:`probability_flow_sample`: Heun's method on the probability-flow ODE
  dx/dt = -1/2 beta(t) (x + s(x, t)) (Song et al. 2021, eq. 13), same final step.

Both work on any batched score function ``score_fn(x, t) -> s`` with x of shape
(B, *event) and t of shape (B,), in the normalised coordinates of the SDE.
Samples are drawn in chunks of fixed size (the last one padded), so memory is
bounded for any number of samples and the chunk is compiled once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ._cache import CompileCache
from .parallel import batch_sharding
from .sde import VPSDE

ScoreFn = Callable[[jax.Array, jax.Array], jax.Array]

SAMPLERS = ("sde", "ode")


def time_grid(sde: VPSDE, n_steps: int, rho: float = 1.0) -> np.ndarray:
    """Decreasing integration times from 1 to t_min, shape (n_steps + 1,).

    t_i = t_min + (1 - t_min) (1 - i/n)^rho: rho = 1 is uniform (the paper's
    reverse SDE); rho > 1 concentrates steps at small t, where the score is
    stiff (~1/sigma_t^2) and a deterministic solver needs them.
    """
    u = 1.0 - np.arange(n_steps + 1) / n_steps
    return sde.t_min + (1.0 - sde.t_min) * u**rho


def _denoise(score_fn: ScoreFn, sde: VPSDE, x, t):
    s = score_fn(x, jnp.full(x.shape[:1], t, x.dtype))
    return (x + sde.std(t) ** 2 * s) / sde.mean_coeff(t)


def _reverse_sde_chunk(score_fn: ScoreFn, sde: VPSDE, times: np.ndarray, final_denoise: bool):
    def run(key, x):
        ts = jnp.asarray(times, x.dtype)

        def body(i, carry):
            x, key = carry
            key, sub = jax.random.split(key)
            t, dt = ts[i], ts[i] - ts[i + 1]
            beta = sde.beta(t)
            s = score_fn(x, jnp.full(x.shape[:1], t, x.dtype))
            noise = jax.random.normal(sub, x.shape, x.dtype)
            x = x + (0.5 * beta * x + beta * s) * dt + jnp.sqrt(beta * dt) * noise
            return x, key

        x, _ = jax.lax.fori_loop(0, len(times) - 1, body, (x, key))
        return _denoise(score_fn, sde, x, sde.t_min) if final_denoise else x

    return run


def _probability_flow_chunk(score_fn: ScoreFn, sde: VPSDE, times: np.ndarray, final_denoise: bool):
    def drift(x, t):
        return -0.5 * sde.beta(t) * (x + score_fn(x, jnp.full(x.shape[:1], t, x.dtype)))

    def run(key, x):
        del key
        ts = jnp.asarray(times, x.dtype)

        def body(i, x):
            t, h = ts[i], ts[i + 1] - ts[i]
            d1 = drift(x, t)
            d2 = drift(x + h * d1, t + h)
            return x + 0.5 * h * (d1 + d2)

        x = jax.lax.fori_loop(0, len(times) - 1, body, x)
        return _denoise(score_fn, sde, x, sde.t_min) if final_denoise else x

    return run


_COMPILED = CompileCache(maxsize=8)


def _compiled(build, score_fn, sde, n_steps, rho, final_denoise):
    """The jitted sampler for these settings, kept across calls, so a second
    :func:`sample` with the same score function does not compile again."""
    return _COMPILED.get(
        (build, score_fn, sde, n_steps, rho, final_denoise),
        lambda: jax.jit(build(score_fn, sde, time_grid(sde, n_steps, rho), final_denoise)),
    )


def sample(
    score_fn: ScoreFn,
    sde: VPSDE,
    n: int,
    event_shape,
    *,
    key: jax.Array,
    method: str = "sde",
    n_steps: int = 1000,
    rho: float | None = None,
    chunk_size: int = 10_000,
    final_denoise: bool = True,
    dtype=jnp.float32,
    progress: bool = False,
    devices=None,
) -> np.ndarray:
    """Draw ``n`` independent samples by integrating the reverse diffusion.

    Args:
      score_fn: batched score s(x, t) in normalised coordinates.
      sde: the diffusion process (defines beta(t), t_min).
      n: number of samples.
      event_shape: shape of one sample.
      key: PRNG key; the same key gives the same samples.
      method: ``"sde"`` (reverse-SDE Euler-Maruyama) or ``"ode"`` (probability-flow, Heun).
      n_steps: integration steps from t = 1 to t_min (score evaluations: n_steps for
        "sde", 2 n_steps for "ode", plus one for the final denoising step).
      rho: time-grid exponent (see :func:`time_grid`); default 1 for "sde", 3 for "ode".
      chunk_size: samples integrated at once; bounds memory.
      final_denoise: apply the Tweedie denoising step at t_min.
      progress: show a progress bar over chunks.
      devices: devices to split each chunk over (default ``jax.devices()``; one device,
        or a count that does not divide the chunk, runs unsplit; DESIGN D11).

    Returns:
      Samples in normalised coordinates, shape (n, *event_shape), numpy.
    """
    if method not in SAMPLERS:
        raise ValueError(f"unknown sampler {method!r}; choose one of {SAMPLERS}")
    if n <= 0 or n_steps <= 0 or chunk_size <= 0:
        raise ValueError(f"n, n_steps and chunk_size must be positive, got {n}, {n_steps}, {chunk_size}")
    event_shape = tuple(event_shape)
    build = _reverse_sde_chunk if method == "sde" else _probability_flow_chunk
    if rho is None:
        rho = 1.0 if method == "sde" else 3.0
    if not rho > 0:
        raise ValueError(f"the time-grid exponent rho must be positive (1 = uniform grid), got {rho}")
    run = _compiled(build, score_fn, sde, n_steps, rho, final_denoise)
    chunk = min(chunk_size, n)
    n_chunks = math.ceil(n / chunk)
    out = np.empty((n_chunks * chunk, *event_shape), np.dtype(dtype))
    keys = jax.random.split(key, n_chunks)
    layout = batch_sharding(chunk, devices)
    for i in tqdm(range(n_chunks), desc=f"sample ({method})", disable=not progress, dynamic_ncols=True):
        k_prior, k_path = jax.random.split(keys[i])
        x1 = sde.prior_sample(k_prior, (chunk, *event_shape), dtype)
        if layout is not None:
            x1 = jax.device_put(x1, layout.batch)
        out[i * chunk : (i + 1) * chunk] = np.asarray(run(k_path, x1))
    return out[:n]
