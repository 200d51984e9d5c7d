"""Report plots (PNG). matplotlib is imported here only, when a plot is drawn.

Figures are built with ``matplotlib.figure.Figure`` directly, so drawing one
neither needs nor changes a global backend. Every function writes one file.
Units: positions nm, energies k_BT or kJ/mol as labelled, angles radians.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ..geometry import dihedral_angles
from ..systems import MolecularSystem
from .metrics import histogram

__all__ = ["plot_bonds", "plot_densities", "plot_energies", "plot_fp_error", "plot_free_energy", "plot_loss",
           "plot_ramachandran", "plot_ramachandran_grid", "plot_regeneration"]


def _subplots(nrows=1, ncols=1, *, figsize, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def _save(fig, path, **kwargs) -> None:
    """Save under a temporary name, then rename: a report never holds half a PNG."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, **kwargs)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _bond_lengths(bonds, x: np.ndarray) -> np.ndarray:
    i, j = np.array(bonds).T
    return np.linalg.norm(x[:, j] - x[:, i], axis=-1)


def _hist(x, bounds, bins):
    """Histogram for plots: all zeros (an empty panel) when no sample is inside the bounds."""
    try:
        return histogram(x, bounds, bins)
    except ValueError:
        return np.zeros((bins,) * len(bounds))


def _free_energy_grid(system, emulator, n: int = 120):
    """True and learned free energies (k_BT, minimum 0) on a grid over the metric box."""
    axes = [np.linspace(lo, hi, n) for lo, hi in system.metric_bounds]
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, system.dim)
    true = np.asarray(system.energy(jnp.asarray(mesh))) / system.kbt
    learned = np.asarray(emulator.energy(mesh)) / system.kbt
    shape = (n,) * system.dim
    return axes, (true - true.min()).reshape(shape), (learned - learned.min()).reshape(shape)


def plot_densities(path, system, sets: dict[str, np.ndarray], ref: np.ndarray):
    bounds = system.metric_bounds
    if system.dim == 1:
        fig, ax = _subplots(figsize=(6, 4))
        edges = np.linspace(*bounds[0], ref.shape[0] + 1)
        centres, width = 0.5 * (edges[1:] + edges[:-1]), edges[1] - edges[0]
        ax.plot(centres, ref / width, "k-", lw=2, label="exact")
        for name, x in sets.items():
            ax.plot(centres, _hist(x, bounds, ref.shape[0]) / width, label=name, alpha=0.8)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend()
    else:
        panels = {"exact": ref, **{k: _hist(v, bounds, ref.shape[0]) for k, v in sets.items()}}
        fig, axes = _subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), sharey=True)
        extent = [*bounds[0], *bounds[1]]
        for ax, (name, p) in zip(axes, panels.items()):
            with np.errstate(divide="ignore"):
                f = -np.log(p)
            if np.isfinite(f).any():
                f -= f[np.isfinite(f)].min()
            im = ax.imshow(f.T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10, cmap="viridis")
            ax.set_title(name)
            ax.set_xlabel("x")
        axes[0].set_ylabel("y")
        fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.9)
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_free_energy(path, system, emulator, cutoff: float = 10.0):
    axes, true, learned = _free_energy_grid(system, emulator)
    if system.dim == 1:
        fig, ax = _subplots(figsize=(6, 4))
        ax.plot(axes[0], true, "k-", lw=2, label="true U/k_BT")
        ax.plot(axes[0], learned, "C1--", label="learned E_theta(x, t0)")
        ax.set_ylim(-0.5, 3 * cutoff)
        ax.set_xlabel("x")
        ax.set_ylabel("energy (k_BT, minimum at 0)")
        ax.legend()
    else:
        fig, axs = _subplots(1, 3, figsize=(12, 3.6), sharey=True)
        extent = [*system.metric_bounds[0], *system.metric_bounds[1]]
        diff = np.where(true < cutoff, learned - true, np.nan)
        for ax, (name, f, kw) in zip(axs, [
            ("true U/k_BT", true, dict(vmin=0, vmax=cutoff)),
            ("learned E_theta(x, t0)", learned, dict(vmin=0, vmax=cutoff)),
            (f"learned - true (where true < {cutoff:g})", diff, dict(vmin=-2, vmax=2, cmap="RdBu_r")),
        ]):
            im = ax.imshow(f.T, origin="lower", extent=extent, aspect="auto", **kw)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("x")
            fig.colorbar(im, ax=ax, shrink=0.85)
        axs[0].set_ylabel("y")
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_loss(path, metrics_file: Path):
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    if not rows:
        return False
    fig, ax = _subplots(figsize=(6, 3.5))
    for stage in dict.fromkeys(r.get("stage", "") for r in rows):
        sel = [r for r in rows if r.get("stage", "") == stage]
        ax.plot([r["step"] for r in sel], [r["loss"] for r in sel], label=stage or None)
    if any("stage" in r for r in rows):
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    _save(fig, path, dpi=110, bbox_inches="tight")
    return True


def plot_fp_error(path, curve: dict):
    """The gauge-invariant FP error Var_x r / D^2 against t, and the raw mean square (dashed)."""
    fig, ax = _subplots(figsize=(6, 3.5))
    t = np.array(curve["t"])
    ax.plot(t, np.abs(np.array(curve["value"])), "o-", label="Var_x r / D^2 (gauge invariant)")
    if "raw" in curve:
        ax.plot(t, np.abs(np.array(curve["raw"])), "s--", alpha=0.6, label="E_x r^2 / D^2 (raw, as in training)")
        ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("diffusion time t")
    ax.set_ylabel("|unbiased estimate|")
    ax.set_title("Fokker-Planck residual of the learned energy")
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_regeneration(path, result: dict, title: str = ""):
    """A regeneration profile (:func:`scoremd.analysis.regeneration_profile`): the basin share of
    frames regenerated from each t0 (± 2 binomial standard errors) against their own share (band),
    with the mixture's ``expert_boundaries`` (diffusion times) where the result has them; where the
    result carries phi/psi JS, a second panel shows it against the frames' own JS (their floor)."""
    has_js = "start_js" in result
    fig, axes = _subplots(1, 2 if has_js else 1, figsize=(11 if has_js else 6, 3.5))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    rows = result["profile"]
    t = np.array([r["t0"] for r in rows])
    p = 100 * np.array([r["share"] for r in rows])
    se = 100 * np.array([r["se"] for r in rows])
    start, start_se = 100 * result["start"], 100 * result["start_se"]
    ax.axhspan(start - 2 * start_se, start + 2 * start_se, color="0.85", label="the frames themselves (± 2 se)")
    ax.axhline(start, color="0.4", lw=1)
    ax.errorbar(t, p, yerr=2 * se, fmt="o-", capsize=3, label="regenerated from t0 (± 2 se)")
    ax.set_ylabel(f"{result['statistic']} (%)")
    if has_js:
        axes[1].axhline(result["start_js"], color="0.4", lw=1, label="the frames themselves (their floor)")
        axes[1].plot(t, [r["js"] for r in rows], "o-", label="regenerated from t0")
        axes[1].set_ylabel(f"{result.get('js_angles', 'phi/psi')} JS against all training frames")
        axes[1].set_ylim(bottom=0)
    for a in axes:
        for i, b in enumerate(result.get("expert_boundaries") or ()):
            a.axvline(b, color="0.5", ls=":", lw=1, label="expert boundaries" if i == 0 else None)
        a.set_xlabel("diffusion time t0 the frames were diffused to")
        if t.min() > 0 and t.max() / t.min() >= 20:  # t0 over decades: small ones stay apart
            a.set_xscale("log")
        a.legend(fontsize=8)
    fig.suptitle(title or f"Regenerated frames (n = {result['n']}); t0 = 1 is i.i.d. sampling", fontsize=10)
    _save(fig, path, dpi=110, bbox_inches="tight")


def _ramachandran_panel(ax, system: MolecularSystem, x: np.ndarray, bins: int, vmax: float):
    """Draw -log p(phi, psi) (k_BT, minimum 0) of frames x (N, n_beads, 3) on ax; returns the image."""
    p = histogram(dihedral_angles(x, system.dihedrals), system.metric_bounds, bins)
    with np.errstate(divide="ignore"):
        f = -np.log(p)
    f -= f[np.isfinite(f)].min()
    return ax.imshow(f.T, origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi], vmin=0, vmax=vmax,
                     cmap="viridis", aspect="equal")


def plot_ramachandran(path, system: MolecularSystem, sets: dict[str, np.ndarray], vmax: float = 8.0):
    bins = system.js_bins
    fig, axes = _subplots(1, len(sets), figsize=(3.5 * len(sets), 3.4), sharey=True)
    for ax, (name, x) in zip(np.atleast_1d(axes), sets.items()):
        im = _ramachandran_panel(ax, system, x, bins, vmax)
        ax.set_title(f"{name} (n={len(x)})", fontsize=10)
        ax.set_xlabel("phi (rad)")
    np.atleast_1d(axes)[0].set_ylabel("psi (rad)")
    fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.85)
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_ramachandran_grid(path, systems: dict, sets: dict[str, dict[str, np.ndarray]], vmax: float = 8.0,
                           per_row: int | None = None):
    """Free energy -log p(phi, psi) (k_BT) of every molecule (``systems[name]`` gives its
    dihedrals) and set of frames: one block of panels per molecule (one per set, side by side),
    ``per_row`` blocks per row of the figure (default 1 up to four molecules, else 3)."""
    names = list(sets)
    columns = list(sets[names[0]])
    per_row = per_row or (1 if len(names) <= 4 else 3)
    n_rows = -(-len(names) // per_row)
    fig, axes = _subplots(n_rows, per_row * len(columns), figsize=(2.4 * per_row * len(columns), 2.3 * n_rows),
                          sharex=True, sharey=True, squeeze=False)
    im = None

    def block(k):  # the panels of the k-th molecule
        return axes[k // per_row, (k % per_row) * len(columns):(k % per_row + 1) * len(columns)]

    for k, name in enumerate(names):
        system = systems[name]
        for ax, col in zip(block(k), columns):
            x = sets[name][col]
            if len(x) == 0:  # e.g. every MD replica diverged
                ax.text(0.5, 0.5, "no frames", ha="center", va="center", transform=ax.transAxes, fontsize=7)
            else:
                im = _ramachandran_panel(ax, system, x, system.js_bins, vmax)
            ax.set_title(f"{name} {col} (n={len(x)})", fontsize=7)
    for k in range(len(names), n_rows * per_row):  # empty blocks of the last row
        for ax in block(k):
            ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("psi (rad)", fontsize=7)
    for c in range(axes.shape[1]):  # the phi axis under the lowest panel of every column
        filled = (n_rows - 1) * per_row + c // len(columns) < len(names)
        lowest = axes[n_rows - 1 if filled else max(n_rows - 2, 0), c]
        lowest.xaxis.set_tick_params(labelbottom=True)
        lowest.set_xlabel("phi (rad)", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.6)
    _save(fig, path, dpi=90, bbox_inches="tight")


def plot_tica(path, projected: dict[str, np.ndarray], bounds, vmax: float = 8.0):
    """Free energy -log p(TIC1, TIC2) (k_BT) of each set of projected frames (N, >= 2)."""
    fig, axes = _subplots(1, len(projected), figsize=(3.5 * len(projected), 3.4), sharey=True)
    extent = [*bounds[0], *bounds[1]]
    for ax, (name, y) in zip(np.atleast_1d(axes), projected.items()):
        p = histogram(y[:, :2], bounds[:2], 100)
        with np.errstate(divide="ignore"):
            f = -np.log(p)
        f -= f[np.isfinite(f)].min()
        im = ax.imshow(f.T, origin="lower", extent=extent, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("TIC 1")
    np.atleast_1d(axes)[0].set_ylabel("TIC 2")
    fig.colorbar(im, ax=axes, label="free energy (k_BT)", shrink=0.85)
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_protein_structure(path, sets: dict[str, tuple], q_bounds, q_bins: int, rmsd_bounds):
    """Distributions of Q and of the RMSD to the native structure (nm), and contact maps.

    ``sets`` maps a name to (Q (N,), RMSD (N,), contact map (n, n)); the first set is the reference.
    """
    names = list(sets)
    fig, axes = _subplots(1, 2 + len(names), figsize=(3.3 * (2 + len(names)), 3.2))
    for name in names:
        q, rmsd, _ = sets[name]
        axes[0].hist(q, bins=q_bins, range=q_bounds, density=True, histtype="step", label=name)
        axes[1].hist(rmsd, bins=100, range=rmsd_bounds, density=True, histtype="step", label=name)
    axes[0].set_xlabel("Q (fraction of native contacts)")
    axes[1].set_xlabel("C-alpha RMSD to native (nm)")
    axes[0].set_ylabel("density")
    axes[1].legend(fontsize=7)
    for ax, name in zip(axes[2:], names):
        im = ax.imshow(sets[name][2], vmin=0, vmax=1, cmap="magma_r", origin="lower")
        ax.set_title(f"contacts: {name}", fontsize=9)
        ax.set_xlabel("residue")
    fig.colorbar(im, ax=list(axes[2:]), label="contact probability", shrink=0.85)
    _save(fig, path, dpi=100, bbox_inches="tight")


def plot_md_blocks(path, blocks: dict, reference: dict):
    """MD observables per block of simulated time (:func:`scoremd.analysis.protein.md_blocks`),
    each against the reference's value (dashed): folded share, RMSD to native (nm), radius of
    gyration (nm) and the share of clashing frames."""
    t = np.asarray(blocks["start_ps"]) / 1000.0 + blocks["block_ps"] / 2000.0
    panels = [("folded", "folded share (Q > 0.8)"), ("rmsd_median", "RMSD to native, median (nm)"),
              ("rg_median", "radius of gyration, median (nm)"), ("clash", "clashing frames")]
    fig, axes = _subplots(1, len(panels), figsize=(3.2 * len(panels), 2.8))
    for ax, (key, label) in zip(axes, panels):
        ax.plot(t, blocks[key], "o-", ms=3, label="MD")
        ax.axhline(reference[key], color="k", ls="--", lw=1, label="reference")
        ax.set_xlabel("MD time (ns)")
        ax.set_ylabel(label, fontsize=8)
    axes[0].legend(fontsize=7)
    _save(fig, path, dpi=100, bbox_inches="tight")


def plot_go_calibration(path, rows: list[dict], title: str = ""):
    """Folding equilibrium of a Go model against epsilon/k_BT: <Q>, folded and unfolded shares, C_v."""
    x = [r["epsilon_over_kbt"] for r in rows]
    fig, (a, b) = _subplots(1, 2, figsize=(8.0, 3.0))
    for key, label in (("mean_q", "<Q>"), ("folded", "folded (Q > 0.8)"), ("unfolded", "unfolded (Q < 0.3)")):
        a.plot(x, [r[key] for r in rows], "o-", label=label)
    a.set_xlabel("epsilon / k_BT")
    a.legend(fontsize=8)
    b.plot(x, [r["heat_capacity"] for r in rows], "o-")
    b.set_xlabel("epsilon / k_BT")
    b.set_ylabel("C_v = Var(U) / (k_B T^2)  (k_B)")
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path, dpi=110, bbox_inches="tight")


def plot_bonds(path, system: MolecularSystem, sets: dict[str, np.ndarray]):
    n_bonds = len(system.bonds)
    fig, axes = _subplots(1, n_bonds, figsize=(3.0 * n_bonds, 2.8))
    lengths = {k: _bond_lengths(system.bonds, v) for k, v in sets.items()}
    names = [f"{system.cg_map[i][1]}{i}-{system.cg_map[j][1]}{j}" for i, j in system.bonds]
    for b, ax in enumerate(np.atleast_1d(axes)):
        lo = min(np.quantile(v[:, b], 0.001) for v in lengths.values())
        hi = max(np.quantile(v[:, b], 0.999) for v in lengths.values())
        edges = np.linspace(lo, hi, 60)
        for k, v in lengths.items():
            ax.hist(v[:, b], bins=edges, density=True, histtype="step", label=k)
        ax.set_title(names[b], fontsize=9)
        ax.set_xlabel("length (nm)")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path, dpi=110)


def plot_energies(path, energies: dict[str, np.ndarray]):
    fig, ax = _subplots(figsize=(6, 3.5))
    lo = min(np.quantile(e, 0.001) for e in energies.values())
    hi = max(np.quantile(e, 0.995) for e in energies.values())
    edges = np.linspace(lo, hi, 80)
    for k, e in energies.items():
        ax.hist(e, bins=edges, density=True, histtype="step", label=k)
    ax.set_xlabel("learned energy U_theta(x, t0) (kJ/mol, arbitrary offset)")
    ax.set_ylabel("density")
    ax.legend()
    _save(fig, path, dpi=110, bbox_inches="tight")
