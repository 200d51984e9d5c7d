"""Multilayer-perceptron energy (DESIGN §5).

The MLP reads one of two featurisations of a configuration:

* ``"cartesian"``: the flattened coordinates (low-dimensional systems); for
  molecules (event (n, 3)) they are centred first, so the energy is
  translation invariant and the force on the centre of mass is zero.
* ``"invariant"`` (molecules): all pair distances plus the normalised signed
  volumes b_k . (b_{k+1} x b_{k+2}) / (|b_k| |b_{k+1}| |b_{k+2}|) of consecutive
  bond vectors b_k = x_{k+1} - x_k. Distances make the energy exactly invariant
  to rotations and translations; the signed volumes change sign under
  reflection, so the model can still tell a conformation from its mirror image
  (DESIGN D10). No rotation augmentation is needed. The volumes are normalised
  because raw ones are cubic in x: their gradients grew without bound on the
  expanded configurations a sampler visits at large t, and the samplers blew
  up. The output gets a Gaussian baseline, f + 1/2 sum_i |x_i - mean(x)|^2, so
  the energy confines configurations far outside the data whatever the network
  extrapolates (the data and every diffused marginal have unit variance after
  normalisation, so the baseline is of the right size at every t; in range the
  network absorbs it, as it is a function of the distances).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._time import n_time_features, time_features

FEATURES = ("cartesian", "invariant")


def invariant_features(x):
    """Pair distances and chirality-sensitive normalised signed volumes; x (B, n, 3) -> (B, n(n-1)/2 + n-3)."""
    n = x.shape[1]
    i, j = np.triu_indices(n, 1)
    d = jnp.sqrt(jnp.sum((x[:, j] - x[:, i]) ** 2, axis=-1) + 1e-12)
    b = x[:, 1:] - x[:, :-1]
    length = jnp.sqrt(jnp.sum(b**2, axis=-1) + 1e-12)
    volumes = jnp.sum(b[:, :-2] * jnp.cross(b[:, 1:-1], b[:, 2:]), axis=-1)
    return jnp.concatenate([d, volumes / (length[:, :-2] * length[:, 1:-1] * length[:, 2:])], axis=-1)


def n_features(event_shape, features: str) -> int:
    """Input width of the MLP for an event shape and featurisation."""
    if features == "cartesian":
        return int(np.prod(event_shape))
    n = event_shape[0]
    return n * (n - 1) // 2 + n - 3


class EnergyMLP(nnx.Module):
    """Scalar network f(x, t): [features of x, time features] -> swish MLP -> scalar.

    :class:`scoremd.models.EnergyModel` turns the output into an energy (k_BT).

    Args:
      event_shape: shape of one sample, e.g. (2,) or (n_beads, 3).
      hidden: widths of the hidden layers.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range this network is responsible for.
      features: ``"cartesian"`` or ``"invariant"`` (see the module docstring).
      rngs: Flax NNX random streams for initialisation.
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256, 256),
        n_frequencies: int = 2,
        t_range: tuple[float, float] = (0.0, 1.0),
        features: str = "cartesian",
        *,
        rngs: nnx.Rngs,
    ):
        event_shape = tuple(event_shape)
        molecular = len(event_shape) == 2 and event_shape[1] == 3
        if features not in FEATURES:
            raise ValueError(f"unknown MLP features {features!r}; choose one of {FEATURES}")
        if features == "invariant" and not (molecular and event_shape[0] >= 4):
            raise ValueError(f'features = "invariant" needs molecules of >= 4 beads (event (n, 3)), got {event_shape}')
        self.features = features
        self.centre = molecular
        self.n_frequencies = n_frequencies
        self.t_range = tuple(t_range)
        widths = [n_features(event_shape, features) + n_time_features(n_frequencies), *hidden]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.out = nnx.Linear(widths[-1], 1, rngs=rngs)

    def __call__(self, x, t):
        """Args: x of shape (B, *event); t of shape (B,). Returns (B,)."""
        baseline = 0.0
        if self.features == "invariant":
            h = invariant_features(x)
            baseline = 0.5 * jnp.sum((x - jnp.mean(x, axis=-2, keepdims=True)) ** 2, axis=(-2, -1))
        else:
            if self.centre:
                x = x - jnp.mean(x, axis=-2, keepdims=True)
            h = x.reshape(x.shape[0], -1)
        h = jnp.concatenate([h, time_features(t, self.n_frequencies, self.t_range).astype(x.dtype)], axis=-1)
        for layer in self.layers:
            h = nnx.swish(layer(h))
        return self.out(h)[:, 0] + baseline
