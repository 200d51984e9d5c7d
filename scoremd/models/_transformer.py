"""Graph-transformer energy for molecules (docs/design.md §5).

After the architecture of Plainer et al. (2025), itself after two-for-one
diffusion (Arts et al. 2023): node embeddings from bead identity, edges from
relative vectors x_j - x_i on all pairs, attention layers whose logits and
values are modulated by edge features, gated residual updates, and a per-node
energy summed to a scalar.

The model sees raw relative vectors, so it is translation invariant but neither
rotation nor reflection invariant: rotational invariance is learned from
random-rotation augmentation, and it can tell a molecule from its mirror image
(docs/design.md D10). Attention width and depth are arguments so the cost can be sized
to the machine (the paper's fixed 8 heads x 64 on all n^2 edges dominates the
cost on a CPU).
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx

from ._time import n_time_features, time_features


class AttentionLayer(nnx.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, edge_dim: int, *, rngs: nnx.Rngs):
        self.heads, self.head_dim = heads, head_dim
        width = heads * head_dim
        self.norm = nnx.LayerNorm(hidden, rngs=rngs)
        self.qkv = nnx.Linear(hidden, 3 * width, rngs=rngs)
        self.edge_bias = nnx.Linear(edge_dim, heads, rngs=rngs)
        self.edge_value = nnx.Linear(edge_dim, width, rngs=rngs)
        self.out = nnx.Linear(width, hidden, rngs=rngs)
        self.gate = nnx.Linear(hidden, hidden, rngs=rngs)
        self.ffn_norm = nnx.LayerNorm(hidden, rngs=rngs)
        self.ffn = nnx.Sequential(nnx.Linear(hidden, 2 * hidden, rngs=rngs), nnx.swish,
                                  nnx.Linear(2 * hidden, hidden, rngs=rngs))

    def __call__(self, h, e, mask=None):
        """h: (B, n, hidden) node states; e: (B, n, n, edge_dim) edge features; mask: (B, n), 0 for
        nodes that no node attends to (absent atoms), or None."""
        b, n, _ = h.shape
        q, k, v = jnp.split(self.qkv(self.norm(h)), 3, axis=-1)
        q, k, v = (a.reshape(b, n, self.heads, self.head_dim) for a in (q, k, v))
        logits = jnp.einsum("bihd,bjhd->bhij", q, k) / jnp.sqrt(self.head_dim)
        logits = logits + jnp.moveaxis(self.edge_bias(e), -1, 1)
        if mask is not None:
            logits = jnp.where(mask[:, None, None, :] > 0, logits, jnp.asarray(-1e9, logits.dtype))
        attn = nnx.softmax(logits, axis=-1)
        ev = self.edge_value(e).reshape(b, n, n, self.heads, self.head_dim)
        msg = jnp.einsum("bhij,bjhd->bihd", attn, v) + jnp.einsum("bhij,bijhd->bihd", attn, ev)
        h = h + nnx.sigmoid(self.gate(h)) * self.out(msg.reshape(b, n, -1))
        return h + self.ffn(self.ffn_norm(h))


class GraphEnergyTrunk(nnx.Module):
    """What the graph transformers share: time embedding, edge features of all pairs from the
    relative vectors x_j - x_i and distances, attention layers and a per-node energy head.
    Subclasses add the node embeddings and call :meth:`node_energies`."""

    def __init__(self, hidden: int, layers: int, heads: int, head_dim: int, n_frequencies: int,
                 t_range: tuple[float, float], *, rngs: nnx.Rngs):
        self.n_frequencies, self.t_range = n_frequencies, tuple(t_range)
        edge_dim = 32
        self.time = nnx.Linear(n_time_features(n_frequencies), hidden, rngs=rngs)
        self.edge = nnx.Sequential(nnx.Linear(4 + hidden, edge_dim, rngs=rngs), nnx.swish,
                                   nnx.Linear(edge_dim, edge_dim, rngs=rngs))
        self.layers = nnx.List([AttentionLayer(hidden, heads, head_dim, edge_dim, rngs=rngs) for _ in range(layers)])
        self.head = nnx.Sequential(nnx.LayerNorm(hidden, rngs=rngs), nnx.Linear(hidden, hidden, rngs=rngs),
                                   nnx.swish, nnx.Linear(hidden, 1, rngs=rngs))

    def time_embedding(self, t, dtype):
        """t (B,) -> (B, hidden)."""
        return self.time(time_features(t, self.n_frequencies, self.t_range).astype(dtype))

    def node_energies(self, h, x, tf, mask=None):
        """h (B, n, hidden) node embeddings (time included), x (B, n, 3) positions, tf (B, hidden)
        time embedding, mask (B, n) or None (see :class:`AttentionLayer`) -> (B, n) energies."""
        b, n, _ = x.shape
        rel = x[:, None, :, :] - x[:, :, None, :]  # (B, n, n, 3): x_j - x_i
        dist = jnp.sqrt(jnp.sum(rel**2, axis=-1, keepdims=True) + 1e-8)
        e = self.edge(jnp.concatenate([rel, dist, jnp.broadcast_to(tf[:, None, None, :], (b, n, n, tf.shape[-1]))], -1))
        for layer in self.layers:
            h = layer(h, e, mask)
        return self.head(h)[..., 0]


class EnergyTransformer(GraphEnergyTrunk):
    """Scalar energy network f(x, t) for a molecule of ``n_beads`` beads.

    Args:
      n_beads: number of beads n (the event shape is (n, 3)).
      hidden: node feature width.
      layers: attention layers.
      heads: attention heads.
      head_dim: width of each head.
      n_frequencies: Fourier frequencies of the time embedding.
      t_range: (lo, hi) diffusion-time range of this network.
      rngs: NNX random streams.
    """

    def __init__(self, n_beads: int, hidden: int = 64, layers: int = 2, heads: int = 4, head_dim: int = 16,
                 n_frequencies: int = 2, t_range: tuple[float, float] = (0.0, 1.0), *, rngs: nnx.Rngs):
        self.embed = nnx.Embed(n_beads, hidden, rngs=rngs)  # first: the same initial parameters as before
        super().__init__(hidden, layers, heads, head_dim, n_frequencies, t_range, rngs=rngs)

    def __call__(self, x, t):
        """x: (B, n, 3) normalised positions; t: (B,). Returns (B,)."""
        tf = self.time_embedding(t, x.dtype)  # (B, hidden)
        h = self.embed(jnp.arange(x.shape[1]))[None].astype(x.dtype) + tf[:, None, :]
        return jnp.sum(self.node_energies(h, x, tf), axis=-1)
