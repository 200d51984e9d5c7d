"""Pure-function boundary between Flax NNX networks and the rest of scoremd.

A network f_theta(x, t) becomes the energy E_theta(x, t) in units of k_BT
(DESIGN §2, D2), with one of two output scalings:

* ``"none"`` (default): E_theta = f_theta. The score stays O(|grad log p_0|)
  as t -> 0, so the model at t0 is a smooth force field.
* ``"inverse_std"``: E_theta = f_theta / sigma_t, the epsilon parameterisation
  written as an energy (the denoising target -grad f is O(1) at every t).
  It fits large t easily but multiplies any error of f at t0 by
  1/sigma_t0 (~1e3 at t0 = 1e-5), which ruins the force field (measured on
  Mueller-Brown: MD JS 0.55 against 0.011 for i.i.d. samples).

The score is s_theta = -grad_x E_theta and log q_theta = -E_theta up to a
constant in x.

Everything downstream (losses, samplers, dynamics) uses the pure functions
``energy(params, x, t)`` and ``score(params, x, t)``, so ``jax.grad``,
``jax.jvp``, ``vmap`` and ``jit`` compose without NNX state surprises.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from ..sde import VPSDE
from ._mlp import EnergyMLP

Params = Any  # a pytree of arrays (nested dict)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of the energy network.

    Attributes:
      kind: network family; ``"mlp"`` for now.
      hidden: hidden-layer widths.
      n_frequencies: Fourier frequencies of the time embedding.
      output_scaling: ``"none"`` (E = f) or ``"inverse_std"`` (E = f / sigma_t).
    """

    kind: str = "mlp"
    hidden: tuple[int, ...] = (256, 256, 256)
    n_frequencies: int = 2
    output_scaling: str = "none"

    def __post_init__(self):
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; choose one of {sorted(MODEL_KINDS)}")
        if self.output_scaling not in OUTPUT_SCALINGS:
            raise ValueError(
                f"unknown output_scaling {self.output_scaling!r}; choose one of {OUTPUT_SCALINGS}"
            )
        if not self.hidden or any(int(h) <= 0 for h in self.hidden):
            raise ValueError(f"model.hidden must be a non-empty list of positive widths, got {self.hidden}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))


MODEL_KINDS = {"mlp"}
OUTPUT_SCALINGS = ("none", "inverse_std")


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """A network architecture plus the diffusion it is defined on (no parameters).

    Attributes:
      graphdef: the NNX graph definition of the network (static structure).
      sde: the VP SDE (its sigma_t scales the output with ``"inverse_std"``).
      event_shape: shape of one sample, e.g. (2,) or (n_beads, 3).
      output_scaling: see :class:`ModelConfig`.
    """

    graphdef: Any
    sde: VPSDE
    event_shape: tuple[int, ...]
    output_scaling: str = "none"

    def energy(self, params: Params, x: jax.Array, t: jax.Array) -> jax.Array:
        """Energy in units of k_BT.

        Args:
          params: network parameters.
          x: normalised coordinates, shape (B, *event_shape).
          t: diffusion times, shape (B,) (a scalar is broadcast).

        Returns:
          E_theta(x, t), shape (B,).
        """
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        f = nnx.merge(self.graphdef, params)(x, t)
        if self.output_scaling == "inverse_std":
            return f / self.sde.std(t).astype(x.dtype)
        return f

    def score(self, params: Params, x: jax.Array, t: jax.Array) -> jax.Array:
        """Score s_theta = -grad_x E_theta, shape like ``x`` (normalised units)."""
        return -jax.grad(lambda y: jnp.sum(self.energy(params, y, t)))(x)

    def energy_and_score(self, params: Params, x: jax.Array, t: jax.Array):
        """(E, s) from one forward and one backward pass."""
        e, pullback = jax.vjp(lambda y: self.energy(params, y, t), x)
        (g,) = pullback(jnp.ones_like(e))
        return e, -g


def build_model(config: ModelConfig, event_shape, sde: VPSDE, *, key: jax.Array):
    """Create an :class:`EnergyModel` and freshly initialised parameters.

    Args:
      config: architecture.
      event_shape: shape of one sample.
      sde: the diffusion process.
      key: PRNG key for initialisation.

    Returns:
      (model, params)
    """
    event_shape = tuple(int(d) for d in event_shape)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    rngs = nnx.Rngs(seed)
    if config.kind == "mlp":
        net = EnergyMLP(math.prod(event_shape), config.hidden, config.n_frequencies, rngs=rngs)
    else:  # pragma: no cover - guarded by ModelConfig
        raise ValueError(config.kind)
    graphdef, state = nnx.split(net)
    params = nnx.to_pure_dict(state)
    return EnergyModel(graphdef, sde, event_shape, config.output_scaling), params
