"""Coarse-graining, dihedrals against mdtraj, rotations."""

import jax
import jax.numpy as jnp
import mdtraj
import numpy as np
import pytest
from openmm import app, unit

from scoremd import DataError
from scoremd.systems._build import build_alanine_dipeptide
from scoremd.systems._molecule import (
    ALANINE_DIPEPTIDE_BACKBONE,
    ALANINE_DIPEPTIDE_PHI,
    ALANINE_DIPEPTIDE_PSI,
    bead_masses,
    center,
    dihedral_angles,
    random_rotations,
    rotate,
    run_split,
    select_beads,
    split_frames,
    time_block_split,
)


@pytest.fixture(scope="module")
def aldp():
    top, pos = build_alanine_dipeptide(app.ForceField("amber99sbildn.xml", "amber99_obc.xml"), -80.0, 150.0)
    x = np.array(pos.value_in_unit(unit.nanometer))
    # A small set of distorted conformations to compare angles on.
    rng = np.random.default_rng(0)
    frames = x[None] + 0.02 * rng.normal(size=(20, *x.shape))
    return top, frames


def test_backbone_map_and_masses(aldp):
    top, _ = aldp
    idx = select_beads(top, ALANINE_DIPEPTIDE_BACKBONE)
    atoms = list(top.atoms())
    assert [(atoms[i].residue.name, atoms[i].name) for i in idx] == list(ALANINE_DIPEPTIDE_BACKBONE)
    np.testing.assert_allclose(bead_masses(top, idx), [12.01, 14.007, 12.01, 12.01, 14.007], atol=0.01)
    with pytest.raises(DataError, match="ALA:CG matches 0 atoms"):
        select_beads(top, [("ALA", "CG")])


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


def test_time_block_split():
    run = np.repeat([0, 1], [10, 20])
    train, val = time_block_split(run, 0.1)
    assert val.tolist() == [9, 28, 29]
    assert sorted(train.tolist() + val.tolist()) == list(range(30))


def test_run_split_holds_out_whole_runs():
    run = np.repeat([0, 1, 2, 3], [3, 2, 4, 1])
    train, val = run_split(run, 0.5)
    assert train.tolist() == [0, 1, 2, 3, 4] and val.tolist() == [5, 6, 7, 8, 9]
    # At least one run and at least one training run, whatever the fraction.
    assert run_split(run, 0.01)[1].tolist() == [9]
    assert run_split(run, 0.99)[0].tolist() == [0, 1, 2]
    # Nothing held out at fraction 0; a single run is split in time.
    assert run_split(run, 0.0)[1].tolist() == []
    one = np.zeros(10, int)
    assert run_split(one, 0.2)[1].tolist() == time_block_split(one, 0.2)[1].tolist() == [8, 9]
    with pytest.raises(ValueError, match="validation_fraction"):
        run_split(run, 1.0)
    assert split_frames(run, 0.5, "time")[1].tolist() == time_block_split(run, 0.5)[1].tolist()
    with pytest.raises(ValueError, match="held_out"):
        split_frames(run, 0.5, "frames")
