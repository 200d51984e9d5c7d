"""Multilayer-perceptron energy for low-dimensional systems (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

from ._time import n_time_features, time_features


class EnergyMLP(nnx.Module):
    """Scalar network f(x, t): [flattened x, time features] -> swish MLP -> scalar.

    :class:`scoremd.models.EnergyModel` turns the output into an energy (k_BT).

    Args:
      dim: flattened input dimension D.
      hidden: widths of the hidden layers.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range this network is responsible for.
      rngs: Flax NNX random streams for initialisation.
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (256, 256, 256),
        n_frequencies: int = 2,
        t_range: tuple[float, float] = (0.0, 1.0),
        *,
        rngs: nnx.Rngs,
    ):
        self.dim = dim
        self.n_frequencies = n_frequencies
        self.t_range = tuple(t_range)
        widths = [dim + n_time_features(n_frequencies), *hidden]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.out = nnx.Linear(widths[-1], 1, rngs=rngs)

    def __call__(self, x, t):
        """Args: x of shape (B, *event) with prod(event) == dim; t of shape (B,). Returns (B,)."""
        h = jnp.concatenate(
            [x.reshape(x.shape[0], -1), time_features(t, self.n_frequencies, self.t_range).astype(x.dtype)],
            axis=-1,
        )
        for layer in self.layers:
            h = nnx.swish(layer(h))
        return self.out(h)[:, 0]
