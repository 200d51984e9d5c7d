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
* Structure: C-alpha RMSD to the native structure after optimal superposition (Kabsch, no
  mirror images), contact maps (the probability that each pair |i - j| >= 3 lies within a
  cutoff) and their mean absolute difference, and JS of the 1-D Q and RMSD histograms.
* Chain integrity: a frame is *broken* when a consecutive C-alpha distance leaves the
  reference's own range widened by ``BOND_MARGIN`` (nm): a stretched-apart or collapsed
  virtual bond that no reference frame shows. A learned force field with a hole can carry a
  replica there and keep it there; such frames are counted, never dropped.
* Compaction: a frame *clashes* when a non-bonded pair (|i - j| >= 2) comes closer than the
  reference's own closest approach of that pair less ``BOND_MARGIN``: beads passing through
  each other, which a C-alpha energy learned only from the data need not forbid. The radius of
  gyration (equal weights) shows the same collapse as a whole.
* Drift: folded share, RMSD, radius of gyration and clashes per block of MD time
  (:func:`md_blocks`), so that a force field that holds the data for the first nanoseconds and
  then leaves it is seen as such, not averaged away.

Units: nm, ps; JS natural log; PMF in k_BT^2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import DataError
from ..geometry import dihedral_angles
from ..models import closest_distances  # the same minima the model's excluded-volume wall starts from
from .metrics import histogram, js_divergence, pmf_error

__all__ = ["BondRange", "ClosestApproach", "TicaProjection", "contact_map", "distance_js", "fit_tica",
           "folding_transitions_per_us", "histogram_js", "md_blocks", "native_positions", "pair_distances",
           "radius_of_gyration", "rmsd_to_native", "tica_features"]

TICA_BINS = 100
DISTANCE_BINS = 100
BOND_MARGIN = 0.05
"""nm added on both sides of the reference's range of consecutive C-alpha distances."""


_REPOSITORY = Path(__file__).resolve().parents[2]  # the checkout that holds scoremd/ and data/


def native_positions(system, data_dir: str | Path | None = None) -> np.ndarray:
    """C-alpha positions (nm) of a protein system's native structure (``system.structure``), shape (n, 3).

    A relative ``structure`` (the shipped systems' ``data/folded/<file>.pdb``) is looked up in the
    working directory, then as ``<data_dir>/folded/<file>``, then in the repository that holds
    this package, so reports and notebooks work from any directory.

    Raises:
      DataError: the structure is in none of these places (the message lists them).
    """
    import mdtraj

    structure = Path(system.structure)
    candidates = [structure]
    if not structure.is_absolute():
        if data_dir is not None:
            candidates.append(Path(data_dir) / "folded" / structure.name)
        candidates.append(_REPOSITORY / structure)
    for path in candidates:
        if path.is_file():
            return mdtraj.load(str(path)).xyz[0].astype(np.float64)
    raise DataError(f"the native structure of {getattr(system, 'name', 'this system')} is not at "
                    + " nor ".join(str(c) for c in candidates)
                    + "; run from the repository root or keep the native PDB under <data dir>/folded/")


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


def histogram_js(x: np.ndarray, reference: np.ndarray, bounds: tuple[float, float], bins: int = DISTANCE_BINS) -> float:
    """JS of the 1-D histograms of values x and reference (``bins`` bins on ``bounds``; x clipped into it)."""
    lo, hi = bounds
    px = np.histogram(np.clip(np.asarray(x, np.float64), lo, hi), bins=bins, range=(lo, hi))[0]
    pr = np.histogram(np.clip(np.asarray(reference, np.float64), lo, hi), bins=bins, range=(lo, hi))[0]
    return js_divergence(px, pr)


def rmsd_to_native(x: np.ndarray, native: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """C-alpha RMSD (nm) of frames x (N, n, 3) to the native structure (n, 3) after the optimal
    rotation and translation (Kabsch; proper rotations only, so a mirror image is not a match), (N,)."""
    native = np.asarray(native, np.float64)
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != native.shape:
        raise ValueError(f"frames of shape (N, {native.shape[0]}, 3) expected, got {x.shape}")
    ref = native - native.mean(axis=0)
    out = np.empty(len(x))
    for a in range(0, len(x), chunk):
        y = np.asarray(x[a:a + chunk], np.float64)
        y = y - y.mean(axis=1, keepdims=True)
        h = np.einsum("bni,nj->bij", y, ref)
        u, sv, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(u @ vt))
        trace = sv[:, 0] + sv[:, 1] + d * sv[:, 2]
        msd = (np.sum(y**2, axis=(1, 2)) + np.sum(ref**2) - 2 * trace) / len(ref)
        out[a:a + chunk] = np.sqrt(np.maximum(msd, 0.0))
    return out


def contact_map(x: np.ndarray, cutoff: float, min_separation: int = 3) -> np.ndarray:
    """Probability (n, n) that C-alpha pairs |i - j| >= min_separation of frames x (N, n, 3) lie
    closer than ``cutoff`` (nm); symmetric, NaN for the pairs closer in sequence."""
    n = np.asarray(x).shape[1]
    i, j = np.triu_indices(n, min_separation)
    p = np.mean(pair_distances(x, min_separation) < cutoff, axis=0)
    out = np.full((n, n), np.nan)
    out[i, j] = out[j, i] = p
    return out


class BondRange:
    """The reference's range of consecutive C-alpha distances (nm), widened by ``margin``.

    Args:
      reference: reference frames (N, n, 3) nm.
      margin: nm added below the smallest and above the largest reference distance.
    """

    def __init__(self, reference: np.ndarray, margin: float = BOND_MARGIN):
        b = self.bonds(reference)
        self.lo, self.hi = float(b.min()) - margin, float(b.max()) + margin

    @staticmethod
    def bonds(x: np.ndarray) -> np.ndarray:
        """Consecutive C-alpha distances (nm) of frames (..., n, 3), shape (..., n - 1)."""
        return np.linalg.norm(np.diff(np.asarray(x, np.float64), axis=-2), axis=-1)

    def broken(self, x: np.ndarray) -> np.ndarray:
        """True for each frame of x (..., n, 3) with a consecutive distance outside the range, (...)."""
        b = self.bonds(x)
        return np.any((b < self.lo) | (b > self.hi), axis=-1)


def radius_of_gyration(x: np.ndarray) -> np.ndarray:
    """Radius of gyration (nm, equal bead weights) of frames x (..., n, 3), shape (...)."""
    x = np.asarray(x, np.float64)
    return np.sqrt(np.mean(np.sum((x - x.mean(axis=-2, keepdims=True)) ** 2, axis=-1), axis=-1))


class ClosestApproach:
    """The reference's closest approach (nm) of every non-bonded C-alpha pair |i - j| >= 2, less ``margin``.

    Args:
      reference: reference frames (N, n, 3) nm.
      margin: nm subtracted from each pair's smallest reference distance.
      chunk: frames per pass (bounds memory).
    """

    MIN_SEPARATION = 2

    def __init__(self, reference: np.ndarray, margin: float = BOND_MARGIN, chunk: int = 50_000):
        reference = np.asarray(reference)
        self.chunk = chunk
        i, j = np.triu_indices(reference.shape[1], 1)
        closest = np.asarray(closest_distances(reference, batch=chunk))
        self.lo = closest[j - i >= self.MIN_SEPARATION] - margin

    def clashing(self, x: np.ndarray) -> np.ndarray:
        """True for each frame of x (..., n, 3) with a non-bonded pair closer than the reference's
        closest approach less the margin, shape (...)."""
        x = np.asarray(x)
        flat = x.reshape(-1, *x.shape[-2:])
        out = np.concatenate([np.any(pair_distances(flat[a:a + self.chunk], self.MIN_SEPARATION) < self.lo, axis=-1)
                              for a in range(0, len(flat), self.chunk)] or [np.zeros(0, bool)])
        return out.reshape(x.shape[:-2])


def md_blocks(trajectory: np.ndarray, frame_ps: float, q: np.ndarray, rmsd: np.ndarray, clash: np.ndarray,
              max_blocks: int = 12) -> dict:
    """Per-block MD observables over simulated time, all replicas pooled (burn-in included, so
    that drift from the starting frames shows).

    Args:
      trajectory: MD frames (frames, replicas, n, 3) nm.
      frame_ps: time between frames (ps).
      q, rmsd, clash: per frame (frames, replicas): fraction of native contacts, RMSD to the
        native structure (nm), and whether the frame clashes (:class:`ClosestApproach`).
      max_blocks: blocks are 1 ns long, or a whole number of ns so that there are at most this many.

    Returns:
      {"block_ps", "start_ps": [...], "folded": [...], "rmsd_median": [...] (nm),
      "rg_median": [...] (nm), "clash": [...]}.
    """
    frames = trajectory.shape[0]
    total_ps = frames * frame_ps
    block_ps = 1000.0 * max(1, int(np.ceil(total_ps / 1000.0 / max_blocks)))
    per = max(1, min(frames, int(round(block_ps / frame_ps))))
    out = {"block_ps": per * frame_ps, "start_ps": [], "folded": [], "rmsd_median": [], "rg_median": [], "clash": []}
    for a in range(0, frames, per):
        out["start_ps"].append(a * frame_ps)
        out["folded"].append(float(np.mean(q[a:a + per] > 0.8)))
        out["rmsd_median"].append(float(np.median(rmsd[a:a + per])))
        out["rg_median"].append(float(np.median(radius_of_gyration(trajectory[a:a + per]))))
        out["clash"].append(float(np.mean(clash[a:a + per])))
    return out
