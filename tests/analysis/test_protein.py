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


def _random_rotation(seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_rmsd_to_native_is_zero_for_moved_copies_and_sees_mirror_images(runs):
    from scoremd.analysis.protein import rmsd_to_native
    from scoremd.analysis.protein import native_positions as _native

    native = _native(type("S", (), {"structure": NATIVE})())
    moved = np.stack([native @ _random_rotation(s).T + s for s in range(4)])
    np.testing.assert_allclose(rmsd_to_native(moved, native), 0.0, atol=1e-6)
    # a uniform 0.1-nm shift of one bead: RMSD = 0.1 / sqrt(n) before the (small) re-fit, at most
    shifted = native.copy()
    shifted[0] += [0.1, 0.0, 0.0]
    assert 0.0 < rmsd_to_native(shifted[None], native)[0] <= 0.1 / np.sqrt(len(native)) + 1e-9
    mirror = native * np.array([1.0, 1.0, -1.0])  # chiral: no rotation maps it onto the native fold
    assert rmsd_to_native(mirror[None], native)[0] > 0.1
    # the folded frames of a Go run lie closer to native than the unfolded ones
    (a, _), model = runs
    q, rmsd = model.fraction_native_contacts(a), rmsd_to_native(a, native)
    assert np.median(rmsd[q > 0.8]) < np.median(rmsd[q < 0.5])
    with pytest.raises(ValueError, match="expected"):
        rmsd_to_native(a[:, :5], native)


def test_contact_map_and_histogram_js(runs):
    from scoremd.analysis.protein import contact_map, histogram_js

    (a, b), _ = runs
    m = contact_map(a, 1.0)
    assert m.shape == (10, 10) and np.isnan(m[0, 1]) and np.isnan(m[0, 2]) and np.allclose(m, m.T, equal_nan=True)
    i, j = np.triu_indices(10, 3)
    expected = np.mean(np.linalg.norm(a[:, i] - a[:, j], axis=-1) < 1.0, axis=0)
    np.testing.assert_allclose(m[i, j], expected)
    assert histogram_js(a[:, 0, 0], a[:, 0, 0], (-3.0, 3.0)) == 0.0
    u = np.random.default_rng(0).uniform(size=1000)
    assert histogram_js(u, u + 2.0, (0.0, 3.0)) == pytest.approx(np.log(2))  # disjoint supports
    assert histogram_js(u, u + 5.0, (0.0, 3.0)) == pytest.approx(np.log(2))  # clipped into the last bin


def test_bond_range_flags_broken_and_collapsed_bonds(runs):
    from scoremd.analysis.protein import BondRange

    (a, b), _ = runs
    bonds = BondRange(a)
    assert not bonds.broken(b).any()  # an independent run stays inside the first one's range
    broken = b[:4].copy()
    broken[0, 5:] += [1.0, 0.0, 0.0]  # bond 4-5 stretched by about 1 nm
    broken[1, 3] = broken[1, 2] + 0.1 * (broken[1, 3] - broken[1, 2])  # bond 2-3 collapsed to ~0.04 nm
    assert bonds.broken(broken).tolist() == [True, True, False, False]
    assert bonds.broken(np.stack([broken, b[:4]])).shape == (2, 4)


def test_closest_approach_flags_beads_passing_through_each_other(runs):
    from scoremd.analysis.protein import ClosestApproach

    (a, b), _ = runs
    closest = ClosestApproach(a, chunk=700)  # chunks: the minimum over all of them
    assert closest.lo.shape == (45 - 9,)  # pairs |i - j| >= 2 of 10 beads
    assert np.allclose(closest.lo, ClosestApproach(a).lo)
    assert not closest.clashing(a).any()  # the reference never clashes with itself
    # An independent run of the same size: a frame falls below one of 36 pairs' minima over N
    # exchangeable frames with probability at most 36 / (N + 1) (1.8 %; the margin lowers it);
    # twice that for time-correlated frames.
    assert closest.clashing(b).mean() < 2 * 36 / (len(a) + 1)
    squeezed = b[:3].copy()
    squeezed[0, 7] = squeezed[0, 9] + 0.05 * (squeezed[0, 7] - squeezed[0, 9])  # beads 7 and 9 almost on top
    clash = closest.clashing(squeezed)
    assert clash[0] and clash[1:].tolist() == closest.clashing(b[1:3]).tolist()
    assert closest.clashing(np.stack([squeezed, b[:3]])).shape == (2, 3)


def test_radius_of_gyration_and_md_blocks():
    from scoremd.analysis.protein import md_blocks, radius_of_gyration

    two = np.array([[[0.0, 0, 0], [1.0, 0, 0]]])  # two beads 1 nm apart: Rg = 0.5 nm
    assert radius_of_gyration(two) == pytest.approx([0.5])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 4, 10, 3))  # (frames, replicas, beads, 3)
    assert radius_of_gyration(x).shape == (3000, 4)
    q = np.zeros((3000, 4))
    q[1500:] = 1.0  # folded from the second half on
    blocks = md_blocks(x, 5.0, q, np.ones((3000, 4)), np.zeros((3000, 4), bool))  # 15 ns at 5-ps frames
    assert blocks["block_ps"] == 2000.0  # 1 ns would give 15 blocks; 2 ns gives 8 <= 12
    assert blocks["start_ps"][:2] == [0.0, 2000.0] and len(blocks["folded"]) == 8
    assert blocks["folded"][0] == 0.0 and blocks["folded"][-1] == 1.0
    assert blocks["folded"][3] == pytest.approx((1600 - 1500) / 400)  # frames 1200-1599 (6-8 ns) hold the switch
    short = md_blocks(x[:100], 5.0, q[:100], np.ones((100, 4)), np.zeros((100, 4), bool))  # 0.5 ns: one block
    assert short["block_ps"] == 500.0 and len(short["rg_median"]) == 1


def test_native_structure_is_found_from_any_working_directory(tmp_path, monkeypatch):
    import scoremd
    from scoremd import DataError
    from scoremd.analysis.protein import native_positions

    monkeypatch.chdir(tmp_path)  # the shipped systems name data/folded/... relative to the repository
    native = native_positions(scoremd.get_system("chignolin"))
    assert native.shape == (10, 3)
    # a copy kept under <data dir>/folded/ is found there before the repository's
    import mdtraj

    (tmp_path / "mine" / "folded").mkdir(parents=True)
    shifted = mdtraj.load(str(NATIVE))
    shifted.xyz += 1.0
    shifted.save_pdb(str(tmp_path / "mine" / "folded" / NATIVE.name))
    np.testing.assert_allclose(native_positions(scoremd.get_system("chignolin"), tmp_path / "mine"),
                               native + 1.0, atol=1e-3)
    missing = type("S", (), {"name": "mine", "structure": "elsewhere/none.pdb"})()
    with pytest.raises(DataError, match="none.pdb"):
        native_positions(missing, tmp_path)
