"""The two evaluation protocols of docs/metrics.md, each next to its floor at the same sizes.

* **paper**: ``n`` model frames (50 000 in the paper) drawn at random against ``n`` reference
  frames drawn at random; MD frames are drawn from the whole pooled trajectory. Repeated over
  ``draws`` independent draws: mean and standard deviation.
* **large**: all frames of the smaller set against as many frames drawn from the larger; a model
  set larger than the independent reference is drawn down to its size, so the floor exists at
  the same n.

The floor of a protocol is the same metric between two independent references (e.g. the
test runs against the validation runs) at the same sizes: plug-in JS and PMF fall with the
sample size, so a number is read only next to the floor of its own protocol.

Frames are (N, n_beads, 3) in nm; JS in nats, PMF error in k_BT^2, on the system's
phi/psi bins.
"""

from __future__ import annotations

import numpy as np

from ..systems import MolecularSystem
from ._molecular_metrics import dihedral_metrics

__all__ = ["PAPER_FRAMES", "large_sample", "paper_protocol", "protocol_lines", "protocols"]

PAPER_FRAMES = 50_000


def _draw(rng, x: np.ndarray, n: int) -> np.ndarray:
    return x if len(x) == n else x[rng.choice(len(x), n, replace=False)]


def paper_protocol(system: MolecularSystem, x: np.ndarray, reference: np.ndarray, *, n: int = PAPER_FRAMES,
                   draws: int = 5, seed: int = 0) -> dict:
    """``n`` frames of ``x`` against ``n`` reference frames, both drawn at random, ``draws`` times.

    ``x`` (N, beads, 3) and ``reference`` (M, beads, 3) are positions in nm; the metrics are the
    system's dihedral JS (nats) and PMF error (k_BT^2) (:func:`dihedral_metrics`). ``n`` is
    capped at the smaller set's size (the result says which ``n`` was used).

    Returns:
      {"js", "js_sd", "pmf", "pmf_sd", "n", "draws"}.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    n = int(min(n, len(x), len(reference)))
    rng = np.random.default_rng(seed)
    scores = [dihedral_metrics(system, _draw(rng, x, n), _draw(rng, reference, n)) for _ in range(draws)]
    out: dict = {"n": n, "draws": int(draws)}
    for key in ("js", "pmf"):
        values = [s[key] for s in scores]
        none = any(v is None for v in values)  # no sample inside the metric box
        out[key] = None if none else float(np.mean(values))
        out[f"{key}_sd"] = None if none else float(np.std(values))
    return out


def large_sample(system: MolecularSystem, x: np.ndarray, reference: np.ndarray, *, seed: int = 0) -> dict:
    """All frames of the smaller set against as many drawn at random from the larger.

    ``x`` (N, beads, 3) and ``reference`` (M, beads, 3): positions in nm.

    Returns:
      {"js", "pmf", "n"}.
    """
    n = int(min(len(x), len(reference)))
    rng = np.random.default_rng(seed)
    m = dihedral_metrics(system, _draw(rng, x, n), _draw(rng, reference, n))
    return {"js": m["js"], "pmf": m["pmf"], "n": n}


def protocols(system: MolecularSystem, sets: dict[str, np.ndarray], reference: np.ndarray,
              independent: np.ndarray, *, n: int = PAPER_FRAMES, draws: int = 5) -> dict:
    """Both protocols for every set in ``sets`` against ``reference``, with their floors.

    ``sets`` maps names to positions (N_k, beads, 3); ``reference`` and ``independent`` are
    positions (M, beads, 3), all in nm.

    The floor of each set is ``independent`` (a second reference no model saw) scored against
    ``reference`` in the same protocol at that set's size. A set larger than ``independent``
    (e.g. 12 million frames of long MD) is scored at ``independent``'s size, drawn at random,
    in both protocols, so model and floor always stand at the same ``n``.

    Returns:
      {"paper": {name: {...}, "floor " + name: {...}}, "large": {...}} with the entries of
      :func:`paper_protocol` and :func:`large_sample`.
    """
    out: dict[str, dict] = {"paper": {}, "large": {}}
    for name, x in sets.items():
        k = min(n, len(x), len(independent))
        out["paper"][name] = paper_protocol(system, x, reference, n=k, draws=draws)
        out["paper"][f"floor {name}"] = paper_protocol(system, independent, reference, n=k, draws=draws, seed=1)
        size = min(len(x), len(independent))  # the largest n at which the floor exists too
        out["large"][name] = large_sample(system, _draw(np.random.default_rng(3), x, size), reference)
        same_size = _draw(np.random.default_rng(2), independent, size)
        out["large"][f"floor {name}"] = large_sample(system, same_size, reference, seed=1)
    return out


def protocol_lines(result: dict) -> list[str]:
    """The report's table of :func:`protocols` (with its ``reference`` entry), as Markdown lines."""
    def fmt(v):
        return "n/a" if v is None else f"{v:.4f}" if v < 10 else f"{v:.1f}"

    lines = ["", f"Both evaluation protocols against the {result['reference']}, each next to its floor "
             "(an independent reference scored the same way at the same size; docs/metrics.md):", "",
             "| protocol | samples | n | phi/psi JS | PMF error | floor JS | floor PMF |", "|---|---|---|---|---|---|---|"]
    for key, label in (("paper", "paper (mean ± sd over draws)"), ("large", "large samples")):
        for name, m in result[key].items():
            if name.startswith("floor "):
                continue
            f = result[key][f"floor {name}"]
            if key == "paper":
                cells = [f"{fmt(m['js'])} ± {fmt(m['js_sd'])}", f"{fmt(m['pmf'])} ± {fmt(m['pmf_sd'])}",
                         f"{fmt(f['js'])} ± {fmt(f['js_sd'])}", f"{fmt(f['pmf'])} ± {fmt(f['pmf_sd'])}"]
            else:
                cells = [fmt(m["js"]), fmt(m["pmf"]), fmt(f["js"]), fmt(f["pmf"])]
            lines.append(f"| {label} | {name} | {m['n']} | " + " | ".join(cells) + " |")
    if "training data" in result["large"]:
        lines += ["", "The training-data rows are frames the model was fitted to, as many as the i.i.d. samples "
                  "(and, beside a long MD, as many as its frames): what an exact model of its training data "
                  "scores. Where they sit above the floor, the training runs and the scored runs differ (a slow "
                  "basin visited a different number of times), and no model of those training frames can be read "
                  "below that row."]
    return lines
