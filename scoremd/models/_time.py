"""Fourier features of the diffusion time (docs/design.md §2)."""

from __future__ import annotations

import jax.numpy as jnp


def time_features(t, n_frequencies: int, t_range: tuple[float, float] = (0.0, 1.0), log_floor: float | None = None):
    """Embed diffusion times as (tau, cos 2 pi k tau, sin 2 pi k tau), k = 1..n_frequencies.

    ``tau = (t - lo) / (hi - lo)`` is the time relative to the range the network
    is responsible for (the whole [0, 1] unless it is an expert of a mixture).

    With ``log_floor`` (a time > 0, e.g. the SDE's t_min) the embedding is logarithmic:
    (tau, u, cos 2 pi k u, sin 2 pi k u) with ``u = log(t / lo') / log(hi / lo')``,
    lo' = max(lo, log_floor). A linear tau barely moves over [1e-5, 0.1], where the score of
    a stiff molecule changes most; u spreads those decades over [0, 1].

    Args:
      t: times, shape (B,).
      n_frequencies: number of Fourier frequencies K (>= 0).
      t_range: (lo, hi) time range of the network.
      log_floor: None (linear embedding) or the smallest time embedded logarithmically.

    Returns:
      Features of shape (B, n_time_features(K, log)).
    """
    lo, hi = t_range
    tau = (t - lo) / (hi - lo)
    feats = [tau[:, None]]
    phase = tau
    if log_floor is not None:
        lo_log = max(lo, log_floor)
        phase = jnp.log(jnp.maximum(t, lo_log) / lo_log) / jnp.log(hi / lo_log)
        feats.append(phase[:, None])
    if n_frequencies > 0:
        k = jnp.arange(1, n_frequencies + 1, dtype=tau.dtype)
        angle = 2.0 * jnp.pi * phase[:, None] * k[None, :]
        feats += [jnp.cos(angle), jnp.sin(angle)]
    return jnp.concatenate(feats, axis=-1)


def n_time_features(n_frequencies: int, log: bool = False) -> int:
    """Width of :func:`time_features` output (``log``: with a ``log_floor``)."""
    return 1 + int(log) + 2 * n_frequencies
