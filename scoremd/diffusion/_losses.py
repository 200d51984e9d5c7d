"""Training objectives (docs/design.md §3).

Denoising score matching (Vincent 2011; Song et al. 2021, eq. 7):

    L_DSM = E_{t, x0, eps} (1/D) || eps + sigma_t s_theta(m_t x0 + sigma_t eps, t) ||^2

The paper (Plainer et al. 2025) puts half of the probability mass of t below a
midpoint with importance weights; we sample t from that two-piece uniform
density directly, which has the same expectation and lower variance (D3).

With ``fp_weight = alpha > 0`` the Fokker-Planck regulariser
alpha * E_t r1 r2 / D^2 (:mod:`scoremd.diffusion`) is added. ``fp_times = "own"`` (default)
draws its own t uniform on [t_min, fp_t_max] intersected with the model's time range, on a
fresh diffusion of the batch; ``fp_times = "dsm"`` evaluates it at the score-matching samples
x_t and times t, weighted by w(t) = u(t) / p(t) (u: the uniform density on the time range,
p: the two-piece density t was drawn from), so it too averages over uniform t, and only
where t <= fp_t_max (the reference code's choice; docs/design.md §3).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ..geometry import rotate
from ..models import AbstractEnergyModel, Params
from ..sde import VPSDE
from ._fokker_planck import AbstractFPEstimator, ExactFP, fp_loss, fp_residual

__all__ = ["FP_TIMES", "LossConfig", "dsm_loss", "sample_times", "time_weights", "training_loss"]

FP_TIMES = ("own", "dsm")
"""Where the FP term is evaluated: its own uniform times, or the score-matching samples with weights."""


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Denoising-score-matching options.

    Attributes:
      t_midpoint: half of the sampled diffusion times fall in [t_min, t_midpoint],
        the other half in [t_midpoint, 1] (docs/design.md §3; 0.5 for Mueller-Brown, 0.3 default).
      expert_t_midpoint: the same for the small-t expert of a mixture (0.03); the
        other experts use ``t_midpoint`` if it lies inside their range, else uniform t.
      fp_weight: alpha of the Fokker-Planck term (0 switches it off).
      fp_estimator: :class:`~scoremd.diffusion.ExactFP` (autodiff, default) or
        :class:`~scoremd.diffusion.FiniteDifferenceFP` (the paper's finite differences);
        ``"exact"`` / ``"taylor"`` / ``"fd"`` in a config file (:class:`~scoremd.diffusion.TaylorFP`: Taylor mode).
      fp_t_max: the FP term samples t uniformly on [t_min, fp_t_max] (with ``fp_times = "dsm"``:
        applies only where the score-matching time t <= fp_t_max). In a mixture every expert whose
        range starts below fp_t_max carries the term, on its own part of [t_min, fp_t_max].
      fp_batch_size: samples of each batch that enter the FP term (0: all).
      fp_times: ``"own"``: the FP term draws its own times and noise; ``"dsm"``: it reuses the
        score-matching x_t and t with importance weights u(t) / p(t) (the reference code's way).
      fp_start: fraction in [0, 1) of the steps of every stage that carries the FP term trained
        by score matching alone before the term joins (a schedule on ``fp_weight``; 0: from the
        first step). Score-matching steps cost a fraction of FP steps, so a stage reaches a
        sharper score in the same time; the FP term then makes the energy consistent.
      random_rotations: rotate every clean sample by an independent uniform random
        rotation before noising (molecules; teaches a non-invariant network the
        rotational symmetry of the Boltzmann density, docs/design.md §5).
    """

    t_midpoint: float = 0.3
    expert_t_midpoint: float = 0.03
    fp_weight: float = 0.0
    fp_estimator: AbstractFPEstimator = ExactFP()
    fp_t_max: float = 0.1
    fp_batch_size: int = 0
    fp_times: str = "own"
    fp_start: float = 0.0
    random_rotations: bool = False

    def __post_init__(self):
        if not 0 < self.t_midpoint < 1:
            raise ValueError(f"loss.t_midpoint must lie in (0, 1), got {self.t_midpoint}")
        if not 0 < self.expert_t_midpoint < 1:
            raise ValueError(f"loss.expert_t_midpoint must lie in (0, 1), got {self.expert_t_midpoint}")
        if not (math.isfinite(self.fp_weight) and self.fp_weight >= 0):
            raise ValueError(f"loss.fp_weight must be a finite number >= 0, got {self.fp_weight}")
        if not isinstance(self.fp_estimator, AbstractFPEstimator):
            raise ValueError(f"loss.fp_estimator must be ExactFP() or FiniteDifferenceFP(), got {self.fp_estimator!r}")
        if not 0 < self.fp_t_max <= 1:
            raise ValueError(f"loss.fp_t_max must lie in (0, 1], got {self.fp_t_max}")
        if self.fp_batch_size < 0:
            raise ValueError(f"loss.fp_batch_size must be >= 0, got {self.fp_batch_size}")
        if not 0 <= self.fp_start < 1:
            raise ValueError(f"loss.fp_start must lie in [0, 1) (a fraction of the stage's steps), got {self.fp_start}")
        if self.fp_times not in FP_TIMES:
            raise ValueError(f"loss.fp_times must be one of {', '.join(map(repr, FP_TIMES))}, got {self.fp_times!r}")


def sample_times(key: jax.Array, n: int, t_lo: float, t_midpoint: float, t_hi: float = 1.0, dtype=jnp.float32):
    """Draw n diffusion times from the two-piece uniform density on [t_lo, t_hi].

    Half of the mass is uniform on [t_lo, t_midpoint], half on [t_midpoint, t_hi];
    a midpoint outside (t_lo, t_hi) gives the uniform density.

    Returns:
      Times of shape (n,).
    """
    u = jax.random.uniform(key, (n,), dtype)
    if not t_lo < t_midpoint < t_hi:
        return t_lo + u * (t_hi - t_lo)
    low = t_lo + 2.0 * u * (t_midpoint - t_lo)
    high = t_midpoint + (2.0 * u - 1.0) * (t_hi - t_midpoint)
    return jnp.where(u < 0.5, low, high)


def time_weights(t: jax.Array, t_lo: float, t_midpoint: float, t_hi: float = 1.0) -> jax.Array:
    """Importance weights u(t) / p(t) of times t (any shape) drawn by :func:`sample_times`: u is
    the uniform density on [t_lo, t_hi], p the two-piece density (ones if the midpoint lies outside).
    Their mean over many draws is 1."""
    if not t_lo < t_midpoint < t_hi:
        return jnp.ones_like(t)
    low = 2.0 * (t_midpoint - t_lo) / (t_hi - t_lo)
    high = 2.0 * (t_hi - t_midpoint) / (t_hi - t_lo)
    return jnp.where(t < t_midpoint, low, high).astype(t.dtype)


def _dsm(model, params, key, x0, t_lo, t_midpoint, t_hi):
    """Per-sample squared DSM residual norms (B,), and the noisy samples and times they used."""
    sde: VPSDE = model.sde
    key_t, key_eps = jax.random.split(key)
    t = sample_times(key_t, x0.shape[0], t_lo, t_midpoint, t_hi, x0.dtype)
    xt, eps = sde.marginal(key_eps, x0, t)
    score = model.score(params, xt, t)
    sigma = sde.std(t).reshape((-1,) + (1,) * (x0.ndim - 1)).astype(x0.dtype)
    residual = (eps + sigma * score).reshape(x0.shape[0], -1)
    return jnp.sum(residual**2, axis=-1), xt, t


def dsm_loss(
    model: AbstractEnergyModel,
    params: Params,
    key: jax.Array,
    x0: jax.Array,
    config: LossConfig = LossConfig(),
    t_range: tuple[float, float] | None = None,
    t_midpoint: float | None = None,
) -> jax.Array:
    """Denoising score-matching loss of a batch.

    Args:
      model: the energy model (defines the SDE).
      params: network parameters.
      key: PRNG key for t and eps.
      x0: clean normalised samples, shape (B, *event).
      config: loss options.
      t_range: (lo, hi) of the diffusion times (default [t_min, 1]).
      t_midpoint: midpoint of the two-piece time density (default ``config.t_midpoint``).

    Returns:
      Scalar loss, averaged over the batch and divided by D = prod(event).
    """
    sde: VPSDE = model.sde
    lo, hi = t_range or (sde.t_min, 1.0)
    midpoint = config.t_midpoint if t_midpoint is None else t_midpoint
    squares, _, _ = _dsm(model, params, key, x0, max(lo, sde.t_min), midpoint, hi)
    return jnp.mean(squares) / math.prod(x0.shape[1:])


def training_loss(
    model: AbstractEnergyModel,
    params: Params,
    key: jax.Array,
    x0: jax.Array,
    config: LossConfig,
    t_range: tuple[float, float] | None = None,
    t_midpoint: float | None = None,
    fokker_planck: bool = True,
    context=None,
) -> jax.Array:
    """DSM plus, if ``config.fp_weight > 0`` and ``fokker_planck``, the weighted FP term.

    The FP term uses t uniform on [max(t_min, lo), min(fp_t_max, hi)] (none if that
    is empty) and the first ``fp_batch_size`` samples of the batch. With
    ``config.random_rotations`` the batch (B, n, 3) is randomly rotated first.
    ``context`` (a conditional model: one entry per sample, e.g. amino acids (B, 2)) binds
    the model sample by sample (:meth:`~scoremd.models.AbstractEnergyModel.bind`).
    """
    def bound(n=None):
        if context is None:
            return model
        return model.bind(context if n is None else jax.tree.map(lambda c: c[:n], context))

    key_dsm, key_fp = jax.random.split(key)
    if config.random_rotations:
        key_dsm, key_rot = jax.random.split(key_dsm)
        if x0.ndim != 3 or x0.shape[-1] != 3:
            raise ValueError(f"loss.random_rotations needs molecular samples (B, n, 3), got {x0.shape}")
        x0 = rotate(key_rot, x0)
    sde = model.sde
    lo, hi = t_range or (sde.t_min, 1.0)
    lo = max(lo, sde.t_min)
    midpoint = config.t_midpoint if t_midpoint is None else t_midpoint
    squares, xt, t = _dsm(bound(), params, key_dsm, x0, lo, midpoint, hi)
    loss = jnp.mean(squares) / math.prod(x0.shape[1:])
    fp_range = (lo, min(config.fp_t_max, hi))
    if not (config.fp_weight > 0 and fokker_planck and fp_range[0] < fp_range[1]):
        return loss
    n = config.fp_batch_size or x0.shape[0]
    model_fp = bound(config.fp_batch_size or None)

    def energy_fn(x, t):
        return model_fp.energy(params, x, t)

    if config.fp_times == "own":
        fp = fp_loss(energy_fn, sde, key_fp, x0[:n], fp_range, config.fp_estimator)
    else:
        tb = t[:n]
        weights = jnp.where(tb <= config.fp_t_max, time_weights(tb, lo, midpoint, hi), 0.0)
        probes = jax.random.normal(key_fp, (2, *xt[:n].shape), xt.dtype)
        r = fp_residual(energy_fn, sde, xt[:n], tb, probes, config.fp_estimator)
        fp = jnp.mean(weights * r[0] * r[1]) / math.prod(x0.shape[1:]) ** 2
    return loss + config.fp_weight * fp
