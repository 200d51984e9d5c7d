"""The learned force field inside OpenMM: same energy and forces as the emulator, same dynamics
as scoremd's own Langevin MD, user forces added beside it, clear errors."""

from pathlib import Path

import jax
import numpy as np
import pytest

import scoremd
from scoremd import CheckpointError
from scoremd.app.openmm_bridge import to_openmm
from scoremd.dynamics import LangevinMiddle
from scoremd.geometry import dihedral_angles

openmm = pytest.importorskip("openmm")
if not hasattr(openmm, "PythonForce"):
    pytest.skip("needs OpenMM >= 8.6 (PythonForce)", allow_module_level=True)
from openmm import unit  # noqa: E402

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "alanine_dipeptide_diffusion.toml"
TINY = [f"data.dir={ROOT / 'data'}", "model.hidden=[32, 32]", "train.steps=300", "train.batch_size=128",
        "train.log_every=100", "train.checkpoint_every=300"]
KJ_NM = unit.kilojoule_per_mole / unit.nanometer


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    """Alanine dipeptide CG model, tiny settings (300 steps on the shipped training runs, ~10 s)."""
    return scoremd.train(scoremd.load_config(CONFIG, TINY), tmp_path_factory.mktemp("run") / "aldp", progress=False)


def _context(cg, dt=0.002, friction=1.0, seed=1):
    integrator = openmm.LangevinMiddleIntegrator(cg.temperature * unit.kelvin, friction / unit.picosecond,
                                                 dt * unit.picosecond)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(cg.system, integrator, openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(cg.positions)
    context.setVelocitiesToTemperature(cg.temperature * unit.kelvin, seed)
    return context, integrator


def test_energy_and_forces_equal_the_emulators(emulator):
    cg = to_openmm(emulator, replicas=3, seed=2)
    assert cg.system.getNumParticles() == 3 * 5 and cg.topology.getNumAtoms() == 15
    assert cg.topology.getNumChains() == 3
    assert cg.temperature == pytest.approx(emulator.system.temperature)
    masses = [cg.system.getParticleMass(i).value_in_unit(unit.amu) for i in range(15)]
    np.testing.assert_allclose(masses, np.tile(emulator.masses, 3), rtol=1e-6)
    context, _ = _context(cg)
    state = context.getState(getEnergy=True, getForces=True)
    x = cg.positions.value_in_unit(unit.nanometer).reshape(3, 5, 3)
    np.testing.assert_allclose(state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
                               float(np.sum(emulator.energy(x))), rtol=1e-5)
    forces = state.getForces(asNumpy=True).value_in_unit(KJ_NM).reshape(3, 5, 3)
    expected = np.asarray(emulator.force(x))
    np.testing.assert_allclose(forces, expected, atol=1e-5 * np.abs(expected).max())


def test_a_users_restraint_adds_to_the_learned_force(emulator):
    cg = to_openmm(emulator, force_group=1)
    restraint = openmm.CustomExternalForce("0.5*k*(x^2+y^2+z^2)")
    restraint.addGlobalParameter("k", 100.0)
    for i in range(cg.system.getNumParticles()):
        restraint.addParticle(i, [])
    restraint.setForceGroup(2)
    cg.system.addForce(restraint)
    context, _ = _context(cg)
    x = cg.positions.value_in_unit(unit.nanometer)
    learned = context.getState(getEnergy=True, groups={1}).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    total = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    assert learned == pytest.approx(float(emulator.energy(x[None])[0]), rel=1e-5)
    assert total - learned == pytest.approx(50.0 * np.sum(x**2), rel=1e-5)


def test_openmm_md_has_the_same_dihedral_statistics_as_scoremd_md(emulator):
    """2000 steps of 2 fs, 128 replicas from the same frames, in OpenMM and in scoremd.

    Paired test: per replica, the time averages of cos/sin phi and psi and of the learned
    energy (whose mean follows the temperature) from the two engines differ only by the noise; their mean difference over the 128 independent replicas must be
    within 5 standard errors of zero."""
    replicas, frames, every = 128, 100, 20
    cg = to_openmm(emulator, replicas=replicas, seed=3)
    context, integrator = _context(cg)
    traj = []
    for _ in range(frames):
        integrator.step(every)
        traj.append(context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.nanometer))
    ours_openmm = np.asarray(traj, np.float32).reshape(frames, replicas, 5, 3)
    start = cg.positions.value_in_unit(unit.nanometer).reshape(replicas, 5, 3).astype(np.float32)
    md = LangevinMiddle(kbt=emulator.kbt, friction=1.0, dt=0.002, position_limit=emulator.position_limit)
    ours_jax = emulator.simulate(start, frames, key=jax.random.PRNGKey(4), integrator=md, steps_per_frame=every).frames
    assert np.isfinite(ours_openmm).all()

    def averages(x):  # (frames, R, 5, 3) -> (R, 5): cos/sin phi/psi and U/k_BT, time averages
        angles = dihedral_angles(x, emulator.system.dihedrals)
        u = np.asarray(emulator.energy(x.reshape(-1, 5, 3))).reshape(frames, replicas, 1) / emulator.kbt
        return np.concatenate([np.cos(angles), np.sin(angles), u], axis=-1).mean(axis=0)

    diff = averages(ours_openmm) - averages(ours_jax)
    se = diff.std(axis=0, ddof=1) / np.sqrt(replicas)
    assert np.all(np.abs(diff.mean(axis=0)) < 5 * se + 1e-3), (diff.mean(axis=0), se)
    # the runs did move: frames decorrelate from the starts
    assert np.abs(ours_openmm[-1] - start).max() > 0.05


def test_bad_sources_are_refused_clearly(emulator, tmp_path):
    with pytest.raises(scoremd.ScoremdError, match="not a scoremd run directory"):
        to_openmm(tmp_path)
    with pytest.raises(ValueError, match="replicas"):
        to_openmm(emulator, replicas=0)
    with pytest.raises(ValueError, match="force_group"):
        to_openmm(emulator, force_group=40)
    # a run directory whose topology does not match the model
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(emulator.run_dir, broken)
    pdb = (broken / "topology.pdb").read_text().splitlines()
    atoms = [i for i, line in enumerate(pdb) if line.startswith(("ATOM", "HETATM"))]
    (broken / "topology.pdb").write_text("\n".join(line for i, line in enumerate(pdb) if i != atoms[-1]) + "\n")
    with pytest.raises(CheckpointError, match="4 atoms but the model has 5 beads"):
        to_openmm(broken)
    assert (emulator.run_dir / "topology.pdb").read_text().count("ATOM") >= 5  # the original is untouched


def test_toy_systems_are_refused(tmp_path):
    config = scoremd.load_config(ROOT / "examples" / "configs" / "mueller_brown.toml",
                                 ["train.steps=2", "train.batch_size=8", "train.log_every=1",
                                  "train.checkpoint_every=2", "model.hidden=[4]"])
    toy = scoremd.train(config, tmp_path / "mb", progress=False)
    with pytest.raises(ValueError, match="toy system without particles"):
        to_openmm(toy)
