import numpy as np
import pytest

from scoremd.analysis import histogram, js_divergence, pmf_error


def test_js_properties():
    p = np.array([0.5, 0.5, 0.0])
    q = np.array([0.0, 0.0, 1.0])
    assert js_divergence(p, p) == 0.0
    assert js_divergence(p, q) == pytest.approx(np.log(2))  # disjoint supports: the maximum
    r = np.array([0.25, 0.25, 0.5])
    # Hand-computed: m = (0.375, 0.375, 0.25)
    m = np.array([0.375, 0.375, 0.25])
    expected = 0.5 * np.sum(p[:2] * np.log(p[:2] / m[:2])) + 0.5 * np.sum(r * np.log(r / m))
    assert js_divergence(p, r) == pytest.approx(expected)
    assert js_divergence(p, r) == pytest.approx(js_divergence(r, p))


def test_pmf_error_definition():
    p_ref = np.array([0.5, 0.5, 0.0, 0.0])
    p_model = np.array([0.25, 0.5, 0.25, 0.0])
    w = 0.5 * (p_ref + p_model)
    w = w[:3] / w[:3].sum()  # the empty-in-both bin does not count
    d = np.log([0.5, 0.5, 1e-6]) - np.log([0.25, 0.5, 0.25])
    assert pmf_error(p_model, p_ref) == pytest.approx(np.sum(w * d**2))
    assert pmf_error(p_ref, p_ref) == 0.0
    # A uniform shift of the free energy is invisible after normalisation.
    assert pmf_error(2 * p_model, p_ref) == pytest.approx(pmf_error(p_model, p_ref))


def test_histogram_normalises_inside_bounds():
    x = np.array([[0.1, 0.1], [0.9, 0.9], [5.0, 5.0]])
    h = histogram(x, ((0, 1), (0, 1)), 2)
    np.testing.assert_allclose(h, [[0.5, 0.0], [0.0, 0.5]])
    with pytest.raises(ValueError, match="no sample"):
        histogram(np.array([[5.0, 5.0]]), ((0, 1), (0, 1)), 2)
    with pytest.raises(ValueError, match="dimensions"):
        histogram(x, ((0, 1),), 2)
