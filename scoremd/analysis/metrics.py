"""Distribution metrics, defined exactly as in Plainer et al. (2025) (docs/design.md §7).

* :func:`js_divergence`: squared Jensen-Shannon *distance* (= JS divergence,
  natural log) between two histograms.
* :func:`pmf_error`: weighted squared error of the free energy -log p per bin,
  in k_BT^2, with empty bins set to 1e-6 and weights (p_model + p_ref)/2 over
  bins occupied in either histogram.
"""

from __future__ import annotations

import numpy as np

EMPTY_BIN_PROBABILITY = 1e-6


def histogram(samples: np.ndarray, bounds, bins: int) -> np.ndarray:
    """Per-bin probabilities of samples on a regular grid.

    Args:
      samples: shape (N, d) (or (N,) for d = 1).
      bounds: ((lo, hi),) * d.
      bins: bins per axis.

    Returns:
      Probabilities of shape (bins,)*d, normalised over the samples inside ``bounds``.
    """
    samples = np.asarray(samples, np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.shape[1] != len(bounds):
        raise ValueError(f"samples have {samples.shape[1]} dimensions but bounds give {len(bounds)}")
    counts, _ = np.histogramdd(samples, bins=[bins] * len(bounds), range=list(bounds))
    total = counts.sum()
    if total == 0:
        raise ValueError("no sample falls inside the histogram bounds")
    return counts / total


def _normalise(p):
    p = np.asarray(p, np.float64)
    if np.any(p < 0) or not np.isfinite(p).all():
        raise ValueError("histogram probabilities must be finite and non-negative")
    return p / p.sum()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (squared JS distance), natural log; 0 <= JS <= log 2."""
    p, q = _normalise(p), _normalise(q)
    m = 0.5 * (p + q)

    def kl(a):
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def pmf_error(p_model: np.ndarray, p_ref: np.ndarray) -> float:
    """Weighted mean squared PMF difference in k_BT^2 (no square root).

    sum_b w_b (log p_ref,b - log p_model,b)^2 with w = (p_model + p_ref)/2
    restricted to bins occupied in either histogram and normalised; empty bins
    get probability 1e-6 inside the logarithm.
    """
    p_model, p_ref = _normalise(p_model), _normalise(p_ref)
    occupied = (p_model > 0) | (p_ref > 0)
    w = 0.5 * (p_model + p_ref) * occupied
    w /= w.sum()
    lm = np.log(np.where(p_model > 0, p_model, EMPTY_BIN_PROBABILITY))
    lr = np.log(np.where(p_ref > 0, p_ref, EMPTY_BIN_PROBABILITY))
    return float(np.sum(w * (lr - lm) ** 2))


def compare_to_reference(samples: np.ndarray, reference_js: np.ndarray, reference_pmf: np.ndarray, bounds) -> dict:
    """JS (on the JS-bin grid) and PMF error (on the PMF-bin grid) of samples against reference probabilities.

    Also reports ``inside``, the fraction of samples inside ``bounds``. If none
    is inside, JS is its maximum log 2 and the PMF error is None.
    """
    samples = np.asarray(samples).reshape(len(samples), -1)
    lo, hi = np.array(bounds, float).T
    inside = float(np.mean(np.all((samples >= lo) & (samples <= hi), axis=1)))
    if inside == 0.0:
        return {"js": float(np.log(2)), "pmf": None, "inside": 0.0}
    return {
        "inside": inside,
        "js": js_divergence(histogram(samples, bounds, reference_js.shape[0]), reference_js),
        "pmf": pmf_error(histogram(samples, bounds, reference_pmf.shape[0]), reference_pmf),
    }
