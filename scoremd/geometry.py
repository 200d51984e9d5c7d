"""Geometry of molecular configurations: centring, dihedral angles, random rotations.

Positions are in nm with shape (..., n_atoms, 3); angles in radians. Functions
work on numpy and JAX arrays unless they take a PRNG key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["center", "dihedral_angles", "random_rotations", "rotate"]


def center(x):
    """Subtract the centre of geometry of each configuration; x (..., n, 3)."""
    return x - x.mean(axis=-2, keepdims=True)


def dihedral_angles(x, quads):
    """Dihedral angles (radians, in (-pi, pi]) of atom quadruples; x (..., n, 3) -> (..., len(quads)).

    Uses the IUPAC sign convention (as mdtraj and OpenMM). Works on numpy and JAX arrays.
    """
    xp = jnp if isinstance(x, jax.Array) else np
    q = np.asarray(quads)
    p0, p1, p2, p3 = (x[..., q[:, k], :] for k in range(4))
    b0, b1, b2 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = xp.cross(b0, b1), xp.cross(b1, b2)
    y = xp.linalg.norm(b1, axis=-1) * xp.sum(b0 * n2, axis=-1)
    return xp.arctan2(y, xp.sum(n1 * n2, axis=-1))


def random_rotations(key: jax.Array, n: int, dtype=jnp.float32) -> jax.Array:
    """n rotation matrices drawn uniformly (Haar) from SO(3), via unit quaternions; shape (n, 3, 3)."""
    q = jax.random.normal(key, (n, 4), dtype)
    w, x, y, z = (q / jnp.linalg.norm(q, axis=-1, keepdims=True)).T
    return jnp.stack([
        jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        jnp.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        jnp.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], axis=-2)


def rotate(key: jax.Array, x: jax.Array) -> jax.Array:
    """Apply an independent uniform random rotation to each configuration; x (B, n, 3)."""
    return jnp.einsum("bij,bnj->bni", random_rotations(key, x.shape[0], x.dtype), x)


def native_contacts(native, cutoff: float, min_separation: int = 4):
    """Native contacts of a structure (n, 3) nm by a distance criterion: pairs with
    |i - j| >= min_separation and native distance r_0 < cutoff (nm). Returns (pairs (K, 2), r_0 (K,))."""
    native = np.asarray(native, np.float64)
    i, j = np.triu_indices(len(native), min_separation)
    r0 = np.linalg.norm(native[i] - native[j], axis=-1)
    keep = r0 < cutoff
    return np.stack([i[keep], j[keep]], axis=-1), r0[keep]


def fraction_native_contacts(x, pairs, r0, factor: float = 1.2):
    """Q of frames x (N, n, 3) nm: the share of native contacts (pairs (K, 2), r_0 (K,)) with r < factor r_0, (N,)."""
    x = np.asarray(x)
    r = np.linalg.norm(x[:, pairs[:, 0]] - x[:, pairs[:, 1]], axis=-1)
    return np.mean(r < factor * np.asarray(r0), axis=-1)
