"""The structure-based C-alpha model: OpenMM's energy equals the model's formula, the native
structure is its minimum, Q and transition counts, resumable reference runs, bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from scoremd import DataError
from scoremd.data.go_model import GoModel, calibrate, count_transitions, simulate_go
from scoremd.data.openmm import MDProtocol, run_reference_md
from scoremd.data.reference_runs import load_reference

openmm = pytest.importorskip("openmm")
from openmm import unit  # noqa: E402

ROOT = Path(__file__).parents[2]
NATIVES = {"chignolin": ROOT / "data" / "folded" / "CLN025_ca.pdb", "bba": ROOT / "data" / "folded" / "BBA_1FME_ca.pdb"}


def _openmm_energy(model, x):
    context = openmm.Context(model.create_system(), openmm.VerletIntegrator(0.001),
                             openmm.Platform.getPlatformByName("Reference"))
    context.setPositions(x * unit.nanometer)
    state = context.getState(getEnergy=True, getForces=True)
    return (state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole),
            state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer))


def _formula_energy(model, x, x0):
    """The docstring's energy, written out independently of the OpenMM forces (numpy, float64)."""
    eps = model.epsilon

    def angle(a, b, c):
        u, v = a - b, c - b
        return np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))

    def dihedral(a, b, c, d):  # IUPAC convention via atan2
        b0, b1, b2 = a - b, c - b, d - c
        n1, n2 = np.cross(b0, b1), np.cross(b1, b2)
        return np.arctan2(np.linalg.norm(b1) * (b0 @ n2), n1 @ n2)

    n = len(x)
    e = sum(1e4 * eps * (np.linalg.norm(x[i + 1] - x[i]) - np.linalg.norm(x0[i + 1] - x0[i])) ** 2 for i in range(n - 1))
    e += sum(20 * eps * (angle(*x[i : i + 3]) - angle(*x0[i : i + 3])) ** 2 for i in range(n - 2))
    for i in range(n - 3):
        d = dihedral(*x[i : i + 4]) - dihedral(*x0[i : i + 4])
        e += eps * (1 - np.cos(d)) + eps / 2 * (1 - np.cos(3 * d))
    for i in range(n):
        for j in range(i + model.min_separation, n):
            r, r0 = np.linalg.norm(x[i] - x[j]), np.linalg.norm(x0[i] - x0[j])
            e += eps * (5 * (r0 / r) ** 12 - 6 * (r0 / r) ** 10) if r0 < model.contact_cutoff else eps * (0.4 / r) ** 12
    return e


@pytest.mark.parametrize("name", ["chignolin", "bba"])
def test_openmm_energy_is_the_formula_and_native_is_a_minimum(name):
    model = GoModel(NATIVES[name], epsilon=2.5)
    _, x0, _ = model.native_structure()
    pairs, r0 = model.contacts()
    e_native, f_native = _openmm_energy(model, x0)
    # every term is at its minimum but the non-native repulsion (r >= 1 nm: < 2e-5 eps per pair)
    assert e_native == pytest.approx(-model.epsilon * len(r0), abs=1e-3 * model.epsilon)
    assert np.abs(f_native).max() < 1e-2
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = x0 + rng.normal(scale=0.03, size=x0.shape)
        assert _openmm_energy(model, x)[0] == pytest.approx(_formula_energy(model, x, x0), rel=1e-6, abs=1e-6)


def test_contacts_q_and_masses():
    model = GoModel(NATIVES["chignolin"], epsilon=1.0)
    pairs, r0 = model.contacts()
    assert len(r0) == 9 and np.all(pairs[:, 1] - pairs[:, 0] >= 4) and np.all(r0 < 1.0)
    _, x0, names = model.native_structure()
    assert names[:3] == ["TYR", "TYR", "ASP"]
    np.testing.assert_allclose(model.masses()[[0, 6, 8]], [163.18, 57.05, 186.21])
    stretched = np.stack([np.arange(10) * 0.38, np.zeros(10), np.zeros(10)], axis=-1)
    np.testing.assert_array_equal(model.fraction_native_contacts(np.stack([x0, stretched])), [1.0, 0.0])


def test_count_transitions():
    q = np.array([0.9, 0.5, 0.1, 0.2, 0.5, 0.85, 0.9, 0.6, 0.85, 0.2])
    assert count_transitions(q) == 3  # unfold, fold, unfold; the dip to 0.6 is not a transition
    assert count_transitions(np.full(5, 0.5)) == 0


def test_calibration_orders_the_folding_equilibrium():
    model = GoModel(NATIVES["chignolin"], epsilon=1.0)
    rows = calibrate(model, [1.0, 5.0], 340.0, ns=0.3, discard_ns=0.1, seed=3)
    assert [r["epsilon"] for r in rows] == [1.0, 5.0]
    assert rows[0]["mean_q"] < 0.6 < 0.9 < rows[1]["mean_q"]
    assert rows[1]["folded"] > 0.9 and rows[0]["unfolded"] > 0.1
    assert rows[0]["epsilon_over_kbt"] == pytest.approx(1.0 / (0.0083144626 * 340))


def test_reference_runs_resume_grow_and_refuse_another_model(tmp_path):
    model = GoModel(NATIVES["chignolin"], epsilon=2.75)
    protocol = MDProtocol(forcefield=(), temperature=340.0, timestep=0.01, frame_interval=1.0, equilibration=5.0)
    out = tmp_path / "run_00"
    meta = run_reference_md(out, 30, structure=model, protocol=protocol, seed=4, chunk_frames=10, progress=False)
    assert meta["structure"]["go_model"]["native"] == "CLN025_ca.pdb" and meta["sha256"]["positions.npy"]
    first = np.load(out / "positions.npy")
    run_reference_md(out, 50, structure=model, protocol=protocol, seed=4, chunk_frames=10, progress=False)
    grown = np.load(out / "positions.npy")
    assert grown.shape == (50, 10, 3) and np.array_equal(grown[:30], first)
    _, x, runs = load_reference(tmp_path, [0])
    assert x.shape == (50, 10, 3) and np.all(runs == 0)
    other = GoModel(NATIVES["chignolin"], epsilon=3.0)
    with pytest.raises(DataError, match="different protocol, seed or structure"):
        run_reference_md(out, 60, structure=other, protocol=protocol, seed=4, progress=False)
    assert json.loads((out / "metadata.json").read_text())["n_frames"] == 50


def test_bad_native_structures(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        GoModel(tmp_path / "missing.pdb", epsilon=1.0).native_structure()
    lines = NATIVES["chignolin"].read_text().splitlines()
    broken = tmp_path / "broken.pdb"
    broken.write_text("\n".join(line for line in lines if " CA  ASP" not in line) + "\n")  # residue 3 missing
    with pytest.raises(DataError, match="chain break"):
        GoModel(broken, epsilon=1.0).create_system()
    not_ca = tmp_path / "cb.pdb"
    not_ca.write_text(NATIVES["chignolin"].read_text().replace(" CA  TYR P   1", " CB  TYR P   1"))
    with pytest.raises(DataError, match="one C-alpha atom"):
        GoModel(not_ca, epsilon=1.0).native_structure()
    with pytest.raises(ValueError, match="min_separation"):
        GoModel(NATIVES["chignolin"], epsilon=1.0, min_separation=2)
    x, _ = simulate_go(GoModel(NATIVES["chignolin"], epsilon=1.0), 340.0, 3, steps_per_frame=10)
    assert x.shape == (3, 10, 3)
