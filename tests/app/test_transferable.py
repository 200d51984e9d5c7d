"""The transferable dipeptide model end to end on tiny reference data made by the test: train on two
training peptides, then sample and simulate a peptide it has never seen; the bad inputs."""

import dataclasses
import json
import tomllib

import jax
import numpy as np
import pytest

from scoremd._errors import ConfigError, DataError
from scoremd.app import load, train
from scoremd.app.config import config_from_dict
from scoremd.data.campaign import DIPEPTIDE_PROTOCOL
from scoremd.data.dipeptides import Dipeptide, peptide_seed
from scoremd.data.openmm import run_reference_md
from scoremd.data.peptide_frames import load_peptide

TRAIN = ("AQ", "LG")  # both from the training pool; LG has a glycine (9 beads)
TINY = dataclasses.replace(DIPEPTIDE_PROTOCOL, frame_interval=0.02, equilibration=0.2)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for seq in TRAIN:
        run_reference_md(root / "dipeptides" / seq / "run_00", 60, structure=Dipeptide(seq), protocol=TINY,
                         seed=peptide_seed(seq), progress=False)
    return root


def _config(data_dir, recipe="both", **data):
    d = tomllib.loads(open(f"examples/configs/dipeptides_{recipe}.toml").read())
    d["data"].update({"dir": str(data_dir), "peptides": ",".join(TRAIN), **data})
    d["model"].update(hidden=[16, 16])
    d["loss"].update(fp_batch_size=8)
    d["train"].update(steps=20, batch_size=16, checkpoint_every=20, log_every=10)
    return config_from_dict(d)


def test_frames_on_slots(data_dir):
    frames = load_peptide(data_dir / "dipeptides", "LG")
    assert frames.positions.shape == (60, 10, 3) and frames.present.tolist() == [True] * 7 + [False] + [True] * 2
    assert np.all(frames.positions[:, 7] == 0) and frames.beads.shape == (60, 9, 3)
    np.testing.assert_allclose(frames.beads.mean(axis=1), 0, atol=1e-6)  # centred on the beads
    # N-CA bond of residue 2 (slots 5, 6), in nm
    assert np.allclose(np.linalg.norm(frames.positions[:, 6] - frames.positions[:, 5], axis=-1), 0.147, atol=0.01)


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    return run, train(_config(data_dir), run, progress=False)


def test_train_then_sample_and_simulate_an_unseen_peptide(trained):
    run, emulator = trained
    assert emulator.peptides == TRAIN and json.loads((run / "run.json").read_text())["n_train"] == 120
    loaded = load(run)
    gn = loaded.peptide("GN")  # a test peptide: never trained on
    x = gn.sample(8, key=jax.random.PRNGKey(0), sampler=gn.sampler(steps=20))
    assert x.shape == (8, 10, 3) and np.isfinite(x).all()
    np.testing.assert_allclose(gn.beads(x).mean(axis=1), 0, atol=1e-5)  # centred on its 9 beads, as the data
    np.testing.assert_allclose(gn.energy(x), emulator.peptide("GN").energy(x), rtol=1e-5)
    aq = loaded.peptide("AQ")
    starts = aq.initial_positions(4, seed=0)
    traj = aq.simulate(starts, 3, key=jax.random.PRNGKey(1), steps_per_frame=2, throw=False)
    assert traj.frames.shape == (3, 4, 10, 3)
    with pytest.raises(DataError, match="not a training peptide"):
        gn.initial_positions(2, seed=0)
    with pytest.raises(ConfigError, match="transferable dipeptide models do not take it"):
        load(run, excluded_volume=True)  # the wall is for C-alpha / fixed-molecule MLPs


@pytest.mark.parametrize("recipe", ["diffusion", "fp"])
def test_the_other_recipes_train_one_network(data_dir, tmp_path, recipe):
    """The diffusion and fp presets: one network for every t (no experts); only fp carries the FP term."""
    config = _config(data_dir, recipe)
    both = _config(data_dir)
    assert config.model.expert_boundaries == () and (config.loss.fp_weight > 0) == (recipe == "fp")
    assert (config.data, config.sample, config.simulate) == (both.data, both.sample, both.simulate)
    emulator = train(config, tmp_path / recipe, progress=False)
    x = emulator.peptide("GN").sample(4, key=jax.random.PRNGKey(0), sampler=emulator.peptide("GN").sampler(steps=10))
    assert x.shape == (4, 10, 3) and np.isfinite(x).all()


def test_bad_inputs(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="held-out test/validation"):
        train(_config(data_dir, peptides="AQ,GN"), tmp_path / "a", progress=False)  # GN is a test peptide
    with pytest.raises(DataError, match="have no reference run.*AA"):
        train(_config(data_dir, peptides="AQ,AA"), tmp_path / "b", progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    broken = tmp_path / "broken"
    (broken / "dipeptides").mkdir(parents=True)
    import shutil

    shutil.copytree(data_dir / "dipeptides" / "AQ", broken / "dipeptides" / "AQ")
    pos = broken / "dipeptides" / "AQ" / "run_00" / "positions.npy"
    pos.write_bytes(pos.read_bytes()[:-12] + b"\0" * 12)
    with pytest.raises(DataError, match="SHA-256"):
        load_peptide(broken / "dipeptides", "AQ")


def test_like_with_like_comparison(data_dir):
    """A model that reproduces the first half of the reference scores exactly the floor; its mirror
    image (phi, psi -> -phi, -psi) lies in other bins, above the floor (this reference is tiny, so
    its floor is high)."""
    from scoremd.analysis.dipeptides import compare_like_with_like
    from scoremd.systems import DIPEPTIDES

    ref = load_peptide(data_dir / "dipeptides", "AQ").positions
    system = DIPEPTIDES.peptide("AQ")
    same = compare_like_with_like(system, ref[:30], ref, None)
    assert same["n"] == 30 and same["js"] == same["floor_js"] and same["bond_w1"] == same["floor_bond_w1"]
    mirror = compare_like_with_like(system, -ref[:30], ref, None)
    assert mirror["js"] > same["floor_js"] and mirror["phi_positive"] != same["phi_positive"]
    assert same["l_share"] == 1.0 and mirror["l_share"] == 0.0  # AQ: two chiral C-alphas, L in the reference
    assert compare_like_with_like(system, ref[:30], ref, 10)["n"] == 10


def test_evaluation_report(data_dir, trained, tmp_path):
    from scoremd.analysis.dipeptides import evaluate_dipeptides, summarise

    emulator = trained[1]
    results = evaluate_dipeptides(emulator, ["LG"], data_dir=data_dir, n_iid=16, replicas=2, frames=3,
                                  key=jax.random.PRNGKey(0), out_dir=tmp_path / "report", progress=False)
    assert results[0].iid["paper"]["n"] == 16 and results[0].md["large"]["n"] == 6
    assert results[0].md_replicas == 2 and results[0].md_diverged == 0 and results[0].iid_nonfinite == 0
    assert results[0].reference_ns == pytest.approx(60 * 0.02 / 1000)
    assert results[0].seen_in_training  # LG is a training peptide here: the report marks it
    assert summarise(results, "paper")["iid_js"][1] == 0.0
    for name in ("dipeptides.json", "dipeptides.md", "ramachandran.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    report = (tmp_path / "report" / "dipeptides.md").read_text()
    assert "| LG * |" in report and "not held out (LG)" in report
    with pytest.raises(ValueError, match="burn_in_frames"):
        evaluate_dipeptides(emulator, ["LG"], data_dir=data_dir, n_iid=16, replicas=2, frames=3, burn_in_frames=3,
                            key=jax.random.PRNGKey(0), progress=False)


def test_glycine_md_counts_divergence_on_its_beads(trained):
    """A glycine's empty CB slot is tied to the origin, not to the molecule: MD measures divergence
    on the nine beads alone, so a peptide far from the origin is not flagged."""
    gn = trained[1].peptide("GN")
    integrator = gn.integrator()
    assert integrator.particles == tuple(i != 2 for i in range(10))  # G is residue 1: no CB in slot 2
    x = np.asarray(gn.sample(2, key=jax.random.PRNGKey(0), sampler=gn.sampler(steps=20)))
    far = x.copy()
    far[:, gn.bead_mask] += 3 * gn.position_limit  # the molecule far away, its empty slot near the origin
    traj = gn.simulate(far, 2, key=jax.random.PRNGKey(1), steps_per_frame=1, throw=False)
    assert not traj.diverged.any()


def test_cli(trained, tmp_path, capsys):
    from scoremd.app.cli import main

    run, _ = trained
    assert main(["--quiet", "sample", str(run), "--n", "4", "--out", str(tmp_path / "s.npy"), "--peptide", "GN",
                 "--steps", "10"]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 10, 3)
    # PDB/XTC hold the peptide's own beads: GN has no CB in its glycine, so 9 atoms named as in the topology
    assert main(["--quiet", "sample", str(run), "--n", "4", "--out", str(tmp_path / "s.xtc"), "--peptide", "GN",
                 "--steps", "10", "--seed", "0"]) == 0
    import mdtraj

    traj = mdtraj.load(str(tmp_path / "s.xtc"), top=str(tmp_path / "s.pdb"))
    assert traj.n_atoms == 9 and [a.name for a in traj.topology.residue(0).atoms] == ["N", "CA", "C", "O"]
    assert traj.topology.n_bonds == 8 and [r.name for r in traj.topology.residues] == ["GLY", "ASN"]
    assert main(["--quiet", "sample", str(run), "--n", "4", "--out", str(tmp_path / "t.npy")]) == 2
    assert main(["--quiet", "simulate", str(run), "--replicas", "2", "--frames", "2", "--peptide", "GN",
                 "--out", str(tmp_path / "m.npy")]) == 2
    assert main(["--quiet", "evaluate", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--peptide" in err and "--start iid" in err and "examples/dipeptides.py" in err
    assert not (tmp_path / "t.npy").exists() and not (tmp_path / "m.npy").exists()


def test_example_script(data_dir, tmp_path, capsys):
    """examples/dipeptides.py end to end on the tiny data: train, evaluate the peptides with a reference."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("dipeptides_example", "examples/dipeptides.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert [example.config_path(r).exists() for r in example.RECIPES] == [True] * 3
    with pytest.raises(SystemExit):  # a recipe or a config file, not both
        example.main(["--out", str(tmp_path / "x"), "--recipe", "fp", "--config", "examples/configs/dipeptides_both.toml"])
    assert "not both" in capsys.readouterr().err and not (tmp_path / "x").exists()
    args = ["--out", str(tmp_path / "run"), "--peptides", "LG,GN", "--n-iid", "8", "--replicas", "2",
            "--frames", "2", "--set", f"data.dir={data_dir}", "--set", f"data.peptides={','.join(TRAIN)}",
            "--set", "model.hidden=[8]", "--set", "train.steps=4", "--set", "train.batch_size=8",
            "--set", "loss.fp_batch_size=4", "--set", "train.checkpoint_every=4", "--set", "train.log_every=2"]
    example.main(args)
    out = capsys.readouterr().out
    assert "no reference yet for GN" in out and "| LG * |" in out  # LG is a training peptide: marked
    assert (tmp_path / "run" / "report" / "ramachandran.png").exists()
    report = (tmp_path / "run" / "report" / "dipeptides.md").read_text()
    example.main([*args, "--report", "validation_report"])  # the trained run, evaluated again elsewhere
    assert (tmp_path / "run" / "validation_report" / "dipeptides.md").exists()
    assert (tmp_path / "run" / "report" / "dipeptides.md").read_text() == report  # untouched


def test_report_means_leave_training_peptides_out_and_split_glycine():
    from scoremd.analysis.dipeptides import PeptideResult, report_markdown

    def result(seq, js, seen=False):
        row = dict(n=10, js=js, floor_js=0.1, pmf=1.0, floor_pmf=0.5, bond_w1=0.01, floor_bond_w1=0.001,
                   phi_positive=0.0)
        return PeptideResult(seq, 2.0, 0.0, {"paper": row, "large": row}, {"paper": row, "large": row},
                             md_replicas=4, seen_in_training=seen)

    text = report_markdown([result("KS", 0.2), result("AT", 0.4), result("GN", 0.6), result("LL", 9.0, seen=True)])
    assert "Mean ± sd over 3 held-out peptides (m differs between peptides): i.i.d. JS 0.4000 ± 0.1633" in text
    assert "over 2 held-out peptides without glycine (m differs between peptides): i.i.d. JS 0.3000 ± 0.1000" in text
    assert "| KS | 2.0 | 10 / 10 |" in text and "| n/a / n/a | 0 / 4 |" in text  # no l_share in these rows
    assert "over 1 held-out glycine peptides (GN) (m differs between peptides): i.i.d. JS 0.6000 ± 0.0000" in text
    assert "| LL * |" in text and "the means leave them out" in text
    # without glycine peptides there is no split
    assert "without glycine" not in report_markdown([result("KS", 0.2), result("AT", 0.4)])


def test_ramachandran_grid_puts_three_peptides_per_row(data_dir, tmp_path, monkeypatch):
    import matplotlib.image

    from scoremd.analysis import _plots
    from scoremd.analysis._plots import plot_ramachandran_grid
    from scoremd.systems import get_system

    figures, save = [], _plots._save
    monkeypatch.setattr(_plots, "_save", lambda fig, *a, **k: (figures.append(fig), save(fig, *a, **k)))

    ref = load_peptide(data_dir / "dipeptides", "LG").positions
    names = ("LG", "KS", "AT", "GN", "KQ")
    systems = {p: get_system("dipeptides").peptide(p) for p in names}
    sets = {p: {"reference": ref, "i.i.d.": ref[::2], "MD": ref[:0]} for p in names}
    plot_ramachandran_grid(tmp_path / "five.png", systems, sets)
    plot_ramachandran_grid(tmp_path / "two.png", {p: systems[p] for p in names[:2]},
                           {p: sets[p] for p in names[:2]})
    h5, w5 = matplotlib.image.imread(tmp_path / "five.png").shape[:2]
    h2, w2 = matplotlib.image.imread(tmp_path / "two.png").shape[:2]
    assert w5 > 2.5 * w2 and h5 == pytest.approx(h2, rel=0.15)  # 2 rows of 3 x 3 panels; 2 rows of 1 x 3
    # every column has its phi axis under its lowest panel: above the empty blocks of the last row too
    axes = np.array(figures[0].axes[:18]).reshape(2, 9)
    assert [ax.get_xlabel() for ax in axes[1, :6]] == ["phi (rad)"] * 6
    assert [ax.get_xlabel() for ax in axes[0, 6:]] == ["phi (rad)"] * 3 and axes[0, 0].get_xlabel() == ""
    assert axes[0, 6].xaxis.get_tick_params()["labelbottom"] and not axes[0, 0].xaxis.get_tick_params()["labelbottom"]
