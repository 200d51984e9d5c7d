"""Protein metrics on two short runs of the chignolin Go model: TICA (deeptime), pair-distance JS,
native contacts and folding transitions."""

from pathlib import Path

import numpy as np
import pytest

from scoremd.analysis.protein import distance_js, fit_tica, folding_transitions_per_us, pair_distances, tica_features
from scoremd.data.go_model import GoModel, simulate_go
from scoremd.geometry import fraction_native_contacts, native_contacts

NATIVE = Path(__file__).parents[2] / "data" / "folded" / "CLN025_ca.pdb"


@pytest.fixture(scope="module")
def runs():
    """Two independent 2-ns runs (a frame per ps) at the calibrated epsilon, and the model."""
    model = GoModel(NATIVE, epsilon=2.75)
    return [simulate_go(model, 340.0, 2000, seed=s)[0] for s in (1, 2)], model


def test_features_and_distances(runs):
    (a, _), _ = runs
    assert tica_features(a[:3]).shape == (3, 45 + 2 * 7)
    d = pair_distances(a[:3], 3)
    assert d.shape == (3, 28) and np.all(d > 0.3)


def test_tica_metrics_separate_a_run_from_a_distorted_one(runs):
    (a, b), _ = runs
    tica = fit_tica([a, b], lag=50)
    assert tica(a).shape == (2000, 2)
    assert tica.metrics(a, a) == {"js": 0.0, "pmf": 0.0}
    independent = tica.metrics(b, a)["js"]
    distorted = tica.metrics(1.2 * b, a)["js"]  # every distance 20 % longer
    assert 0 < independent < 0.5 * distorted
    # the slowest TIC comes first
    ac = [np.corrcoef(tica(a)[:-50, k], tica(a)[50:, k])[0, 1] for k in (0, 1)]
    assert ac[0] >= ac[1] - 0.05
    with pytest.raises(ValueError, match="lag"):
        fit_tica([a[:40]], lag=50)


def test_distance_js(runs):
    (a, b), _ = runs
    assert distance_js(a, a) == pytest.approx(0.0, abs=1e-12)
    assert 0 < distance_js(b, a) < 0.5 * distance_js(1.2 * b, a)


def test_native_contacts_q_and_transitions(runs):
    (a, _), model = runs
    _, native, _ = model.native_structure()
    pairs, r0 = native_contacts(native, 1.0, 4)
    np.testing.assert_array_equal(pairs, model.contacts()[0])
    q = fraction_native_contacts(a, pairs, r0)
    np.testing.assert_array_equal(q, model.fraction_native_contacts(a))
    # two replicas of 10 frames 5 ps apart: 3 + 1 events in 100 ps = 0.1 ns = 1e-4 us
    series = np.array([[0.9, 0.1, 0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
                       [0.9, 0.9, 0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]]).T
    assert folding_transitions_per_us(series, 5.0) == pytest.approx(4 / 1e-4)
