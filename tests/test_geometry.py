"""Geometry: dihedrals against mdtraj, rotations, centring."""

import jax
import jax.numpy as jnp
import mdtraj
import numpy as np

from scoremd.geometry import center, dihedral_angles, random_rotations, rotate
from scoremd.systems._molecular import ALANINE_DIPEPTIDE_BACKBONE, ALANINE_DIPEPTIDE_PHI, ALANINE_DIPEPTIDE_PSI
from scoremd.data import select_beads


def test_phi_psi_agree_with_mdtraj(aldp):
    top, frames = aldp
    traj = mdtraj.Trajectory(frames, mdtraj.Topology.from_openmm(top))
    _, phi_ref = mdtraj.compute_phi(traj)
    _, psi_ref = mdtraj.compute_psi(traj)
    cg = frames[:, select_beads(top, ALANINE_DIPEPTIDE_BACKBONE)]
    angles = dihedral_angles(cg, [ALANINE_DIPEPTIDE_PHI, ALANINE_DIPEPTIDE_PSI])
    np.testing.assert_allclose(angles[:, 0], phi_ref[:, 0], atol=1e-5)
    np.testing.assert_allclose(angles[:, 1], psi_ref[:, 0], atol=1e-5)
    # The JAX path gives the same numbers, and a mirror image flips the signs.
    np.testing.assert_allclose(np.asarray(dihedral_angles(jnp.asarray(cg), [ALANINE_DIPEPTIDE_PHI])),
                               angles[:, :1], atol=1e-5)
    mirrored = cg * np.array([1.0, 1.0, -1.0])
    np.testing.assert_allclose(dihedral_angles(mirrored, [ALANINE_DIPEPTIDE_PHI])[:, 0], -angles[:, 0], atol=1e-6)


def test_rotations_are_proper_and_uniform():
    r = np.asarray(random_rotations(jax.random.PRNGKey(0), 20_000))
    np.testing.assert_allclose(np.einsum("nij,nkj->nik", r, r), np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)
    # Haar measure: E[R] = 0, and each entry has variance 1/3.
    se = np.sqrt(1 / 3 / len(r))
    assert np.abs(r.mean(0)).max() < 5 * se
    np.testing.assert_allclose((r**2).mean(0), 1 / 3, atol=5 * np.sqrt(4 / 45 / len(r)) + 1e-3)


def test_rotation_and_centring_keep_internal_geometry(aldp):
    _, frames = aldp
    x = jnp.asarray(center(frames), jnp.float32)
    y = rotate(jax.random.PRNGKey(1), x)
    d = lambda z: jnp.linalg.norm(z[:, :, None] - z[:, None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(np.asarray(d(y)), np.asarray(d(x)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(y.mean(1)), 0.0, atol=1e-6)
