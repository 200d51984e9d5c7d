"""Where in diffusion time a model loses a basin's weight: regenerated reference frames.

Reference frames diffused forward to a time t0 and sampled back down to t_min with the learned
score (:meth:`scoremd.Emulator.regenerate`) keep every statistic of the frames when the score
is exact, up to the sampler's discretisation. A basin share that drifts away from the frames'
own share as t0 grows shows the range of diffusion times whose score sets the basin weight
wrongly, e.g. the expert of a mixture responsible for it; t0 = 1 is ordinary i.i.d. sampling.

The basin statistic is the system's slow one: the share of frames at phi > 0 (alanine
dipeptide's rare alpha_L basin, and every dipeptide) or, for C-alpha proteins, the folded share
(fraction of native contacts Q > 0.8). For systems with backbone dihedrals the profile also
carries the phi/psi JS of the regenerated frames against a reference (e.g. all training frames),
next to the frames' own JS against it (the floor of that many frames): a JS that grows with t0
while the basin share holds shows where the shape of the basins (their width) is lost.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np

from ..geometry import dihedral_angles, fraction_native_contacts, native_contacts
from .metrics import histogram, js_divergence
from .protein import native_positions

__all__ = ["DEFAULT_T0", "basin_statistic", "regeneration_profile"]

DEFAULT_T0 = (0.05, 0.1, 0.2, 0.35, 0.6, 1.0)


def basin_statistic(system) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """(label, indicator): the system's slow basin as a per-frame boolean of frames (N, n_beads, 3) in nm.

    Raises:
      ValueError: a system with neither a native structure (protein) nor backbone dihedrals.
    """
    if getattr(system, "is_protein", False):
        pairs, r0 = native_contacts(native_positions(system), system.native_contact_cutoff)
        return "folded share (Q > 0.8)", lambda x: fraction_native_contacts(x, pairs, r0) > 0.8
    if getattr(system, "dihedrals", None):
        return "share at phi > 0", lambda x: dihedral_angles(x, system.dihedrals)[:, 0] > 0
    raise ValueError(f"{system.name} has no basin statistic: regeneration profiles need backbone dihedrals "
                     "(phi) or a native structure (C-alpha proteins)")


def regeneration_profile(emulator, frames: np.ndarray, t0s: Sequence[float] = DEFAULT_T0, *, key: jax.Array,
                         batch: int = 20_000, progress: Callable[[int], None] | None = None,
                         reference: np.ndarray | None = None) -> dict:
    """The basin share of ``frames`` regenerated from each diffusion time in ``t0s``.

    Args:
      emulator: a trained molecular :class:`scoremd.Emulator` (or one dipeptide's of a
        transferable model).
      frames: reference frames (nm), shape (N, n_beads, 3), e.g. training frames drawn at random;
        they should hold the basin often enough for its share to be read (the binomial standard
        error is reported).
      t0s: diffusion times in [t_min, 1] to regenerate from (each rounded to the sampler grid's
        nearest time).
      key: PRNG key; each t0 uses its own key folded from it.
      batch: frames integrated at once (memory grows with it).
      progress: called with the number of frames done after every batch (e.g. a tqdm update).
      reference: frames (nm), shape (M, n_beads, 3), to score the phi/psi JS against (systems
        with backbone dihedrals; e.g. all training frames, of which ``frames`` are a draw).

    Returns:
      {"statistic": label, "n": N, "start": the frames' own share, "start_se": its binomial
      standard error, "profile": [{"t0", "share", "se"} for each t0]}; shares are fractions in
      [0, 1], ``se`` the binomial standard error sqrt(p (1 - p) / N) of the regenerated share.
      With ``reference``: "start_js" (the frames' own phi/psi JS against it, in nats; their
      floor only when they are few against the reference: frames drawn from a small reference
      repeat it and score below any independent set), "reference_n" (M), "js_angles" (which
      dihedrals: "phi/psi", or for C-alpha proteins "C-alpha pseudo-dihedral") and a "js" in
      every profile row.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"frames must have shape (N, n_beads, 3) with N > 0, got {frames.shape}")
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    label, indicator = basin_statistic(emulator.system)
    n = len(frames)
    js = _js_against(emulator.system, reference, frames.shape[1:])

    def share(hits):
        p = float(np.mean(hits))
        return p, float(np.sqrt(p * (1 - p) / n))

    start, start_se = share(indicator(frames))
    profile = []
    for i, t0 in enumerate(t0s):
        k = jax.random.fold_in(key, i)
        outs = []
        for b, lo in enumerate(range(0, n, batch)):
            outs.append(np.asarray(emulator.regenerate(frames[lo:lo + batch], float(t0), key=jax.random.fold_in(k, b))))
            if progress is not None:
                progress(len(outs[-1]))
        out = np.concatenate(outs)
        p, se = share(indicator(out))
        profile.append({"t0": float(t0), "share": p, "se": se, **({"js": js(out)} if js else {})})
    result = {"statistic": label, "n": n, "start": start, "start_se": start_se, "profile": profile}
    if js:
        result["start_js"], result["reference_n"] = js(frames), len(reference)
        result["js_angles"] = "C-alpha pseudo-dihedral" if getattr(emulator.system, "is_protein", False) else "phi/psi"
    return result


def _js_against(system, reference: np.ndarray | None, event_shape) -> Callable[[np.ndarray], float] | None:
    """phi/psi JS (nats) of frames against ``reference`` on the system's JS bins; None without
    a reference or backbone dihedrals."""
    if reference is None or not getattr(system, "dihedrals", None):
        return None
    reference = np.asarray(reference)
    if reference.shape[1:] != tuple(event_shape) or len(reference) == 0:
        raise ValueError(f"reference must have the frames' shape (M, {', '.join(map(str, event_shape))}) with M > 0, "
                         f"got {reference.shape}")
    bounds = system.metric_bounds
    ref = histogram(dihedral_angles(reference, system.dihedrals), bounds, system.js_bins)
    return lambda x: js_divergence(histogram(dihedral_angles(x, system.dihedrals), bounds, system.js_bins), ref)
