"""Multilayer-perceptron energy (docs/design.md §5).

The MLP reads one of two featurisations of a configuration:

* ``"cartesian"``: the flattened coordinates (low-dimensional systems); for
  molecules (event (n, 3)) they are centred first, so the energy is
  translation invariant and the force on the centre of mass is zero.
* ``"invariant"`` (molecules): all pair distances plus the normalised signed
  volumes b_k . (b_{k+1} x b_{k+2}) / (|b_k| |b_{k+1}| |b_{k+2}|) of consecutive
  bond vectors b_k = x_{k+1} - x_k. Distances make the energy exactly invariant
  to rotations and translations; the signed volumes change sign under
  reflection, so the model can still tell a conformation from its mirror image
  (docs/design.md D10). No rotation augmentation is needed. The volumes are normalised
  because raw ones are cubic in x: their gradients grew without bound on the
  expanded configurations a sampler visits at large t, and the samplers blew
  up. The output gets a Gaussian baseline, f + 1/2 sum_i |x_i - mean(x)|^2, so
  the energy confines configurations far outside the data whatever the network
  extrapolates (the data and every diffused marginal have unit variance after
  normalisation, so the baseline is of the right size at every t; in range the
  network absorbs it, as it is a function of the distances).

With whitened distances z_ij(x, t) = (d_ij - m_t mu_ij) / sqrt(m_t^2 s_ij^2 + 2 sigma_t^2)
(mu, s: mean and spread of d_ij in the training data), ``bond_prior`` adds
1/2 sum_b z_b^2 over the bonds b = (i, i + 1): at t = 0 a harmonic bond with the data's
mean length and spring constant k_BT / s_b^2, which the Gaussian baseline is far too weak to
be. Without it a chain that is stretched outside the data in MD (where the network has seen
nothing) can break.

``closest`` (the data's closest approach r_ij of every pair) adds an excluded-volume wall
for the pairs |i - j| >= 2: 1/2 sum ((m_t r_ij - d_ij)_+)^2 / (m_t^2 w_ij^2 + 2 sigma_t^2),
w_ij = ``EXCLUDED_VOLUME_WIDTH`` r_ij. It is zero wherever the data are (every pair at least as
far apart as it ever was), and at t = 0 a harmonic wall of width w_ij below it, where the
network has seen nothing and a learned force field can let beads pass through each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..sde import VPSDE
from ._config import Features
from ._time import n_time_features, time_features


def invariant_features(x):
    """Pair distances and chirality-sensitive normalised signed volumes; x (B, n, 3) -> (B, n(n-1)/2 + n-3)."""
    d = pair_distances(x)
    b = x[:, 1:] - x[:, :-1]
    length = jnp.sqrt(jnp.sum(b**2, axis=-1) + 1e-12)
    volumes = jnp.sum(b[:, :-2] * jnp.cross(b[:, 1:-1], b[:, 2:]), axis=-1)
    return jnp.concatenate([d, volumes / (length[:, :-2] * length[:, 1:-1] * length[:, 2:])], axis=-1)


def pair_distances(x):
    """All pair distances d_ij (i < j, row-major); x (..., n, 3) -> (..., n(n-1)/2)."""
    i, j = np.triu_indices(x.shape[-2], 1)
    return jnp.sqrt(jnp.sum((x[..., j, :] - x[..., i, :]) ** 2, axis=-1) + 1e-12)


def distance_statistics(x, batch: int = 65536) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and standard deviation of every pair distance of x (N, n, 3) -> two tuples of n(n-1)/2.

    The ``distance_stats`` of :class:`EnergyMLP`, in the units of x (normalised for training).
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != 3 or len(x) < 2:
        raise ValueError(f"distance statistics need molecular samples (N >= 2, n, 3), got shape {x.shape}")
    total = np.zeros(x.shape[1] * (x.shape[1] - 1) // 2)
    squares = np.zeros_like(total)
    for k in range(0, len(x), batch):
        d = np.asarray(pair_distances(jnp.asarray(x[k:k + batch])), np.float64)
        total += d.sum(0)
        squares += (d**2).sum(0)
    mean = total / len(x)
    std = np.sqrt(np.maximum(squares / len(x) - mean**2, 0.0))
    if not (np.all(np.isfinite(mean)) and np.all(std > 0)):
        raise ValueError("every pair distance must vary and be finite to be whitened; check the training data")
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


EXCLUDED_VOLUME_WIDTH = 0.05
"""Width of the excluded-volume wall at t = 0, as a fraction of the pair's closest approach in the data."""


def closest_distances(x, batch: int = 65536) -> tuple[float, ...]:
    """The smallest value of every pair distance over frames x (N, n, 3) -> n(n-1)/2, in the units of x.

    The ``closest`` of :class:`EnergyMLP` (normalised units for training).
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != 3 or not len(x):
        raise ValueError(f"closest distances need molecular samples (N, n, 3), got shape {x.shape}")
    closest = np.full(x.shape[1] * (x.shape[1] - 1) // 2, np.inf)
    for k in range(0, len(x), batch):
        closest = np.minimum(closest, np.asarray(pair_distances(jnp.asarray(x[k:k + batch])), np.float64).min(0))
    return tuple(float(v) for v in closest)


def excluded_volume(d, t, sde: VPSDE, closest, pairs):
    """1/2 sum over ``pairs`` of ((m_t r - d)_+)^2 / (m_t^2 w^2 + 2 sigma_t^2): d (B, P), t (B,) -> (B,)."""
    r = jnp.asarray(np.asarray(closest)[list(pairs)], d.dtype)[None, :]
    m = sde.mean_coeff(t)[:, None].astype(d.dtype)
    var = sde.std(t)[:, None].astype(d.dtype) ** 2
    gap = jnp.maximum(m * r - d[:, jnp.asarray(pairs)], 0.0)
    return 0.5 * jnp.sum(gap**2 / (m**2 * (EXCLUDED_VOLUME_WIDTH * r) ** 2 + 2.0 * var), axis=-1)


def whitened_distances(d, t, sde: VPSDE, mean, std):
    """(d - m_t mu) / sqrt(m_t^2 sd^2 + 2 sigma_t^2): d (B, P), t (B,), mean and std (P,) -> (B, P)."""
    m = sde.mean_coeff(t)[:, None].astype(d.dtype)
    var = sde.std(t)[:, None].astype(d.dtype) ** 2
    mean, std = jnp.asarray(mean, d.dtype)[None, :], jnp.asarray(std, d.dtype)[None, :]
    return (d - m * mean) / jnp.sqrt(m**2 * std**2 + 2.0 * var)


def n_features(event_shape, features: Features, whitened: bool = False) -> int:
    """Input width of the MLP for an event shape and featurisation."""
    if features is Features.CARTESIAN:
        return int(np.prod(event_shape))
    n = event_shape[0]
    pairs = n * (n - 1) // 2
    return pairs * (2 if whitened else 1) + n - 3


class EnergyMLP(nnx.Module):
    """Scalar network f(x, t): [features of x, time features] -> swish MLP -> scalar.

    :class:`scoremd.models.EnergyModel` turns the output into an energy (k_BT).

    Args:
      event_shape: shape of one sample, e.g. (2,) or (n_beads, 3).
      hidden: widths of the hidden layers.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range this network is responsible for.
      features: :class:`~scoremd.models.Features` (or its value, ``"cartesian"`` / ``"invariant"``;
        see the module docstring).
      distance_stats: (mean, std) of each pair distance of the training data in
        normalised units (:func:`distance_statistics`); adds the whitened distances
        to the invariant features (None: raw distances only).
      sde: the diffusion whose m_t and sigma_t whiten the distances (with ``distance_stats``).
      bond_prior: add 1/2 z_b^2 for the bonds between consecutive beads (needs ``distance_stats``;
        see the module docstring).
      closest: the closest approach of every pair distance in the training data, normalised units
        (:func:`closest_distances`); adds the excluded-volume wall (module docstring; needs ``sde``).
      log_time_floor: None (linear time embedding) or the smallest diffusion time embedded
        logarithmically (:func:`~scoremd.models._time.time_features`), e.g. the SDE's t_min.
      rngs: Flax NNX random streams for initialisation.
    """

    def __init__(
        self,
        event_shape: Sequence[int],
        hidden: Sequence[int] = (256, 256, 256),
        n_frequencies: int = 2,
        t_range: tuple[float, float] = (0.0, 1.0),
        features: Features | str = Features.CARTESIAN,
        distance_stats: tuple[Sequence[float], Sequence[float]] | None = None,
        sde: VPSDE | None = None,
        *,
        bond_prior: bool = False,
        closest: Sequence[float] | None = None,
        log_time_floor: float | None = None,
        rngs: nnx.Rngs,
    ):
        event_shape = tuple(event_shape)
        molecular = len(event_shape) == 2 and event_shape[1] == 3
        features = Features(features)
        if features is Features.INVARIANT and not (molecular and event_shape[0] >= 4):
            raise ValueError(f'features = "invariant" needs molecules of >= 4 beads (event (n, 3)), got {event_shape}')
        if distance_stats is not None:
            if features is not Features.INVARIANT:
                raise ValueError('whitened distances need features = "invariant"')
            pairs = event_shape[0] * (event_shape[0] - 1) // 2
            if sde is None or any(len(v) != pairs for v in distance_stats):
                raise ValueError(f"distance_stats must be (mean, std) of the {pairs} pair distances, with the sde")
            distance_stats = tuple(tuple(float(v) for v in s) for s in distance_stats)
        if bond_prior and distance_stats is None:
            raise ValueError("bond_prior needs distance_stats (the bond lengths' mean and spread)")
        self.features = features
        self.distance_stats = distance_stats
        # Positions of the bonds (i, i + 1) in the row-major list of pairs i < j.
        n = event_shape[0] if molecular else 0
        self.bonds = tuple(i * n - i * (i + 1) // 2 for i in range(n - 1)) if bond_prior else ()
        if closest is not None:
            if features is not Features.INVARIANT or sde is None or len(closest) != n * (n - 1) // 2:
                raise ValueError("closest needs invariant features, the sde and one distance per pair of beads")
            if not all(np.isfinite(closest)) or min(closest) <= 0:
                raise ValueError("closest distances must be positive and finite")
            closest = tuple(float(v) for v in closest)
            i, j = np.triu_indices(n, 1)
            self.nonbonded = tuple(int(k) for k in np.flatnonzero(j - i >= 2))  # pairs |i - j| >= 2
        self.closest = closest
        self.sde = sde
        self.centre = molecular
        if log_time_floor is not None and not 0 < log_time_floor < t_range[1]:
            raise ValueError(f"log_time_floor must lie in (0, {t_range[1]}), got {log_time_floor}")
        self.n_frequencies = n_frequencies
        self.t_range = tuple(t_range)
        self.log_time_floor = None if log_time_floor is None else float(log_time_floor)
        n_in = (n_features(event_shape, features, distance_stats is not None)
                + n_time_features(n_frequencies, log_time_floor is not None))
        widths = [n_in, *hidden]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.out = nnx.Linear(widths[-1], 1, rngs=rngs)

    def __call__(self, x, t):
        """Args: x of shape (B, *event); t of shape (B,). Returns (B,)."""
        baseline = 0.0
        if self.features == "invariant":
            h = invariant_features(x)
            if self.distance_stats is not None:
                pairs = len(self.distance_stats[0])
                z = whitened_distances(h[:, :pairs], t, self.sde, *self.distance_stats)
                h = jnp.concatenate([h, z], axis=-1)
                if self.bonds:
                    baseline = 0.5 * jnp.sum(z[:, jnp.asarray(self.bonds)] ** 2, axis=-1)
            if self.closest is not None:
                pairs = len(self.closest)
                baseline = baseline + excluded_volume(h[:, :pairs], t, self.sde, self.closest, self.nonbonded)
            baseline = baseline + 0.5 * jnp.sum((x - jnp.mean(x, axis=-2, keepdims=True)) ** 2, axis=(-2, -1))
        else:
            if self.centre:
                x = x - jnp.mean(x, axis=-2, keepdims=True)
            h = x.reshape(x.shape[0], -1)
        tf = time_features(t, self.n_frequencies, self.t_range, self.log_time_floor)
        h = jnp.concatenate([h, tf.astype(x.dtype)], axis=-1)
        for layer in self.layers:
            h = nnx.swish(layer(h))
        return self.out(h)[:, 0] + baseline
