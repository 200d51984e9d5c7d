"""Metrics of C-alpha protein models (docs/design.md §7): TICA with deeptime, pair distances,
native contacts, folding transitions.

* TICA (``deeptime.decomposition.TICA``, not hand-written) is fitted on reference
  trajectories; features: every C-alpha pair distance (nm) and the cos/sin of every
  consecutive C-alpha pseudo-dihedral. TIC1/TIC2 histograms of 100 bins per axis over the
  reference's range give JS and PMF error as for the dihedrals of small molecules.
* Pair distances with |i - j| >= 3: JS of each 1-D histogram (100 bins over the reference's
  range), averaged over pairs.
* Native contacts (:func:`scoremd.geometry.native_contacts`, a C-alpha criterion) give Q, the
  share within 1.2 r_0; from it the folded share (Q > 0.8) and folding + unfolding
  transitions (Q > 0.8 <-> Q < 0.3) per microsecond of MD.

Units: nm, ps; JS natural log; PMF in k_BT^2.
"""

from __future__ import annotations

import numpy as np

from ..geometry import dihedral_angles
from .metrics import histogram, js_divergence, pmf_error

__all__ = ["TicaProjection", "distance_js", "fit_tica", "folding_transitions_per_us", "pair_distances",
           "tica_features"]

TICA_BINS = 100
DISTANCE_BINS = 100


def pair_distances(x: np.ndarray, min_separation: int = 1) -> np.ndarray:
    """C-alpha pair distances (nm) of frames x (N, n, 3) for |i - j| >= min_separation, shape (N, P)."""
    x = np.asarray(x, np.float64)
    i, j = np.triu_indices(x.shape[1], min_separation)
    return np.linalg.norm(x[:, i] - x[:, j], axis=-1)


def tica_features(x: np.ndarray) -> np.ndarray:
    """TICA input of frames x (N, n, 3): all pair distances (nm), cos and sin of consecutive dihedrals."""
    n = np.asarray(x).shape[1]
    quads = [(k, k + 1, k + 2, k + 3) for k in range(n - 3)]
    phi = dihedral_angles(np.asarray(x, np.float64), quads)
    return np.concatenate([pair_distances(x), np.cos(phi), np.sin(phi)], axis=-1)


class TicaProjection:
    """TIC1/TIC2 of a deeptime TICA model fitted on reference runs, and the histogram range.

    Args:
      runs: reference trajectories, each (T_k, n, 3) nm in time order (independent runs).
      lag: TICA lag time in frames.
      dim: number of TICs kept.
    """

    def __init__(self, runs: list[np.ndarray], lag: int, dim: int = 2):
        from deeptime.decomposition import TICA

        if lag < 1 or min(len(r) for r in runs) <= lag:
            raise ValueError(f"the TICA lag ({lag} frames) must be >= 1 and shorter than every run")
        self.lag, self.dim = int(lag), int(dim)
        self.model = TICA(lagtime=self.lag, dim=self.dim).fit([tica_features(r) for r in runs]).fetch_model()
        ref = self(np.concatenate(runs))
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        pad = 0.05 * (hi - lo)
        self.bounds = tuple((float(a), float(b)) for a, b in zip(lo - pad, hi + pad))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """TICs of frames x (N, n, 3), shape (N, dim)."""
        return np.asarray(self.model.transform(tica_features(x)))

    def metrics(self, x: np.ndarray, reference: np.ndarray) -> dict:
        """``js`` and ``pmf`` error of TIC1/TIC2 histograms (100 bins per axis) of x against the reference."""
        p = histogram(self(x)[:, :2], self.bounds[:2], TICA_BINS)
        q = histogram(self(reference)[:, :2], self.bounds[:2], TICA_BINS)
        return {"js": js_divergence(p, q), "pmf": pmf_error(p, q)}


def fit_tica(runs: list[np.ndarray], lag: int, dim: int = 2) -> TicaProjection:
    """:class:`TicaProjection` fitted on reference runs (frames (T_k, n, 3) nm) at ``lag`` frames."""
    return TicaProjection(runs, lag, dim)


def distance_js(x: np.ndarray, reference: np.ndarray, min_separation: int = 3) -> float:
    """Mean over pairs |i - j| >= min_separation of the JS of 1-D distance histograms (100 bins)."""
    dx, dr = pair_distances(x, min_separation), pair_distances(reference, min_separation)
    out = []
    for k in range(dr.shape[1]):
        lo, hi = float(dr[:, k].min()), float(dr[:, k].max())
        hi = hi if hi > lo else lo + 1e-3
        bounds = ((lo, hi),)
        px = np.histogram(np.clip(dx[:, k], lo, hi), bins=DISTANCE_BINS, range=bounds[0])[0]
        out.append(js_divergence(px, histogram(dr[:, k], bounds, DISTANCE_BINS)))
    return float(np.mean(out))


def folding_transitions_per_us(q: np.ndarray, frame_ps: float, folded: float = 0.8, unfolded: float = 0.3) -> float:
    """Folding + unfolding events per microsecond of Q time series q (frames, replicas) a frame_ps apart."""
    from ..data.go_model import count_transitions

    q = np.asarray(q)
    q = q[:, None] if q.ndim == 1 else q
    events = sum(count_transitions(q[:, r], folded, unfolded) for r in range(q.shape[1]))
    return events / (q.size * frame_ps * 1e-6)
