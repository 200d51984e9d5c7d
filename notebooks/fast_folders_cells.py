"""Cells of notebooks/fast_folders.ipynb, written by make_notebooks.py."""

FAST_FOLDERS = [
    ("md", """# Fast folders: a C-alpha energy model of chignolin that samples and folds

Chignolin (CLN025, ten residues, 340 K) is coarse-grained to its ten C-alpha atoms. One
energy network E_θ(x, t) (pair distances and the signed volumes of consecutive bonds, so a
hairpin's twist and its mirror image differ) is trained with denoising score matching and the
Fokker–Planck regulariser at small diffusion times (the "fp" preset, chignolin's recommended
recipe; BBA has "both", the paper's mixture of three experts over diffusion time). The same
model then

1. draws **i.i.d. conformations** by integrating the reverse diffusion (for "fp": sequential
   Monte Carlo on the model's own energies down to t = 0.01, the MD's force time), and
2. is a **force field** at small t₀ for Langevin dynamics, which should fold and unfold.

The "fp" preset is trained without and used with an excluded-volume wall (zero on every
training frame, a harmonic wall below each non-bonded pair's closest approach in the data),
which keeps long MD from drifting into states where beads pass through each other
(`model.excluded_volume_after_training`; `scoremd.load(RUN, excluded_volume=False)` leaves it off).

The reference is the structure-based (Gō-type) C-alpha surrogate this project generates
with OpenMM from the native structure (`data/chignolin/`, `scoremd data go`; see
`docs/data/fast_folders.md`). It is a stand-in for the all-atom D. E. Shaw Research
trajectories of the paper, which are available only on request; the last section shows
how to use them instead.

Set `SCOREMD_RUN` to a trained run directory (e.g. written by
`python examples/fast_folders.py --protein chignolin --out runs/ff`, in
`runs/ff/chignolin/fp_seed0`) to load it; otherwise the preset trains here (about
15 minutes on 2 CPU cores). `SCOREMD_PROTEIN=bba` does the same for BBA (28 beads, 325 K).
With `SCOREMD_FAST=1` a tiny model trains in about a minute (what the test suite runs)."""),
    ("code", """import os
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import scoremd
from scoremd.analysis import histogram
from scoremd.analysis.protein import (contact_map, distance_js, fit_tica, folding_transitions_per_us,
                                      native_positions, rmsd_to_native)
from scoremd.data import load_molecular_data
from scoremd.geometry import fraction_native_contacts, native_contacts

FAST = os.environ.get("SCOREMD_FAST", "0") == "1"
ROOT = Path(os.environ.get("SCOREMD_ROOT", ".."))  # the repository (notebooks/ lives in it)
RUN = os.environ.get("SCOREMD_RUN")
PROTEIN = os.environ.get("SCOREMD_PROTEIN", "chignolin")
WORK = Path(tempfile.mkdtemp(prefix="scoremd_ff_"))
system = scoremd.get_system(PROTEIN)
print(f"{system.name}: {system.n_beads} C-alpha beads, {system.temperature} K, k_BT = {system.kbt:.3f} kJ/mol")"""),
    ("md", """## The reference and its floor

Six independent runs of the surrogate: runs 00–01 train, 02–03 are the held-out
(validation) runs used here, 04–05 are the test runs that only the final claims use
(`examples/fast_folders.py --reference test`). Q is the fraction of native contacts
(C-alpha pairs |i − j| ≥ 3 within the system's cutoff in the native structure); a frame
with Q > 0.8 counts as folded, one with Q < 0.3 as unfolded.

TICA (deeptime) is fitted on the training runs at the system's lag, on all C-alpha pair
distances and the consecutive C-alpha dihedrals. The floor is every metric between the
two held-out runs: no model can be shown to be closer to the truth than that."""),
    ("code", """data = load_molecular_data(system, ROOT / "data")
train = data.positions[data.train]
reference = data.positions[data.validation]
half_a, half_b = data.validation_halves()
frame_ps = 5.0  # the shipped runs keep a frame every 5 ps
lag = max(1, round(system.tica_lag_ps / frame_ps))
tica = fit_tica([data.positions[data.run_index == r] for r in np.unique(data.run_index[data.train])], lag)
native = native_positions(system)
pairs, r0 = native_contacts(native, system.native_contact_cutoff)


def q_of(x):
    \"\"\"Fraction of native contacts of frames x (N, n, 3) nm, shape (N,).\"\"\"
    return fraction_native_contacts(x, pairs, r0)


def scores(x, ref):
    \"\"\"TIC JS and PMF (100 x 100 bins), mean pair-distance JS (|i - j| >= 3), folded share.\"\"\"
    return {**tica.metrics(x, ref), "distance_js": distance_js(x, ref), "folded": float(np.mean(q_of(x) > 0.8))}


q_runs = [q_of(data.positions[data.validation][data.run_index[data.validation] == r])
          for r in np.unique(data.run_index[data.validation])]
ref_rate = np.mean([folding_transitions_per_us(q[:, None], frame_ps) for q in q_runs])
floor = scores(half_a, half_b)
print(f"{len(train)} training frames, {len(reference)} held-out frames; {len(r0)} native contacts; "
      f"TICA lag {lag * frame_ps:g} ps")
print(f"reference: folded {np.mean(q_of(reference) > 0.8):.1%}, {ref_rate:.0f} folding + unfolding transitions per µs")
print(f"floor: TIC JS {floor['js']:.4f}, TIC PMF {floor['pmf']:.3f}, distance JS {floor['distance_js']:.4f}")


def plot_q(q, dt_ps, title):
    \"\"\"Q against time (ns) of frames dt_ps apart, with the folded (0.8) and unfolded (0.3) thresholds.\"\"\"
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.plot(np.arange(1, len(q) + 1) * dt_ps / 1000, q, lw=0.5)
    ax.axhline(0.8, ls="--", c="k", lw=0.8)
    ax.axhline(0.3, ls=":", c="k", lw=0.8)
    ax.set_xlabel("time (ns)")
    ax.set_ylabel("Q")
    ax.set_title(title)
    plt.show()


plot_q(q_runs[0][:2000], frame_ps, "the first 10 ns of a held-out reference run")"""),
    ("md", """## The model: load a run, or train one"""),
    ("code", """if RUN:
    emulator = scoremd.load(RUN)
else:
    small = ["model.hidden=[32, 32]", "train.steps=300", "train.batch_size=256", "train.log_every=100",
             "loss.fp_batch_size=64", "sample.n=4000", "sample.steps=40", "simulate.replicas=20",
             "simulate.frames=80", "simulate.burn_in_frames=10"] if FAST else []
    recipe = "fp" if PROTEIN == "chignolin" else "both"  # BBA has no "fp" preset (yet)
    config = scoremd.load_config(ROOT / "examples" / "configs" / f"{PROTEIN}_{recipe}.toml",
                                 [f"data.dir={ROOT / 'data'}", *small])
    emulator = scoremd.train(config, WORK / recipe, progress=not FAST)
c = emulator.config
experts = list(c.model.expert_boundaries or [])
print(f"{c.model.kind} ({c.model.features}) {list(c.model.hidden)}, "
      + (f"experts split at t = {experts}" if experts else "one network for all t")
      + (f", FP weight {c.loss.fp_weight:g}" if c.loss.fp_weight else ""))"""),
    ("md", """## i.i.d. samples and MD with the learned force

MD: Langevin dynamics (γ = 1/ps, Δt = 10 fs, a frame per 5 ps) of many replicas started
from training frames, with the force F = k_BT · s_θ(x, t₀) of the model at its preset's t₀."""),
    ("code", """iid = emulator.sample(c.sample.n, key=jax.random.PRNGKey(c.sample.seed))  # (n, beads, 3) nm
start = emulator.initial_positions(c.simulate.replicas, seed=c.simulate.seed)
key = jax.random.PRNGKey(c.simulate.seed)
traj = emulator.simulate(start, c.simulate.frames, key=key).frames  # (frames, replicas, beads, 3) nm
md = traj[c.simulate.burn_in_frames:].reshape(-1, *traj.shape[2:])
md_frame_ps = emulator.integrator().dt * c.simulate.steps_per_frame_for(system)
md_rate = folding_transitions_per_us(q_of(traj.reshape(-1, *traj.shape[2:])).reshape(traj.shape[:2]), md_frame_ps)

print(f"{'':8s} {'TIC JS':>8s} {'TIC PMF':>8s} {'dist JS':>8s} {'folded':>7s}")
for name, m in [("i.i.d.", scores(iid, reference)), ("MD", scores(md, reference)), ("floor", floor)]:
    print(f"{name:8s} {m['js']:8.4f} {m['pmf']:8.3f} {m['distance_js']:8.4f} {m['folded']:7.1%}")
print(f"transitions per µs: MD {md_rate:.0f}, reference {ref_rate:.0f} (model time)")"""),
    ("md", """## Free-energy surfaces on the first two TICA components

−log p(TIC1, TIC2) in k_BT. For chignolin TIC1 follows folding (|r| = 0.77 with Q on the
training runs): the folded basin is one end of it. For BBA it follows Q only loosely
(|r| = 0.35), so read BBA's folded share and Q distribution below rather than these surfaces."""),
    ("code", """sets = {"reference": reference, "i.i.d.": iid, "MD": md}
fig, axs = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
extent = [*tica.bounds[0], *tica.bounds[1]]
for ax, (name, x) in zip(axs, sets.items()):
    p = histogram(tica(x), tica.bounds, 100)
    with np.errstate(divide="ignore"):
        f = -np.log(p)
    im = ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=8)
    ax.set_title(name)
    ax.set_xlabel("TIC1")
axs[0].set_ylabel("TIC2")
fig.colorbar(im, ax=axs, label="free energy (k_BT)")
plt.show()"""),
    ("md", """## Structure: Q, RMSD to the native structure, contacts

RMSD after the optimal proper rotation (a mirror image is not a match). The contact maps
are the probability that a pair lies within the native-contact cutoff; the right panel is
the MD's minus the reference's."""),
    ("code", """fig, axs = plt.subplots(1, 2, figsize=(10, 3.2))
q_edges = np.linspace(-0.05, 1.05, len(r0) + 2)
for name, x in sets.items():
    axs[0].hist(q_of(x), bins=q_edges, density=True, histtype="step", label=name)
    axs[1].hist(rmsd_to_native(x, native), bins=80, range=(0, 1.2), density=True, histtype="step", label=name)
axs[0].set_xlabel("Q")
axs[1].set_xlabel("C-alpha RMSD to native (nm)")
axs[0].legend()
plt.show()

maps = {name: contact_map(x, system.native_contact_cutoff) for name, x in sets.items()}
fig, axs = plt.subplots(1, 3, figsize=(11, 3.2))
for ax, name in zip(axs[:2], ["reference", "MD"]):
    im = ax.imshow(maps[name], vmin=0, vmax=1, cmap="viridis")
    ax.set_title(f"{name} contacts")
fig.colorbar(im, ax=axs[:2])
im = axs[2].imshow(maps["MD"] - maps["reference"], vmin=-0.5, vmax=0.5, cmap="RdBu_r")
axs[2].set_title("MD − reference")
fig.colorbar(im, ax=axs[2])
for ax in axs:
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax.set_xlabel("residue index")
plt.show()
print(f"contact-map mean absolute error: i.i.d. {np.nanmean(np.abs(maps['i.i.d.'] - maps['reference'])):.3f}, "
      f"MD {np.nanmean(np.abs(maps['MD'] - maps['reference'])):.3f}")"""),
    ("md", """## Folding and unfolding in one MD replica"""),
    ("code", """plot_q(q_of(traj[:, 0]), md_frame_ps, "replica 0 with the learned force")"""),
    ("md", """## The whole report, and the same on D. E. Shaw Research data

`scoremd evaluate RUN` (or `scoremd.analysis.protein` piece by piece, as above) writes
the report with every number next to its floor. With the all-atom trajectories of the
paper, only the data paths change: the loader reads any mdtraj-readable files with their
topology, keeps the C-alpha atoms, checks every file's atom count against the topology and
holds out whole files:

```toml
[data]
trajectories = ["DESRES-Trajectory_CLN025-0-protein/CLN025-0-protein-*.dcd"]
topology = "DESRES-Trajectory_CLN025-0-protein/CLN025-0-protein.pdb"
frame_ps = 200
```

Here the loader reads two short trajectories written on the spot from the shipped runs
(DCD, Å on disk, nm in memory)."""),
    ("code", """import mdtraj

from scoremd.data.trajectories import load_trajectory_files

top = mdtraj.load(str(ROOT / system.structure)).topology
for k in range(2):
    mdtraj.Trajectory(train[k * 200:(k + 1) * 200], top).save_dcd(str(WORK / f"mine_{k}.dcd"))
mdtraj.Trajectory(native[None], top).save_pdb(str(WORK / "mine.pdb"))
positions, run_index, masses, _ = load_trajectory_files(str(WORK / "mine_*.dcd"), WORK / "mine.pdb", system.cg_map)
print(f"runs {np.unique(run_index).tolist()}, {len(positions)} frames of {positions.shape[1]} beads; "
      f"largest difference from the frames written: {np.abs(positions - train[:400]).max():.1e} nm")"""),
]
