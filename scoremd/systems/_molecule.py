"""Molecular geometry: coarse-graining maps by atom name, dihedrals, centring, rotations.

Coarse-graining (DESIGN §6): a map is a sequence of (residue name, atom name)
pairs; bead k is the k-th atom that matches, in topology order, so the map of
the paper's five-bead alanine dipeptide is C(ACE), N, CA, C (ALA), N(NME), with
phi = beads (0, 1, 2, 3) and psi = (1, 2, 3, 4).

All positions are in nm with shape (..., n_atoms, 3); angles in radians.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import DataError

ALANINE_DIPEPTIDE_BACKBONE = (("ACE", "C"), ("ALA", "N"), ("ALA", "CA"), ("ALA", "C"), ("NME", "N"))
ALANINE_DIPEPTIDE_PHI = (0, 1, 2, 3)
ALANINE_DIPEPTIDE_PSI = (1, 2, 3, 4)


def _atoms(topology):
    """(residue name, atom name, mass in amu) per atom, for OpenMM or mdtraj topologies."""
    out = []
    atoms = topology.atoms() if callable(topology.atoms) else topology.atoms  # OpenMM: method; mdtraj: property
    for atom in atoms:
        element = atom.element
        mass = element.mass if hasattr(element, "mass") else 0.0
        mass = mass.value_in_unit(mass.unit) if hasattr(mass, "value_in_unit") else float(mass)
        out.append((atom.residue.name, atom.name, mass))
    return out


def select_beads(topology, cg_map) -> np.ndarray:
    """Atom indices of the beads of ``cg_map`` ((residue, atom) name pairs), in map order.

    Raises:
      DataError: a pair matches no atom, or a pair matches more than once.
    """
    atoms = _atoms(topology)
    indices = []
    for res, name in cg_map:
        hits = [i for i, (r, a, _) in enumerate(atoms) if r == res and a == name]
        if len(hits) != 1:
            found = sorted({f"{r}:{a}" for r, a, _ in atoms if r == res}) or ["no such residue"]
            raise DataError(
                f"coarse-graining bead {res}:{name} matches {len(hits)} atoms (need exactly one); "
                f"atoms of {res}: {', '.join(found)}"
            )
        indices.append(hits[0])
    return np.array(indices)


def bead_masses(topology, indices) -> np.ndarray:
    """Masses (amu) of the mapped atoms, shape (n_beads,)."""
    atoms = _atoms(topology)
    return np.array([atoms[i][2] for i in indices])


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


def run_split(run_index: np.ndarray, validation_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Split frames into training and validation by whole runs: the last runs are held out.

    ``round(validation_fraction * n_runs)`` runs (at least one, at most all but one) are
    held out, so the held-out frames share no trajectory with the training frames: a rare
    basin entered a few times per run cannot fall on one side of the split just by when,
    within each run, it was visited. A single run cannot be split this way; it falls back
    to :func:`time_block_split`, whose arguments and return value this shares.
    """
    runs = np.unique(run_index)
    if len(runs) < 2 or validation_fraction == 0:
        return time_block_split(run_index, validation_fraction)
    _check_fraction(validation_fraction)
    n_held = min(len(runs) - 1, max(1, int(round(validation_fraction * len(runs)))))
    held = np.isin(run_index, runs[len(runs) - n_held:])
    return np.flatnonzero(~held), np.flatnonzero(held)


def _check_fraction(validation_fraction: float) -> None:
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {validation_fraction}")


HELD_OUT_SPLITS = ("runs", "time")


def split_frames(run_index: np.ndarray, validation_fraction: float, held_out: str):
    """(train_indices, validation_indices) by ``held_out``: ``"runs"`` (:func:`run_split`) or ``"time"``."""
    if held_out not in HELD_OUT_SPLITS:
        raise ValueError(f'held_out must be "runs" or "time", got {held_out!r}')
    split = run_split if held_out == "runs" else time_block_split
    return split(run_index, validation_fraction)


def time_block_split(run_index: np.ndarray, validation_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split frames into training and validation by time blocks: the last fraction of every run.

    Args:
      run_index: run of each frame, shape (N,), frames of a run in time order.

    Returns:
      (train_indices, validation_indices).
    """
    _check_fraction(validation_fraction)
    train, val = [], []
    for run in np.unique(run_index):
        idx = np.flatnonzero(run_index == run)
        cut = len(idx) - int(round(validation_fraction * len(idx)))
        train.append(idx[:cut])
        val.append(idx[cut:])
    return np.concatenate(train), np.concatenate(val)
