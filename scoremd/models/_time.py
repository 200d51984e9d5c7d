"""Fourier features of the diffusion time (docs/design.md §2)."""

from __future__ import annotations

import jax.numpy as jnp


def time_features(t, n_frequencies: int, t_range: tuple[float, float] = (0.0, 1.0)):
    """Embed diffusion times as (tau, cos 2 pi k tau, sin 2 pi k tau), k = 1..n_frequencies.

    ``tau = (t - lo) / (hi - lo)`` is the time relative to the range the network
    is responsible for (the whole [0, 1] unless it is an expert of a mixture).

    Args:
      t: times, shape (B,).
      n_frequencies: number of Fourier frequencies K (>= 0).
      t_range: (lo, hi) time range of the network.

    Returns:
      Features of shape (B, 1 + 2K).
    """
    lo, hi = t_range
    tau = (t - lo) / (hi - lo)
    feats = [tau[:, None]]
    if n_frequencies > 0:
        k = jnp.arange(1, n_frequencies + 1, dtype=tau.dtype)
        angle = 2.0 * jnp.pi * tau[:, None] * k[None, :]
        feats += [jnp.cos(angle), jnp.sin(angle)]
    return jnp.concatenate(feats, axis=-1)


def n_time_features(n_frequencies: int) -> int:
    """Width of :func:`time_features` output."""
    return 1 + 2 * n_frequencies
