"""The variance-preserving (VP) diffusion process.

Song et al. (2021), "Score-based generative modeling through stochastic
differential equations", eq. (11); docs/design.md §2:

    dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW,    beta(t) = beta_min + t (beta_max - beta_min)

with marginals x_t = m_t x_0 + sigma_t eps, eps ~ N(0, I), where

    m_t = exp(-1/4 t^2 (beta_max - beta_min) - 1/2 t beta_min),   sigma_t^2 = 1 - m_t^2.

All functions broadcast over array-valued ``t``. Coordinates here are the
network's normalised coordinates (dimensionless).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class VPSDE:
    """Linear-schedule VP SDE on t in [t_min, 1].

    Attributes:
      beta_min: beta(0), dimensionless rate (default 0.1).
      beta_max: beta(1) (default 20).
      t_min: smallest diffusion time used in training and sampling (default 1e-5).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    t_min: float = 1e-5

    def __post_init__(self):
        if not (0 < self.beta_min < self.beta_max):
            raise ValueError(f"need 0 < beta_min < beta_max, got {self.beta_min}, {self.beta_max}")
        if not (0 < self.t_min < 1):
            raise ValueError(f"need 0 < t_min < 1, got {self.t_min}")

    def beta(self, t):
        """Noise rate beta(t)."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def integrated_beta(self, t):
        """int_0^t beta(s) ds."""
        return self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)

    def mean_coeff(self, t):
        """m_t = exp(-1/2 int_0^t beta)."""
        return jnp.exp(-0.5 * self.integrated_beta(t))

    def std(self, t):
        """sigma_t = sqrt(1 - m_t^2), computed with expm1 so it is accurate at small t."""
        return jnp.sqrt(-jnp.expm1(-self.integrated_beta(t)))

    def marginal(self, key: jax.Array, x0: jax.Array, t: jax.Array):
        """Draw x_t ~ p(x_t | x_0).

        Args:
          key: PRNG key.
          x0: clean samples, shape (B, *event).
          t: diffusion times, shape (B,).

        Returns:
          (x_t, eps), both shaped like ``x0``, with x_t = m_t x0 + sigma_t eps.
        """
        eps = jax.random.normal(key, x0.shape, x0.dtype)
        shape = (-1,) + (1,) * (x0.ndim - 1)
        m = self.mean_coeff(t).reshape(shape).astype(x0.dtype)
        s = self.std(t).reshape(shape).astype(x0.dtype)
        return m * x0 + s * eps, eps

    def prior_sample(self, key: jax.Array, shape, dtype=jnp.float32):
        """Sample the prior N(0, I) at t = 1."""
        return jax.random.normal(key, shape, dtype)
