"""Architecture settings of the energy network (typed; the TOML vocabulary maps to these enums)."""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["Features", "ModelConfig", "ModelKind", "OutputScaling", "TimeEmbedding"]


class ModelKind(enum.StrEnum):
    """Network architecture: an MLP (any event shape), a graph transformer (molecules), or the
    transferable dipeptide networks on ten slots, conditioned on the amino acids (docs/design.md
    D16): the MLP (``"peptide"``, CPU presets) or the graph transformer (``"peptide_transformer"``)."""

    MLP = "mlp"
    TRANSFORMER = "transformer"
    PEPTIDE = "peptide"
    PEPTIDE_TRANSFORMER = "peptide_transformer"

    @property
    def conditional(self) -> bool:
        """Whether the network is conditioned on a context (the amino acids of a dipeptide)."""
        return self in (ModelKind.PEPTIDE, ModelKind.PEPTIDE_TRANSFORMER)


class Features(enum.StrEnum):
    """MLP input: Cartesian coordinates, or distances plus signed volumes (molecules; D10)."""

    CARTESIAN = "cartesian"
    INVARIANT = "invariant"


class OutputScaling(enum.StrEnum):
    """E = f (``NONE``) or E = f / sigma_t (``INVERSE_STD``, the epsilon parameterisation)."""

    NONE = "none"
    INVERSE_STD = "inverse_std"


class TimeEmbedding(enum.StrEnum):
    """Fourier features of the diffusion time on a linear (``LINEAR``) or logarithmic (``LOG``) scale."""

    LINEAR = "linear"
    LOG = "log"


def _choice(enum_type, value, key: str):
    try:
        return enum_type(value)
    except ValueError:
        raise ValueError(f"unknown {key} {value!r}; choose one of {[e.value for e in enum_type]}") from None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Architecture of the energy network.

    Attributes:
      kind: ``"mlp"`` (any event shape), ``"transformer"`` (molecules, event (n, 3)), or the
        transferable dipeptide networks ``"peptide"`` (MLP) and ``"peptide_transformer"``.
      features: MLP input, ``"cartesian"`` (coordinates; centred for molecules) or
        ``"invariant"`` (molecules: pair distances + chirality-sensitive signed volumes).
      whiten_distances: with ``"invariant"``, also feed every pair distance whitened by
        its mean and spread under the diffused training data at time t (stiff bonds
        become O(1) inputs); the statistics are measured on the training data and stored
        with the run.
      bond_prior: with whitened distances, add 1/2 z_b(x, t)^2 for every bond b between
        consecutive beads (z_b its whitened length): at t = 0 a harmonic bond of the
        data's mean length and spread, so the chain holds together in MD and sampling far
        outside the data, where the network's extrapolation is arbitrary; the network
        learns the rest.
      excluded_volume: with ``"invariant"`` features (MLP), add a harmonic wall below every
        non-bonded pair's (|i - j| >= 2) closest approach in the training data, measured and
        stored with the run: zero on the data, it keeps beads from passing through each
        other where the network's extrapolation is arbitrary (docs/design.md §9).
      excluded_volume_after_training: train without the wall and add it when the trained model
        is loaded for sampling, MD and evaluation (``scoremd.load``; ``excluded_volume=False``
        or ``--no-excluded-volume`` leave it off). Training is the same as without the wall;
        the closest approaches are measured from the training frames at load. Exclusive with
        ``excluded_volume`` (which trains with the wall in the energy).
      hidden: hidden-layer widths (MLP); the transformers use ``hidden[0]`` as node width
        and ``len(hidden)`` as their number of attention layers.
      heads: attention heads (transformer).
      head_dim: width of each attention head (transformer).
      n_frequencies: Fourier frequencies of the time embedding.
      time_embedding: ``"linear"`` (Fourier features of t over the network's range) or ``"log"``
        (MLP only: also log t, and the Fourier features of log t between the SDE's t_min and the
        range's end, so the network resolves the decades of small t where a stiff molecule's
        score changes most; docs/design.md §2).
      output_scaling: ``"none"`` (E = f) or ``"inverse_std"`` (E = f / sigma_t).
      expert_boundaries: interior boundaries of a mixture of experts over diffusion
        time, e.g. [0.1, 0.6] for experts on [0, 0.1], [0.1, 0.6], [0.6, 1]
        (empty: one network for all t).
      expert_hidden: hidden-layer widths of each expert, one list per expert (e.g.
        [[128, 128, 128], [256, 256, 256, 256], [256, 256, 256, 256]]): the experts above
        the force-field expert see broader, multi-basin marginals and may need more
        capacity than the one that MD evaluates; empty: every expert uses ``hidden``.
      embed_dim: width of the amino-acid embedding of each residue (``"peptide"``).
    """

    kind: ModelKind = ModelKind.MLP
    features: Features = Features.CARTESIAN
    whiten_distances: bool = False
    bond_prior: bool = False
    excluded_volume: bool = False
    excluded_volume_after_training: bool = False
    hidden: tuple[int, ...] = (256, 256, 256)
    heads: int = 4
    head_dim: int = 16
    n_frequencies: int = 2
    time_embedding: TimeEmbedding = TimeEmbedding.LINEAR
    output_scaling: OutputScaling = OutputScaling.NONE
    expert_boundaries: tuple[float, ...] = ()
    expert_hidden: tuple[tuple[int, ...], ...] = ()
    embed_dim: int = 16

    def __post_init__(self):
        object.__setattr__(self, "kind", _choice(ModelKind, self.kind, "model.kind"))
        object.__setattr__(self, "features", _choice(Features, self.features, "model.features"))
        object.__setattr__(self, "output_scaling", _choice(OutputScaling, self.output_scaling, "model.output_scaling"))
        object.__setattr__(self, "time_embedding", _choice(TimeEmbedding, self.time_embedding, "model.time_embedding"))
        if self.time_embedding is TimeEmbedding.LOG and self.kind is not ModelKind.MLP:
            raise ValueError(f'model.time_embedding = "log" is implemented for kind = "mlp" only, got kind = "{self.kind}"')
        if self.features is not Features.CARTESIAN and self.kind is not ModelKind.MLP:
            raise ValueError(f'model.features = "{self.features}" applies to kind = "mlp" only')
        if self.whiten_distances and self.features is not Features.INVARIANT:
            raise ValueError('model.whiten_distances needs model.features = "invariant"')
        if self.bond_prior and not self.whiten_distances:
            raise ValueError("model.bond_prior needs model.whiten_distances = true (the prior is built from the "
                             "bond lengths' statistics)")
        if self.excluded_volume and (self.kind is not ModelKind.MLP or self.features is not Features.INVARIANT):
            raise ValueError('model.excluded_volume needs kind = "mlp" with features = "invariant" (pair distances)')
        if self.excluded_volume_after_training:
            if self.kind is not ModelKind.MLP or self.features is not Features.INVARIANT:
                raise ValueError('model.excluded_volume_after_training needs kind = "mlp" with features = '
                                 '"invariant" (pair distances)')
            if self.excluded_volume:
                raise ValueError("model.excluded_volume (train with the wall) and model.excluded_volume_after_training "
                                 "(train without it, add it at load) exclude each other: set one")
        if self.embed_dim <= 0:
            raise ValueError(f"model.embed_dim must be positive, got {self.embed_dim}")
        if self.heads <= 0 or self.head_dim <= 0:
            raise ValueError(f"model.heads and model.head_dim must be positive, got {self.heads}, {self.head_dim}")
        if not self.hidden or any(int(h) <= 0 for h in self.hidden):
            raise ValueError(f"model.hidden must be a non-empty list of positive widths, got {self.hidden}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        b = tuple(float(x) for x in self.expert_boundaries)
        if any(not 0 < x < 1 for x in b) or list(b) != sorted(set(b)):
            raise ValueError(f"model.expert_boundaries must be increasing values in (0, 1), got {list(b)}")
        object.__setattr__(self, "expert_boundaries", b)
        if self.expert_hidden:
            widths = tuple(tuple(int(h) for h in w) for w in self.expert_hidden)
            if len(widths) != len(b) + 1:
                raise ValueError(f"model.expert_hidden needs one list of widths per expert ({len(b) + 1} for "
                                 f"expert_boundaries {list(b)}), got {len(widths)}")
            if any(not w or min(w) <= 0 for w in widths):
                raise ValueError(f"model.expert_hidden must hold non-empty lists of positive widths, got "
                                 f"{[list(w) for w in widths]}")
            object.__setattr__(self, "expert_hidden", widths)

    def hidden_of(self, expert: int) -> tuple[int, ...]:
        """Hidden widths of expert ``expert`` (``hidden`` unless ``expert_hidden`` is set)."""
        return self.expert_hidden[expert] if self.expert_hidden else self.hidden


