"""Pure-function boundary between Flax NNX networks and the rest of scoremd.

A network f_theta(x, t) becomes the energy E_theta(x, t) in units of k_BT
(docs/design.md §2, D2), with one of two output scalings (:class:`OutputScaling`):

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
``energy(params, x, t)`` and ``score(params, x, t)`` of an
:class:`AbstractEnergyModel`, so ``jax.grad``, ``jax.jvp``, ``vmap`` and ``jit``
compose without NNX state surprises. :class:`EnergyModel` (one network) and
:class:`MixtureEnergyModel` (experts over diffusion time) are its final implementations.
"""

from __future__ import annotations

import abc
import bisect
import dataclasses
from typing import Any, final

from jaxtyping import Array, Float

import jax
import jax.numpy as jnp
from flax import nnx

from ..sde import VPSDE
from ._config import ModelConfig, ModelKind, OutputScaling, TimeEmbedding
from ._mlp import EnergyMLP
from ._peptide import SLOTS, PeptideEnergyMLP, PeptideEnergyTransformer
from ._transformer import EnergyTransformer

__all__ = ["AbstractEnergyModel", "BoundEnergyModel", "EnergyModel", "MixtureEnergyModel", "Params", "build_model"]

Params = Any  # a pytree of arrays (nested dict)


class AbstractEnergyModel(abc.ABC):
    """An energy E_theta(x, t) in k_BT on normalised coordinates, and the score it implies.

    Implementations define :meth:`energy`, ``sde`` and ``event_shape``; the score is
    always derived from the energy, s_theta = -grad_x E_theta (never overridden).
    """

    sde: VPSDE
    event_shape: tuple[int, ...]

    @abc.abstractmethod
    def energy(self, params: Params, x: Float[Array, " B *event"], t) -> Float[Array, " B"]:
        """Energy in units of k_BT; x (B, *event_shape) normalised, t (B,) or a scalar -> (B,)."""

    @final
    def score(self, params: Params, x: Float[Array, " B *event"], t) -> Float[Array, " B *event"]:
        """Score s_theta = -grad_x E_theta, shape like ``x`` (normalised units)."""
        return -jax.grad(lambda y: jnp.sum(self.energy(params, y, t)))(x)

    @final
    def energy_and_score(self, params: Params, x: jax.Array, t):
        """(E, s) from one forward and one backward pass."""
        e, pullback = jax.vjp(lambda y: self.energy(params, y, t), x)
        (g,) = pullback(jnp.ones_like(e))
        return e, -g

    def bind(self, context) -> "BoundEnergyModel":
        """This model with its conditioning fixed (a conditional model; e.g. a dipeptide's amino
        acids, shape (2,) for every sample or (B, 2) per sample). Raises for unconditional models."""
        raise TypeError(f"{type(self).__name__} takes no context; only conditional (peptide) models can be bound")


@final
@dataclasses.dataclass(frozen=True)
class BoundEnergyModel(AbstractEnergyModel):
    """A conditional model with its context fixed: an ordinary E(x, t) for losses, samplers and MD.

    Attributes:
      base: the conditional :class:`EnergyModel` or :class:`MixtureEnergyModel`.
      context: its conditioning; a tuple (hashable, so the bound model can be a static
        argument: one peptide) or an array (e.g. per-sample amino acids of a training batch).
    """

    base: AbstractEnergyModel
    context: Any

    @property
    def sde(self) -> VPSDE:
        return self.base.sde

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.base.event_shape

    def energy(self, params: Params, x: jax.Array, t) -> jax.Array:
        """Energy (k_BT) of the base model with this context; x (B, *event), t (B,) or scalar -> (B,)."""
        return self.base.energy(params, x, t, context=jnp.asarray(self.context))


@final
@dataclasses.dataclass(frozen=True)
class EnergyModel(AbstractEnergyModel):
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
    output_scaling: OutputScaling = OutputScaling.NONE
    conditional: bool = False

    def energy(self, params: Params, x: jax.Array, t: jax.Array, context=None) -> jax.Array:
        """Energy in units of k_BT.

        Args:
          params: network parameters.
          x: normalised coordinates, shape (B, *event_shape).
          t: diffusion times, shape (B,) (a scalar is broadcast).
          context: the conditioning of a conditional network (peptides: amino-acid indices,
            (2,) or (B, 2)); required by conditional models, refused by the others.

        Returns:
          E_theta(x, t), shape (B,).
        """
        if (context is None) == self.conditional:
            raise TypeError("a conditional model needs a context (use model.bind(types))" if self.conditional
                            else "this model takes no context")
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        net = nnx.merge(self.graphdef, params)
        f = net(x, t) if context is None else net(x, t, context)
        if self.output_scaling is OutputScaling.INVERSE_STD:
            return f / self.sde.std(t).astype(x.dtype)
        return f

    def bind(self, context) -> BoundEnergyModel:
        if not self.conditional:
            return super().bind(context)
        return BoundEnergyModel(self, context)


@final
@dataclasses.dataclass(frozen=True)
class MixtureEnergyModel(AbstractEnergyModel):
    """Experts over diffusion time (Plainer et al. 2025, mixture of experts; docs/design.md §3).

    Expert k owns t in [b_{k-1}, b_k) with b_{-1} = 0 and b_K = 1; experts are
    ordered from small to large t. Parameters are ``{"expert_0": ..., ...}``.

    Attributes:
      experts: one :class:`EnergyModel` per time range, small t first.
      boundaries: the interior boundaries b_0 < b_1 < ...
    """

    experts: tuple[EnergyModel, ...]
    boundaries: tuple[float, ...]

    @property
    def sde(self) -> VPSDE:
        return self.experts[0].sde

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.experts[0].event_shape

    @property
    def t_ranges(self) -> list[tuple[float, float]]:
        """(lo, hi) of each expert."""
        edges = [0.0, *self.boundaries, 1.0]
        return list(zip(edges[:-1], edges[1:]))

    def expert_index(self, t):
        """Index of the expert responsible for each time (array or Python float)."""
        if isinstance(t, (int, float)):
            return bisect.bisect_right(self.boundaries, t)
        return jnp.searchsorted(jnp.asarray(self.boundaries, jnp.asarray(t).dtype), t, side="right")

    def bind(self, context) -> BoundEnergyModel:
        if not self.experts[0].conditional:
            return super().bind(context)
        return BoundEnergyModel(self, context)

    def energy(self, params: Params, x: jax.Array, t, context=None) -> jax.Array:
        """Energy (k_BT) from the expert owning t; x (B, *event), t (B,) or a Python float.

        A Python-float time picks its expert statically (one network evaluated, as in
        MD at t0); an array of equal times runs only the expert owning it (a runtime
        branch, as in the samplers); mixed times evaluate every expert and select per sample.
        """
        if isinstance(t, (int, float)):
            k = self.expert_index(t)
            return self.experts[k].energy(params[f"expert_{k}"], x, t, context)
        t = jnp.broadcast_to(jnp.asarray(t, x.dtype), x.shape[:1])
        idx = self.expert_index(t)

        def every_expert():
            out = jnp.zeros(x.shape[:1], x.dtype)
            for k, expert in enumerate(self.experts):
                out = jnp.where(idx == k, expert.energy(params[f"expert_{k}"], x, t, context), out)
            return out

        if x.shape[0] == 0:
            return every_expert()
        # Samplers step all samples at one time: then only the expert owning it runs.
        branches = [lambda k=k: self.experts[k].energy(params[f"expert_{k}"], x, t, context)
                    for k in range(len(self.experts))]
        return jax.lax.cond(jnp.all(idx == idx[0]), lambda: jax.lax.switch(idx[0], branches), every_expert)


def _build_network(config: ModelConfig, event_shape, sde: VPSDE, t_range, key, distance_stats, expert: int = 0,
                   closest=None):
    hidden = config.hidden_of(expert)
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    rngs = nnx.Rngs(seed)
    if config.kind is ModelKind.MLP:
        net = EnergyMLP(event_shape, hidden, config.n_frequencies, t_range, config.features,
                        distance_stats if config.whiten_distances else None, sde, bond_prior=config.bond_prior,
                        closest=closest if config.excluded_volume else None,
                        log_time_floor=sde.t_min if config.time_embedding is TimeEmbedding.LOG else None, rngs=rngs)
    elif config.kind is ModelKind.PEPTIDE:
        if tuple(event_shape) != (len(SLOTS), 3):
            raise ValueError(f'kind = "peptide" needs dipeptides on {len(SLOTS)} slots, event (10, 3); got {event_shape}')
        net = PeptideEnergyMLP(hidden, config.n_frequencies, t_range, config.embed_dim, rngs=rngs)
    elif config.kind is ModelKind.PEPTIDE_TRANSFORMER:
        if tuple(event_shape) != (len(SLOTS), 3):
            raise ValueError(f'kind = "peptide_transformer" needs dipeptides on {len(SLOTS)} slots, event (10, 3); '
                             f"got {event_shape}")
        net = PeptideEnergyTransformer(hidden[0], len(hidden), config.heads, config.head_dim,
                                       config.n_frequencies, t_range, rngs=rngs)
    else:
        if len(event_shape) != 2 or event_shape[1] != 3:
            raise ValueError(f"the transformer needs molecular events of shape (n_beads, 3), got {event_shape}")
        net = EnergyTransformer(event_shape[0], hidden[0], len(hidden), config.heads,
                                config.head_dim, config.n_frequencies, t_range, rngs=rngs)
    graphdef, state = nnx.split(net)
    model = EnergyModel(graphdef, sde, event_shape, config.output_scaling, conditional=config.kind.conditional)
    return model, nnx.to_pure_dict(state)


def build_model(config: ModelConfig, event_shape, sde: VPSDE, *, key: jax.Array, distance_stats=None,
                closest=None):
    """Create an :class:`EnergyModel` (or a :class:`MixtureEnergyModel`) and fresh parameters.

    Args:
      config: architecture.
      event_shape: shape of one sample.
      sde: the diffusion process.
      key: PRNG key for initialisation.
      distance_stats: (mean, std) of every pair distance of the normalised training data
        (:func:`scoremd.models.distance_statistics`); required by ``whiten_distances``.
      closest: the closest approach of every pair distance in the normalised training data
        (:func:`scoremd.models.closest_distances`); required by ``excluded_volume``.

    Returns:
      (model, params)
    """
    event_shape = tuple(int(d) for d in event_shape)
    if config.whiten_distances and distance_stats is None:
        raise ValueError(
            "model.whiten_distances needs the pair-distance statistics of the training data: pass "
            "distance_stats=scoremd.models.distance_statistics(x_train / scale) (scoremd.train does)"
        )
    if config.excluded_volume and closest is None:
        raise ValueError("model.excluded_volume needs the closest pair distances of the training data: pass "
                         "closest=scoremd.models.closest_distances(x_train / scale) (scoremd.train does)")
    if not config.expert_boundaries:
        return _build_network(config, event_shape, sde, (0.0, 1.0), key, distance_stats, closest=closest)
    edges = [0.0, *config.expert_boundaries, 1.0]
    experts, params = [], {}
    for k, (key_k, lo, hi) in enumerate(zip(jax.random.split(key, len(edges) - 1), edges[:-1], edges[1:])):
        expert, p = _build_network(config, event_shape, sde, (lo, hi), key_k, distance_stats, k, closest=closest)
        experts.append(expert)
        params[f"expert_{k}"] = p
    return MixtureEnergyModel(tuple(experts), config.expert_boundaries), params
