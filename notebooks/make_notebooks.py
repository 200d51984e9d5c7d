"""Write the tutorial notebooks (without outputs) from the cell sources below (and the *_cells.py files).

    python notebooks/make_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dipeptides_cells import DIPEPTIDES  # the transferable-model tutorial's cells (notebooks/)
from fast_folders_cells import FAST_FOLDERS  # the C-alpha protein tutorial's cells (notebooks/)

MUELLER_BROWN = [
    ("md", """# Müller–Brown: sampling and simulating with one energy-based diffusion model

This tutorial trains two energy-based diffusion models on the two-dimensional
Müller–Brown potential (k_BT = 23) and uses each of them twice:

1. as an **i.i.d. sampler** (integrating the reverse diffusion from noise), and
2. as a **force field** at diffusion time t₀ ≈ 0 for Langevin dynamics.

The first model is trained with plain denoising score matching, the second adds
the **Fokker–Planck regulariser** of Plainer et al. (NeurIPS 2025), which keeps
the energy at small diffusion times consistent with the diffusion. We compare
both against the exact Boltzmann density.

Set `SCOREMD_FAST=1` to run everything in about a minute with tiny settings
(the test suite does); the full settings take about 20 minutes on 2 CPU cores."""),
    ("code", """import os
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import scoremd
from scoremd.analysis import compare_to_reference, histogram
from scoremd.analysis import fp_error_vs_time

FAST = os.environ.get("SCOREMD_FAST", "0") == "1"
ROOT = Path(os.environ.get("SCOREMD_ROOT", ".."))  # the repository (notebooks/ lives in it)
CONFIGS = ROOT / "examples" / "configs"
WORK = Path(tempfile.mkdtemp(prefix="scoremd_mb_"))
# Tiny settings for a smoke run; the full ones are the example configs unchanged.
small = ["model.hidden=[32, 32]", "train.steps=150", "train.log_every=50", "sample.n=4000",
         "sample.steps=20", "simulate.replicas=100", "simulate.frames=30", "simulate.burn_in_frames=5",
         "loss.fp_batch_size=64", "train.batch_size=256"] if FAST else []
common = [f"data.dir={ROOT / 'data'}"] + small"""),
    ("md", """## The system and its data

The training data are Langevin runs on the true potential (shipped in
`data/mueller_brown/`, regenerated bit-for-bit by `scoremd data toy mueller_brown`).
The exact density exp(−U/k_BT) on a fine grid is the reference for every metric."""),
    ("code", """system = scoremd.get_system("mueller_brown")
data = np.load(ROOT / "data" / "mueller_brown" / "positions.npy")
ref_js, ref_pmf = system.bin_probabilities(system.js_bins), system.bin_probabilities(system.pmf_bins)
print(data.shape, "training frames;", compare_to_reference(data, ref_js, ref_pmf, system.metric_bounds))

extent = [*system.metric_bounds[0], *system.metric_bounds[1]]
fig, axs = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
for ax, (name, p) in zip(axs, [("exact", ref_js), ("training data", histogram(data, system.metric_bounds, 100))]):
    with np.errstate(divide="ignore"):
        f = -np.log(p)
    ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10)
    ax.set_title(name)
plt.show()"""),
    ("md", """## Train: plain diffusion and diffusion + Fokker–Planck

Both configs live in `examples/configs/`. `scoremd.train` writes checkpoints,
metrics and the resolved config into the run directory; calling it again resumes."""),
    ("code", """models = {}
for recipe in ("diffusion", "fp"):
    config = scoremd.load_config(CONFIGS / f"mueller_brown_{recipe}.toml", common)
    models[recipe] = scoremd.train(config, WORK / recipe, progress=not FAST)
    print(recipe, "trained:", config.train.steps, "steps")"""),
    ("md", """## Sample i.i.d. and simulate

The i.i.d. sampler integrates the probability-flow ODE from noise. The MD uses the
learned force F = −∇U_θ at t₀ = 1e-5 with the paper's settings
(m = 0.5, γ = 1, Δt = 5e-3, a frame every 50 steps), replicas starting from
training frames."""),
    ("code", """results, draws = {}, {}
for recipe, emulator in models.items():
    c = emulator.config
    iid = emulator.sample(c.sample.n, key=jax.random.PRNGKey(1))
    start = emulator.initial_positions(c.simulate.replicas, seed=2)
    traj = emulator.simulate(start, c.simulate.frames, key=jax.random.PRNGKey(2)).frames
    md = traj[c.simulate.burn_in_frames:].reshape(-1, 2)
    draws[recipe] = {"i.i.d.": iid, "MD": md}
    results[recipe] = {k: compare_to_reference(v, ref_js, ref_pmf, system.metric_bounds) for k, v in draws[recipe].items()}
floor = compare_to_reference(system.exact_samples(len(iid), seed=0), ref_js, ref_pmf, system.metric_bounds)
print(f"{'recipe':10s} {'iid JS':>8s} {'sim JS':>8s} {'iid PMF':>8s} {'sim PMF':>8s}")
for recipe, r in results.items():
    print(f"{recipe:10s} {r['i.i.d.']['js']:8.4f} {r['MD']['js']:8.4f} {r['i.i.d.']['pmf']:8.4f} {r['MD']['pmf']:8.4f}")
print(f"{'floor':10s} {floor['js']:8.4f} {'':8s} {floor['pmf']:8.4f}")"""),
    ("code", """fig, axs = plt.subplots(2, 3, figsize=(11, 6.4), sharex=True, sharey=True)
n = 120
grid = np.stack(np.meshgrid(*[np.linspace(lo, hi, n) for lo, hi in system.metric_bounds], indexing="ij"), -1).reshape(-1, 2)
for row, (recipe, emulator) in zip(axs, models.items()):
    for ax, (name, x) in zip(row[:2], draws[recipe].items()):
        with np.errstate(divide="ignore"):
            f = -np.log(histogram(x, system.metric_bounds, 100))
        ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10)
        ax.set_title(f"{recipe}: {name}")
    e = np.asarray(emulator.energy(grid)) / system.kbt
    row[2].imshow((e - e.min()).reshape(n, n).T, origin="lower", extent=extent, aspect="auto", vmin=0, vmax=10)
    row[2].set_title(f"{recipe}: learned U(t0)/k_BT")
plt.tight_layout()
plt.show()"""),
    ("md", """## Why the Fokker–Planck term helps: the residual against diffusion time

The residual r(x, t) = ∂ₜ log q − ½β(∇·s + ‖s‖² + x·s + D) vanishes for any
family of densities that really is one diffusion (up to an x-independent drift of
the energy's offset, which no score sees: hence its variance over x is plotted).
Plain score matching leaves it large at small t, exactly where the MD force comes from."""),
    ("code", """fig, ax = plt.subplots(figsize=(6, 3.5))
for recipe, emulator in models.items():
    curve = fp_error_vs_time(emulator, data, n=256, n_times=10)
    ax.loglog(curve["t"], np.abs(curve["value"]), "o-", label=recipe)
ax.set_xlabel("diffusion time t")
ax.set_ylabel("Var_x r / D²")
ax.legend()
plt.show()"""),
    ("md", """## Next

* `scoremd run examples/configs/mueller_brown_both.toml --out runs/mb_both` trains
  the mixture of experts with the Fokker–Planck term on the small-t expert and
  writes a full report.
* `python examples/mueller_brown_consistency.py` runs all four recipes over three
  seeds and writes the paper-style table."""),
]

ALANINE_DIPEPTIDE = [
    ("md", """# Alanine dipeptide: a coarse-grained energy model for i.i.d. sampling and MD

Alanine dipeptide (ACE-ALA-NME) is coarse-grained to its five backbone atoms
C, N, CA, C, N. One energy network E_θ(x, t) is trained on OpenMM reference MD
(amber99sbildn + OBC implicit solvent, 300 K, shipped in `data/alanine_dipeptide/`);
its score draws i.i.d. conformations, and at t₀ ≈ 0 its force
F = (k_BT/s)·s_θ(x/s, t₀) (kJ/mol/nm) drives Langevin dynamics of the beads
(γ = 1/ps, Δt = 2 fs, bead masses from the mapped atoms).

This notebook loads a trained run (set `SCOREMD_RUN` to its directory, e.g. one
written by `scoremd run examples/configs/alanine_dipeptide_both.toml --out runs/aldp_both`)
or trains the CPU preset (about 15 minutes on 2 cores). With `SCOREMD_FAST=1` it
trains a tiny model in about a minute (what the test suite runs)."""),
    ("code", """import os
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import mdtraj
import numpy as np

import scoremd
from scoremd.analysis import bond_w1, dihedral_metrics
from scoremd.data import load_molecular_data
from scoremd.geometry import dihedral_angles
from scoremd.storage import write_positions

FAST = os.environ.get("SCOREMD_FAST", "0") == "1"
ROOT = Path(os.environ.get("SCOREMD_ROOT", ".."))  # the repository (notebooks/ lives in it)
RUN = os.environ.get("SCOREMD_RUN")
WORK = Path(tempfile.mkdtemp(prefix="scoremd_aldp_"))
system = scoremd.get_system("alanine_dipeptide")
print(f"k_BT = {system.kbt:.3f} kJ/mol at {system.temperature} K; beads: {system.cg_map}")"""),
    ("md", """## Reference data

Four independent OpenMM runs; the first two train the model, the last two are
held out whole (`[data] held_out = "runs"`; `"time"` holds out the last half of
every run instead). The floor is the same metric between two independent halves
of the held-out frames (here, one held-out run against the other): no model can
be shown to be closer to the truth than that."""),
    ("code", """data = load_molecular_data(system, ROOT / "data")
reference = data.positions[data.validation]
half_a, half_b = data.validation_halves()
floor = dihedral_metrics(system, half_a, half_b)
print(f"{len(data.train)} training frames, {len(reference)} held-out frames")
print(f"floor: JS {floor['js']:.4f}, PMF {floor['pmf']:.3f}")"""),
    ("md", """## The model: load a run, or train one"""),
    ("code", """if RUN:
    emulator = scoremd.load(RUN)
else:
    small = ["model.hidden=[64, 64]", "train.steps=400", "train.batch_size=256", "train.log_every=100",
             "loss.fp_batch_size=64", "sample.n=5000", "simulate.replicas=20", "simulate.frames=100",
             "simulate.burn_in_frames=10"] if FAST else []
    config = scoremd.load_config(ROOT / "examples" / "configs" / "alanine_dipeptide_both.toml",
                                 [f"data.dir={ROOT / 'data'}", *small])
    emulator = scoremd.train(config, WORK / "both", progress=not FAST)
c = emulator.config
print(f"{c.model.kind} ({c.model.features}) {list(c.model.hidden)}; scale s = {emulator.scale:.4f} nm")"""),
    ("md", """## i.i.d. samples and MD with the learned force

The preset draws i.i.d. samples by sequential Monte Carlo (`c.sample.method == "smc"`): the
reverse SDE's particles weighted by the model's energies and resampled, so that they follow
the same density exp(−E) the MD samples; `emulator.sampler(method="sde")` is the plain
reverse SDE."""),
    ("code", """iid = emulator.sample(c.sample.n, key=jax.random.PRNGKey(c.sample.seed))
start = emulator.initial_positions(c.simulate.replicas, seed=c.simulate.seed)
traj = emulator.simulate(start, c.simulate.frames, key=jax.random.PRNGKey(c.simulate.seed)).frames  # (frames, replicas, 5, 3) nm
md = traj[c.simulate.burn_in_frames:].reshape(-1, 5, 3)
print(f"{'':10s} {'JS':>8s} {'PMF':>8s} {'bond W1 (nm)':>13s}")
for name, x in [("i.i.d.", iid), ("MD", md), ("floor", half_a)]:
    ref = half_b if name == "floor" else reference
    m = dihedral_metrics(system, x, ref)
    print(f"{name:10s} {m['js']:8.4f} {m['pmf']:8.3f} {np.mean(bond_w1(system, x, ref)):13.2e}")"""),
    ("md", """## Ramachandran free-energy surfaces

−log p(φ, ψ) in k_BT of the held-out reference, the i.i.d. samples and the MD frames."""),
    ("code", """fig, axs = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
for ax, (name, x) in zip(axs, [("reference", reference), ("i.i.d.", iid), ("MD", md)]):
    p = scoremd.analysis.histogram(dihedral_angles(x, system.dihedrals), system.metric_bounds, 64)
    with np.errstate(divide="ignore"):
        f = -np.log(p)
    im = ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi], vmin=0, vmax=8)
    ax.set_title(name)
    ax.set_xlabel("φ (rad)")
axs[0].set_ylabel("ψ (rad)")
fig.colorbar(im, ax=axs, label="free energy (k_BT)")
plt.show()

fig, ax = plt.subplots(figsize=(6, 3.2))
edges = np.linspace(-np.pi, np.pi, 61)
for name, x in [("reference", reference), ("i.i.d.", iid), ("MD", md)]:
    p, _ = np.histogram(dihedral_angles(x, system.dihedrals)[:, 0], bins=edges, density=True)
    with np.errstate(divide="ignore"):
        ax.plot(0.5 * (edges[1:] + edges[:-1]), -np.log(p) - np.nanmin(-np.log(p)), label=name)
ax.set_xlabel("φ (rad)")
ax.set_ylabel("F(φ) (k_BT)")
ax.legend()
plt.show()"""),
    ("md", """## An MD trajectory

The dihedrals of one replica against time, and the trajectory written as XTC with
its coarse-grained topology PDB, which mdtraj, VMD and PyMOL open."""),
    ("code", """spf = c.simulate.steps_per_frame or system.steps_per_frame
dt = c.simulate.dt or system.dt
time_ps = np.arange(1, traj.shape[0] + 1) * spf * dt
angles = dihedral_angles(traj[:, 0], system.dihedrals)
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(time_ps, angles[:, 0], ".", ms=2, label="φ")
ax.plot(time_ps, angles[:, 1], ".", ms=2, label="ψ")
ax.set_xlabel("time (ps)")
ax.set_ylabel("angle (rad)")
ax.legend()
plt.show()

written = write_positions(WORK / "replica0.xtc", traj[:, 0], emulator.topology())
loaded = mdtraj.load(str(written[0]), top=str(written[1]))
print(loaded, "| phi/psi from mdtraj agree:",
      np.allclose(mdtraj.compute_dihedrals(loaded, [system.dihedrals[0]])[:, 0], angles[:, 0], atol=1e-2))"""),
    ("md", """## The learned force field in OpenMM

`scoremd.to_openmm` turns the model into an OpenMM `Topology` and `System` (bead masses,
one `PythonForce` evaluating the jitted model). Any OpenMM integrator, reporter or extra
force works with it; here a `LangevinMiddleIntegrator` at the training temperature writes
a DCD file, which mdtraj reads back."""),
    ("code", """import openmm
from openmm import app, unit

cg = scoremd.to_openmm(emulator)
integrator = openmm.LangevinMiddleIntegrator(cg.temperature * unit.kelvin, 1 / unit.picosecond, 0.002 * unit.picoseconds)
simulation = app.Simulation(cg.topology, cg.system, integrator, openmm.Platform.getPlatformByName("Reference"))
simulation.context.setPositions(cg.positions)
simulation.context.setVelocitiesToTemperature(cg.temperature * unit.kelvin, 1)
simulation.reporters.append(app.DCDReporter(str(WORK / "openmm_learned.dcd"), 50))
simulation.step(2000 if FAST else 50_000)
omm = mdtraj.load(str(WORK / "openmm_learned.dcd"), top=str(written[1]))
print(omm, "| phi range (rad):", np.ptp(mdtraj.compute_dihedrals(omm, [system.dihedrals[0]])).round(2))"""),
    ("md", """## Metropolis-adjusted sampling of the learned energy

MD at a finite time step samples a slightly biased density; MALA and HMC (BlackJAX) on the same
energy remove that bias. Starting the chains from i.i.d. samples is "diffuse, then correct"."""),
    ("code", """chains = emulator.mcmc(iid[:200], 20, key=jax.random.PRNGKey(5), method="hmc", steps_per_frame=5, n_warmup=200)
print(f"HMC: step {chains.step_size:.4f} ps, acceptance {chains.acceptance_rate:.2f}, ESS {chains.ess:.0f}")
m = dihedral_metrics(system, chains.frames.reshape(-1, 5, 3), reference)
print(f"HMC frames: JS {m['js']:.4f}, PMF {m['pmf']:.3f} against the held-out reference")"""),
]


def build(cells):
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells]
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k:02d}"  # fixed ids: rewriting the notebooks changes only what changed
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    here = Path(__file__).parent
    nbformat.write(build(MUELLER_BROWN), here / "mueller_brown.ipynb")
    nbformat.write(build(ALANINE_DIPEPTIDE), here / "alanine_dipeptide.ipynb")
    nbformat.write(build(DIPEPTIDES), here / "dipeptides.ipynb")
    nbformat.write(build(FAST_FOLDERS), here / "fast_folders.ipynb")
