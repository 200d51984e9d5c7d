"""Cells of notebooks/dipeptides.ipynb, written by make_notebooks.py."""

DIPEPTIDES = [
    ("md", """# Transferable dipeptides: one energy model, a peptide it has never seen

One conditional energy network E_θ(x, t | amino acids) is trained on the reference MD of
many dipeptides at once (the training pool of the benchmark; `data/dipeptides/`, made by
`scoremd data generate dipeptides`). Each peptide is coarse-grained to ten slots, the
atoms N, CA, CB, C, O of both residues (a glycine's CB slot is absent and follows an exact
Gaussian that is thrown away). This notebook

1. loads a trained model (set `SCOREMD_RUN` to a run directory written by
   `python examples/dipeptides.py --out runs/dipeptides_both`) or trains one,
2. draws i.i.d. samples and runs Langevin MD of a **test peptide that was never in the
   training set**, compares both with that peptide's reference MD next to the floor
   (two halves of the reference at the same sample size),
3. shows the sampled conformations in a 3-D viewer (py3Dmol).

With `SCOREMD_FAST=1` it trains a tiny model on six training peptides in about a minute
(what the test suite runs); its numbers say nothing about the method."""),
    ("code", """import os
import tempfile
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import mdtraj
import numpy as np
import py3Dmol

import scoremd
from scoremd.analysis.dipeptides import compare_like_with_like
from scoremd.data.dipeptides import EVALUATION, resolve_peptides
from scoremd.data.peptide_frames import available_peptides, load_peptide
from scoremd.geometry import dihedral_angles

FAST = os.environ.get("SCOREMD_FAST", "0") == "1"
ROOT = Path(os.environ.get("SCOREMD_ROOT", ".."))  # the repository (notebooks/ lives in it)
RUN = os.environ.get("SCOREMD_RUN")
CAMPAIGN = ROOT / "data" / "dipeptides"
WORK = Path(tempfile.mkdtemp(prefix="scoremd_dipeptides_"))
have = available_peptides(CAMPAIGN)
print(f"{len(have)} dipeptides with reference MD in {CAMPAIGN}")"""),
    ("md", """## The model: load a run, or train one

The preset `examples/configs/dipeptides_both.toml` (mixture of three experts over diffusion
time, the Fokker–Planck residual on the small-t expert) trains on `train:100`, the first
100 peptides of the training pool; test and validation peptides are refused as training
data. `scoremd.train` writes the run directory; `scoremd.load` reads it back."""),
    ("code", """if RUN is None:
    small = ["data.peptides=" + ",".join(resolve_peptides("train:100")[:6]), "data.max_ns=0.5",
             "model.hidden=[64, 64]", "train.steps=200", "train.batch_size=128", "train.log_every=100",
             "train.checkpoint_every=200", "loss.fp_batch_size=32"] if FAST else []
    config = scoremd.load_config(ROOT / "examples" / "configs" / "dipeptides_both.toml",
                                 [f"data.dir={ROOT / 'data'}", *small])
    scoremd.train(config, WORK / "both", progress=not FAST)
    RUN = WORK / "both"
model = scoremd.load(RUN)
print(f"trained on {len(model.peptides)} peptides: {', '.join(model.peptides[:10])}{' ...' if len(model.peptides) > 10 else ''}")"""),
    ("md", """## An unseen peptide

`model.peptide(seq)` gives an ordinary emulator of any dipeptide: sampling, MD, energies,
all on the ten slots in nm. The peptide is a test peptide of the benchmark, so no
training step has seen it."""),
    ("code", """PEPTIDE = os.environ.get("SCOREMD_PEPTIDE") or next(p for p in EVALUATION if p in have)
assert PEPTIDE not in model.peptides
emulator = model.peptide(PEPTIDE)
reference = load_peptide(CAMPAIGN, PEPTIDE).positions  # (N, 10, 3) nm, 1 ps apart
n_iid, replicas, frames = (2000, 20, 50) if FAST else (50000, 100, 500)
iid = emulator.sample(n_iid, key=jax.random.PRNGKey(0))  # (n, 10, 3) nm
traj = emulator.simulate(iid[:replicas], frames, key=jax.random.PRNGKey(1)).frames  # MD from i.i.d. starts
md = traj.reshape(-1, 10, 3)
print(f"{PEPTIDE}: reference {len(reference)} frames ({len(reference) / 1000:.1f} ns); "
      f"{len(iid)} i.i.d. samples; MD {replicas} replicas x {frames} frames")
print(f"{'':8s} {'n':>6s} {'JS':>8s} {'floor':>8s} {'PMF':>8s} {'floor':>8s} {'phi>0':>6s}")
for name, x in [("i.i.d.", iid), ("MD", md)]:
    m = compare_like_with_like(emulator.system, x, reference, 50000)  # the paper's protocol, capped at 50 000
    print(f"{name:8s} {m['n']:6d} {m['js']:8.4f} {m['floor_js']:8.4f} {m['pmf']:8.3f} {m['floor_pmf']:8.3f} "
          f"{m['phi_positive']:6.3f}")"""),
    ("md", """The floor is the same metric between the two halves of the reference at the same
sample size: with a short reference it is large, and no model can be shown to be
closer than it.

## Ramachandran free-energy surfaces

−log p(φ, ψ) in k_BT (φ = C₁–N₂–CA₂–C₂, ψ = N₁–CA₁–C₁–N₂)."""),
    ("code", """system = emulator.system
fig, axs = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
for ax, (name, x) in zip(axs, [("reference", reference), ("i.i.d.", iid), ("MD", md)]):
    p = scoremd.analysis.histogram(dihedral_angles(x, system.dihedrals), system.metric_bounds, 48)
    with np.errstate(divide="ignore"):
        f = -np.log(p)
    im = ax.imshow((f - f[np.isfinite(f)].min()).T, origin="lower", extent=[-np.pi, np.pi, -np.pi, np.pi], vmin=0, vmax=8)
    ax.set_title(f"{PEPTIDE}: {name}")
    ax.set_xlabel("φ (rad)")
axs[0].set_ylabel("ψ (rad)")
fig.colorbar(im, ax=axs, label="free energy (k_BT)")
plt.show()"""),
    ("md", """## The samples in 3-D

`emulator.beads(x)` keeps the peptide's own beads (it drops a glycine's absent CB slot)
and `emulator.topology()` names them, so the samples are an ordinary mdtraj trajectory:
save it as PDB/XTC, or view it. Use the arrows of the viewer's animation (or drag) to look
at the twelve conformations one after the other."""),
    ("code", """samples = mdtraj.Trajectory(emulator.beads(iid[:12]), emulator.topology())
samples.superpose(samples, 0)
pdb = WORK / f"{PEPTIDE}_samples.pdb"
samples.save_pdb(str(pdb))
view = py3Dmol.view(width=480, height=360)
view.addModelsAsFrames(pdb.read_text(), "pdb")
view.setStyle({"stick": {"radius": 0.25}, "sphere": {"scale": 0.3}})
view.animate({"loop": "forward", "interval": 600})
view.zoomTo()
view.show()
print(f"{samples.n_frames} samples of {PEPTIDE}, {samples.n_atoms} beads each, written to {pdb}")"""),
    ("md", """## Next

* `python examples/dipeptides.py --out runs/dipeptides_both` trains the preset and evaluates
  every test peptide that has reference MD (both protocols, floors, a Ramachandran grid).
* `scoremd sample RUN --peptide GN --n 1000 --out gn.xtc` writes samples of any dipeptide
  as a trajectory (with `gn.pdb` beside it)."""),
]
