"""Toy systems: analytic energies, exact densities, and the generated training data."""

import jax.numpy as jnp
import numpy as np
import pytest

from scoremd import ConfigError, DataError
from scoremd.analysis import compare_to_reference, histogram, js_divergence
from scoremd.data import generate_toy_data, load_toy_dataset, validate_positions
from scoremd.systems import DOUBLE_WELL, GAUSSIAN_MIXTURE, MUELLER_BROWN, get_system


def test_mueller_brown_minima():
    # Known minima of the Mueller-Brown surface (energy, location).
    minima = jnp.array([[-0.558, 1.442], [0.623, 0.028], [-0.050, 0.467]])
    np.testing.assert_allclose(np.asarray(MUELLER_BROWN.energy(minima)), [-146.70, -108.17, -80.77], atol=0.05)
    f = np.asarray(MUELLER_BROWN.force(minima))
    assert np.abs(f).max() < 2.0  # kJ/mol/nm, vs |F| ~ 1e2-1e3 elsewhere
    assert np.abs(np.asarray(MUELLER_BROWN.force(jnp.array([[0.0, 1.0]])))).max() > 50


def test_force_is_minus_gradient():
    x = jnp.array([[0.1, 0.2], [-0.7, 1.1]])
    h = 1e-3
    fd = -np.stack([
        (np.asarray(MUELLER_BROWN.energy(x + h * e[None])) - np.asarray(MUELLER_BROWN.energy(x - h * e[None]))) / (2 * h)
        for e in jnp.eye(2)
    ], axis=-1)
    np.testing.assert_allclose(np.asarray(MUELLER_BROWN.force(x)), fd, rtol=2e-3)


def test_mixture_potential_is_minus_log_density():
    x = jnp.array([[-5.0], [0.0], [5.0]])
    u = np.asarray(DOUBLE_WELL.energy(x))
    # p(5) = 1/2 N(0; 0, 1) (+ negligible), p(0) = 2 * 1/2 N(5; 0, 1): ratio exp(12.5) / 2.
    assert u[1] - u[0] == pytest.approx(12.5 - np.log(2), abs=1e-3)
    assert u[0] == pytest.approx(u[2], abs=1e-5)


@pytest.mark.parametrize("system", [DOUBLE_WELL, GAUSSIAN_MIXTURE, MUELLER_BROWN], ids=lambda s: s.name)
def test_exact_samples_match_bin_probabilities(system):
    n = 100_000
    x = system.exact_samples(n, seed=0)
    ref = system.bin_probabilities(system.js_bins)
    js = js_divergence(histogram(x, system.metric_bounds, system.js_bins), ref)
    # Finite-sample JS ~ (occupied bins) / (2 n) (bias of the plug-in estimate).
    occupied = np.sum(ref > 1e-7)
    assert js < 3 * occupied / (2 * n)


def test_gaussian_mixture_mode_weights_in_generated_data():
    x = generate_toy_data(GAUSSIAN_MIXTURE, seed=3, n_replicas=500, n_frames=40, progress=False)
    assert x.shape == (500 * 40, 2)
    w = np.mean(x[:, 0] > 0)
    # Replicas never cross the barrier, so the weight fluctuates with the 500 starting draws only.
    assert abs(w - 0.8) < 5 * np.sqrt(0.16 / 500)
    near = x[x[:, 0] > 0]
    np.testing.assert_allclose(near.mean(0), [5, 5], atol=0.1)
    np.testing.assert_allclose(near.var(0), [1, 1], rtol=0.1)


def test_committed_mueller_brown_data_match_exact_density():
    x = load_toy_dataset(MUELLER_BROWN, "data", generate=False)
    ref_js, ref_pmf = MUELLER_BROWN.bin_probabilities(100), MUELLER_BROWN.bin_probabilities(64)
    got = compare_to_reference(x, ref_js, ref_pmf, MUELLER_BROWN.metric_bounds)
    floor = compare_to_reference(MUELLER_BROWN.exact_samples(len(x), seed=7), ref_js, ref_pmf,
                                 MUELLER_BROWN.metric_bounds)
    # Correlated MD frames may be a little worse than exact draws of the same size, not more.
    assert got["js"] < 1.5 * floor["js"] and got["pmf"] < 2.0 * floor["pmf"]


def test_double_well_data_match_exact_density():
    x = generate_toy_data(DOUBLE_WELL, seed=0, n_replicas=1000, n_frames=50, progress=False)
    ref = DOUBLE_WELL.bin_probabilities(100)
    js = js_divergence(histogram(x, DOUBLE_WELL.metric_bounds, 100), ref)
    floor = js_divergence(histogram(DOUBLE_WELL.exact_samples(len(x), seed=1), DOUBLE_WELL.metric_bounds, 100), ref)
    assert js < 3 * floor + 0.002  # the 1000 starting draws fix the mode weights: +-1.6 % at 1 sigma
    assert abs(np.mean(x > 0) - 0.5) < 5 * np.sqrt(0.25 / 1000)


def test_checksum_mismatch_is_detected(tmp_path):
    x = generate_toy_data(GAUSSIAN_MIXTURE, seed=0, n_replicas=10, n_frames=5, burn_in_frames=1, progress=False)
    from scoremd.data import write_dataset

    folder = write_dataset(tmp_path / "gaussian_mixture", x, {"system": "gaussian_mixture"})
    np.testing.assert_array_equal(load_toy_dataset(GAUSSIAN_MIXTURE, tmp_path, generate=False), x)
    arr = np.load(folder / "positions.npy")
    arr[0, 0] += 1.0
    np.save(folder / "positions.npy", arr)
    with pytest.raises(DataError, match="SHA-256"):
        load_toy_dataset(GAUSSIAN_MIXTURE, tmp_path, generate=False)


def test_validate_positions_errors():
    with pytest.raises(DataError, match=r"expected positions of shape \(N, 2\)"):
        validate_positions(np.zeros((5, 3)), (2,), "x.npy")
    with pytest.raises(DataError, match="1 of 4 samples contain NaN or inf \\(first at index 2\\)"):
        validate_positions(np.array([[0, 0], [1, 1], [np.nan, 0], [2, 2]], float), (2,), "x.npy")
    with pytest.raises(DataError, match="empty"):
        validate_positions(np.zeros((0, 2)), (2,), "x.npy")
    with pytest.raises(DataError, match="floating point"):
        validate_positions(np.zeros((3, 2), int), (2,), "x.npy")


def test_unknown_system():
    with pytest.raises(ConfigError, match="unknown system 'argon'; known systems: alanine_dipeptide, bba, chignolin, dipeptides, double_well"):
        get_system("argon")


@pytest.mark.parametrize("name", ["chignolin", "bba"])
def test_fast_folders_match_their_shipped_data(name):
    """The system's recorded command is the one that made the shipped runs; one C-alpha bead per residue."""
    import json
    from pathlib import Path

    from scoremd.systems import get_system

    system = get_system(name)
    root = Path(__file__).parents[2]
    for run in sorted((root / "data" / name).glob("run_*")):
        assert json.loads((run / "metadata.json").read_text())["command"] == system.generate_command
    native = (root / system.structure).read_text().splitlines()
    assert sum(line.startswith("ATOM") for line in native) == system.n_beads
    assert all(atom == "CA" for _, atom in system.cg_map) and system.is_protein
