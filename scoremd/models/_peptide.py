"""Transferable dipeptide energy: one network for every dipeptide (docs/design.md D16).

Every dipeptide is laid out on ten *slots*, N, CA, CB, C, O of residue 1 then of
residue 2 (:data:`SLOTS`); the slot says a bead's atom name and residue index, and
a learned embedding of each residue's amino acid (``context``, shape (B, 2), the
indices into ``scoremd.data.dipeptides.AMINO_ACIDS``) says its residue type. A
glycine has no CB: its slot is *absent* (masked).

Features are exactly invariant to rotations and translations of the present
beads and chirality-aware (D10): all pair distances between present slots, and
normalised signed volumes of the backbone and side-chain quadruples that fix
the handedness of each C-alpha and the sign of phi and psi (:data:`QUADS`);
features involving an absent slot are zero. The energy (k_BT, normalised units) is

    E = f_theta(features, embeddings, t) + 1/2 sum_present |x_i - c|^2 + 1/2 sum_absent |x_i|^2,

with c the centroid of the present beads. The last term is exact, not learned:
training fills an absent slot with N(0, 1) noise (normalised units), which the VP
diffusion leaves N(0, 1) at every t, so its true score is -x at every t. Then
denoising score matching, the Fokker-Planck residual and the samplers need no
masks of their own: the absent coordinates are an exactly solved Gaussian that
the learned part never sees (their DSM residual does not depend on theta).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._mlp import pair_distances
from ._time import n_time_features, time_features
from ._transformer import GraphEnergyTrunk

SLOTS = ("N", "CA", "CB", "C", "O") * 2
"""Atom name of each of the ten slots; slots 0-4 are residue 1, 5-9 residue 2."""

CB_SLOTS = (2, 7)
"""The slots a glycine leaves empty (its residue's CB)."""

GLYCINE = 5
"""Index of glycine in ``scoremd.data.dipeptides.AMINO_ACIDS`` ("ACDEFGHIKLMNPQRSTVWY")."""

N_AMINO_ACIDS = 20

QUADS = (
    (0, 1, 3, 5),  # psi: N1-CA1-C1-N2
    (3, 5, 6, 8),  # phi: C1-N2-CA2-C2
    (1, 3, 5, 6),  # omega: CA1-C1-N2-CA2
    (0, 3, 1, 2),  # chirality of CA1: N1-C1-CA1-CB1
    (5, 8, 6, 7),  # chirality of CA2: N2-C2-CA2-CB2
    (2, 1, 3, 5),  # CB1-CA1-C1-N2 (side chain against psi)
    (3, 5, 6, 7),  # C1-N2-CA2-CB2 (side chain against phi)
    (5, 6, 8, 9),  # N2-CA2-C2-O2 (C-terminal carboxylate)
    (1, 5, 3, 4),  # CA1-N2-C1-O1 (peptide-plane oxygen)
)
"""Slot quadruples (a, b, c, d) of the chirality-sensitive signed volumes."""

_PAIRS = np.triu_indices(len(SLOTS), 1)


def slot_mask(types):
    """1 for present, 0 for absent slots: types (B, 2) int -> (B, 10) float32."""
    present = jnp.ones(types.shape[:-1] + (len(SLOTS),), jnp.float32)
    for residue, slot in enumerate(CB_SLOTS):
        present = present.at[..., slot].set(jnp.where(types[..., residue] == GLYCINE, 0.0, 1.0))
    return present


def fill_absent(key, x, types):
    """x (B, 10, 3) with every absent slot replaced by fresh N(0, 1) noise (its exact distribution
    in normalised units at every diffusion time); types (B, 2)."""
    present = slot_mask(types)[..., None] > 0
    return jnp.where(present, x, jax.random.normal(key, x.shape, x.dtype))


def signed_volumes(x, quads=QUADS):
    """u1 . (u2 x u3) / (|u1| |u2| |u3|) with u1 = b - a, u2 = c - b, u3 = d - c: x (B, n, 3) -> (B, len(quads)).

    Bounded in [-1, 1] and odd under reflection (it is the sine of the dihedral a-b-c-d
    times the sines of the two bond angles)."""
    q = np.asarray(quads)
    a, b, c, d = (x[:, q[:, k]] for k in range(4))
    u1, u2, u3 = b - a, c - b, d - c

    def norm(u):
        return jnp.sqrt(jnp.sum(u**2, axis=-1) + 1e-12)

    return jnp.sum(u1 * jnp.cross(u2, u3), axis=-1) / (norm(u1) * norm(u2) * norm(u3))


class PeptideEnergyMLP(nnx.Module):
    """Scalar network of a dipeptide on ten slots, conditioned on its two amino acids.

    :class:`scoremd.models.EnergyModel` calls it as ``net(x, t, types)`` and uses the output
    as the energy in k_BT (the module docstring gives the formula).

    Args:
      hidden: widths of the hidden layers.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range this network is responsible for.
      embed_dim: width of each residue's amino-acid embedding.
      rngs: Flax NNX random streams.
    """

    def __init__(self, hidden: Sequence[int] = (256, 256, 256), n_frequencies: int = 2,
                 t_range: tuple[float, float] = (0.0, 1.0), embed_dim: int = 16, *, rngs: nnx.Rngs):
        self.n_frequencies = n_frequencies
        self.t_range = tuple(t_range)
        self.embed = nnx.Embed(N_AMINO_ACIDS, embed_dim, rngs=rngs)
        n_in = len(_PAIRS[0]) + len(QUADS) + 2 * embed_dim + n_time_features(n_frequencies)
        widths = [n_in, *hidden]
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nnx.Linear(widths[-1], 1, rngs=rngs)

    def __call__(self, x, t, types):
        """x (B, 10, 3) normalised, t (B,), types (B, 2) or (2,) amino-acid indices -> (B,)."""
        types = jnp.broadcast_to(jnp.asarray(types, jnp.int32), x.shape[:1] + (2,))
        present = slot_mask(types).astype(x.dtype)
        pair_present = present[:, _PAIRS[0]] * present[:, _PAIRS[1]]
        quad_present = jnp.prod(present[:, np.asarray(QUADS)], axis=-1)
        # absent slots enter the features only through zeros: move them onto a present bead first, so
        # that no gradient (and no NaN of a zero distance) reaches them from the learned part
        safe = jnp.where(present[..., None] > 0, x, x[:, 1:2])
        h = jnp.concatenate([
            pair_distances(safe) * pair_present,
            signed_volumes(safe) * quad_present,
            self.embed(types).reshape(x.shape[0], -1).astype(x.dtype),
            time_features(t, self.n_frequencies, self.t_range).astype(x.dtype),
        ], axis=-1)
        for layer in self.layers:
            h = nnx.swish(layer(h))
        centre = jnp.sum(present[..., None] * x, axis=1, keepdims=True) / jnp.sum(present, axis=1)[:, None, None]
        baseline = 0.5 * jnp.sum(present[..., None] * (x - centre) ** 2, axis=(-2, -1))
        absent = 0.5 * jnp.sum((1.0 - present[..., None]) * x**2, axis=(-2, -1))
        return self.out(h)[:, 0] + baseline + absent


class PeptideEnergyTransformer(GraphEnergyTrunk):
    """Graph transformer of a dipeptide on ten slots, conditioned on its amino acids (GPU presets).

    Each slot is a node whose embedding is the sum of its slot's (atom name and residue index),
    its residue's amino acid and the diffusion time; edges carry the relative vectors
    x_j - x_i and distances of all pairs; the attention layers are those of
    :class:`scoremd.models.EnergyTransformer`, with absent slots (a glycine's CB) masked out
    as keys. The energy in k_BT is the sum of a learned per-node energy over present slots plus
    the same Gaussian terms as :class:`PeptideEnergyMLP` (the harmonic baseline of the present
    beads, the exact ½|x|² of an absent slot). Translation invariant and chirality aware;
    rotation invariance is learned from random rotations (``loss.random_rotations``).

    Args:
      hidden: node width.
      layers: attention layers.
      heads, head_dim: attention heads and their width.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range this network is responsible for.
      rngs: Flax NNX random streams.
    """

    def __init__(self, hidden: int = 96, layers: int = 2, heads: int = 8, head_dim: int = 64, n_frequencies: int = 2,
                 t_range: tuple[float, float] = (0.0, 1.0), *, rngs: nnx.Rngs):
        self.slot = nnx.Embed(len(SLOTS), hidden, rngs=rngs)
        self.amino = nnx.Embed(N_AMINO_ACIDS, hidden, rngs=rngs)
        super().__init__(hidden, layers, heads, head_dim, n_frequencies, t_range, rngs=rngs)

    def __call__(self, x, t, types):
        """x (B, 10, 3) normalised, t (B,), types (B, 2) or (2,) amino-acid indices -> (B,)."""
        b, n, _ = x.shape
        types = jnp.broadcast_to(jnp.asarray(types, jnp.int32), (b, 2))
        present = slot_mask(types).astype(x.dtype)
        safe = jnp.where(present[..., None] > 0, x, x[:, 1:2])  # no gradient reaches an absent slot
        tf = self.time_embedding(t, x.dtype)
        residue = np.repeat(np.arange(2), len(SLOTS) // 2)  # the residue of each slot
        h = (self.slot(jnp.arange(n))[None] + self.amino(types)[:, residue] + tf[:, None, :]).astype(x.dtype)
        learned = jnp.sum(self.node_energies(h, safe, tf, present) * present, axis=-1)
        centre = jnp.sum(present[..., None] * x, axis=1, keepdims=True) / jnp.sum(present, axis=1)[:, None, None]
        baseline = 0.5 * jnp.sum(present[..., None] * (x - centre) ** 2, axis=(-2, -1))
        absent = 0.5 * jnp.sum((1.0 - present[..., None]) * x**2, axis=(-2, -1))
        return learned + baseline + absent
