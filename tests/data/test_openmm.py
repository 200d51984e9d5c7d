"""Reference MD with OpenMM: built structure, exact resume, checksums and bad input."""

import json
import subprocess
import sys

import numpy as np
import openmm
import pytest
from openmm import app, unit

from scoremd import DataError
from scoremd.storage import NpyFrameWriter
from scoremd.data.structures import build_alanine_dipeptide, chirality_dihedral
from scoremd.data.openmm import MDProtocol, run_reference_md
from scoremd.data.reference_runs import load_reference, read_run_positions

FAST = MDProtocol(equilibration=0.5, frame_interval=0.05)


def _minimised_energy(phi, psi):
    ff = app.ForceField("amber99sbildn.xml", "amber99_obc.xml")
    top, pos = build_alanine_dipeptide(ff, phi, psi)
    system = ff.createSystem(top, nonbondedMethod=app.NoCutoff)
    sim = app.Simulation(top, system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    sim.context.setPositions(pos)
    sim.minimizeEnergy()
    state = sim.context.getState(getEnergy=True, getPositions=True)
    x = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    return state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole), top, x


def test_built_alanine_dipeptide_is_l_alanine():
    e_right, top, x = _minimised_energy(-60.0, -45.0)
    e_left, _, _ = _minimised_energy(60.0, 45.0)
    assert top.getNumAtoms() == 22
    assert [r.name for r in top.residues()] == ["ACE", "ALA", "NME"]
    assert chirality_dihedral(top, x, 1) == pytest.approx(123.0, abs=5.0)
    # The force field is achiral, so only the molecule's chirality can make the right-handed
    # helix basin (phi < 0) lower than its mirror image: L-alanine.
    assert e_right < e_left - 2.0


def _run_in_new_process(out, n_frames):
    # OpenMM's Reference platform seeds its random numbers once per process, so runs that
    # must be compared each get a process of their own (as `scoremd data generate` gives them).
    code = (
        "from scoremd.data.openmm import MDProtocol, run_reference_md\n"
        f"run_reference_md({str(out)!r}, {n_frames}, protocol=MDProtocol(equilibration=0.5, frame_interval=0.05), "
        "seed=3, chunk_frames=4, progress=False)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    return json.loads((out / "metadata.json").read_text())


def test_resume_continues_exactly(tmp_path):
    _run_in_new_process(tmp_path / "a", 12)
    _run_in_new_process(tmp_path / "b", 8)
    # Simulate a crash after frames were appended but before the next checkpoint.
    with NpyFrameWriter(tmp_path / "b" / "positions.npy", (22, 3), resume_at=8) as w:
        w.append(np.full((3, 22, 3), 99.0, np.float32))
    meta = _run_in_new_process(tmp_path / "b", 12)
    a, b = np.load(tmp_path / "a" / "positions.npy"), np.load(tmp_path / "b" / "positions.npy")
    assert a.shape == b.shape == (12, 22, 3)
    np.testing.assert_array_equal(a, b)
    assert meta["n_frames"] == 12 and meta["sha256"]["positions.npy"]
    assert np.isfinite(np.load(tmp_path / "b" / "energies.npy")).all()


def test_load_reference_and_checksums(tmp_path):
    for k in range(2):
        run_reference_md(tmp_path / f"run_{k:02d}", 5, protocol=FAST, seed=k + 1, progress=False)
    top, x, idx = load_reference(tmp_path)
    assert x.shape == (10, 22, 3) and idx.tolist() == [0] * 5 + [1] * 5
    assert not np.allclose(x[:5], x[5:])  # different seeds
    arr = np.load(tmp_path / "run_01" / "positions.npy")
    with NpyFrameWriter(tmp_path / "run_01" / "positions.npy", (22, 3), resume_at=4) as w:
        w.append(arr[4:] + 0.1)
    with pytest.raises(DataError, match="SHA-256"):
        load_reference(tmp_path)


def test_a_growing_run_reads_up_to_its_last_finished_chunk(tmp_path):
    """While a campaign grows a run (checksums cleared, frames being appended), readers get the
    frames of its last finished chunk, checked; a run that never finished a chunk is refused."""
    run = tmp_path / "run_00"
    run_reference_md(run, 5, protocol=FAST, seed=1, progress=False)
    finished = np.load(run / "positions.npy")
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["verified"]["n_frames"] == 5
    # the next chunk has begun: checksums cleared, two frames appended (as the writer does)
    with NpyFrameWriter(run / "positions.npy", (22, 3), resume_at=5) as w:
        w.append(np.full((2, 22, 3), 7.0, np.float32))
    (run / "metadata.json").write_text(json.dumps({**meta, "sha256": None, "n_frames": 7}))
    np.testing.assert_array_equal(read_run_positions(run), finished)
    assert load_reference(tmp_path)[1].shape == (5, 22, 3)
    # a changed frame inside the finished part is caught
    with open(run / "positions.npy", "r+b") as fh:
        fh.seek(256 + 4)
        fh.write(np.float32(1.5).tobytes())
    with pytest.raises(DataError, match="last finished chunk do not match"):
        read_run_positions(run)
    # a run still in its first chunk has nothing verified
    (run / "metadata.json").write_text(json.dumps({**meta, "sha256": None, "verified": None}))
    with pytest.raises(DataError, match="first chunk"):
        read_run_positions(run)


def test_growing_a_finished_run_clears_its_checksums_before_the_first_append(tmp_path, monkeypatch):
    """A reader must never see a finished run's checksums next to a file that has begun to grow;
    a run finished before ``verified`` existed gets it then, so it stays readable."""
    import scoremd.data.openmm as openmm_module

    run = tmp_path / "run_00"
    run_reference_md(run, 5, protocol=FAST, seed=1, progress=False)
    finished = np.load(run / "positions.npy")
    meta = json.loads((run / "metadata.json").read_text())
    del meta["verified"]  # as written by older versions
    (run / "metadata.json").write_text(json.dumps(meta))
    seen = []
    original = openmm_module.NpyFrameWriter.append

    def append(self, frames):
        if self.path.name == "positions.npy":
            state = json.loads((run / "metadata.json").read_text())
            seen.append((state["sha256"], state["verified"]["n_frames"]))
            np.testing.assert_array_equal(read_run_positions(run), finished[:state["verified"]["n_frames"]])
        return original(self, frames)

    monkeypatch.setattr(openmm_module.NpyFrameWriter, "append", append)
    meta = run_reference_md(run, 8, protocol=FAST, seed=1, chunk_frames=2, progress=False)
    assert seen == [(None, 5), (None, 5)]
    assert meta["sha256"] and meta["verified"]["n_frames"] == 8
    np.testing.assert_array_equal(read_run_positions(run)[:5], finished)


def test_a_run_that_cannot_be_grown_safely_is_refused_and_left_as_it_is(tmp_path):
    run = tmp_path / "run_00"
    run_reference_md(run, 3, protocol=FAST, seed=1, progress=False)
    meta = json.loads((run / "metadata.json").read_text())
    del meta["verified"]  # as written by older versions: its files are checked before it grows
    (run / "metadata.json").write_text(json.dumps(meta))
    with open(run / "positions.npy", "r+b") as fh:
        fh.seek(256 + 4)
        fh.write(np.float32(1.5).tobytes())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(DataError, match="positions.npy does not match its SHA-256"):
        run_reference_md(run, 5, protocol=FAST, seed=1, progress=False)
    (run / "state.npz").unlink()  # without its checkpoint a run must not be started afresh over its frames
    del before["state.npz"]
    with pytest.raises(DataError, match="not its checkpoint state.npz"):
        run_reference_md(run, 5, protocol=FAST, seed=1, progress=False)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_other_protocol_on_existing_run_is_refused(tmp_path):
    run_reference_md(tmp_path / "a", 2, protocol=FAST, seed=1, progress=False)
    with pytest.raises(DataError, match="different protocol, seed or structure"):
        run_reference_md(tmp_path / "a", 4, protocol=FAST, seed=2, progress=False)
    assert np.load(tmp_path / "a" / "positions.npy").shape == (2, 22, 3)


def test_missing_hydrogens_get_openmm_diagnosis(tmp_path):
    pdb = app.PDBFile
    heavy = app.Modeller(*build_alanine_dipeptide(app.ForceField("amber99sbildn.xml")))
    heavy.delete([a for a in heavy.topology.atoms() if a.element.symbol == "H"][:1])
    path = tmp_path / "broken.pdb"
    with open(path, "w") as fh:
        pdb.writeFile(heavy.topology, heavy.positions, fh)
    with pytest.raises(DataError, match="No template found.*addHydrogens"):
        run_reference_md(tmp_path / "out", 2, structure=str(path), protocol=FAST, progress=False)
    with pytest.raises(DataError, match="neither a built-in name"):
        run_reference_md(tmp_path / "out2", 2, structure="nothing.pdb", protocol=FAST, progress=False)
    bad = tmp_path / "bad.pdb"
    bad.write_text("ATOM      1  N   ALA A   1      garbage\n")
    with pytest.raises(DataError):
        run_reference_md(tmp_path / "out3", 2, structure=str(bad), protocol=FAST, progress=False)
    assert not (tmp_path / "out" / "positions.npy").exists()


def test_protocol_validation():
    with pytest.raises(ValueError, match="multiple of timestep"):
        MDProtocol(frame_interval=0.0015)
    with pytest.raises(ValueError, match="constraints"):
        MDProtocol(constraints="all")
    json.dumps(MDProtocol().__dict__, default=list)  # serialisable


def test_hydrogen_mass_repartitioning_moves_mass_not_total():
    from scoremd.data.openmm import create_system

    top, _ = build_alanine_dipeptide(app.ForceField("amber99sbildn.xml", "amber99_obc.xml"))
    plain = create_system(top, MDProtocol(constraints="hbonds", timestep=0.002))
    hmr = create_system(top, MDProtocol(constraints="hbonds", timestep=0.004, hydrogen_mass=3.0))

    def masses(system):
        return np.array([system.getParticleMass(i).value_in_unit(unit.amu) for i in range(system.getNumParticles())])

    hydrogens = np.array([a.element.symbol == "H" for a in top.atoms()])
    assert np.allclose(masses(hmr)[hydrogens], 3.0) and np.allclose(masses(plain)[hydrogens], 1.008, atol=1e-3)
    assert masses(hmr).sum() == pytest.approx(masses(plain).sum(), rel=1e-9)
    assert MDProtocol(hydrogen_mass=3.0).record()["hydrogen_mass"] == 3.0
    assert MDProtocol().matches({k: v for k, v in MDProtocol().record().items() if k != "hydrogen_mass"})
    with pytest.raises(ValueError, match="hydrogen_mass"):
        MDProtocol(hydrogen_mass=0.5)
