"""Coarse-grained alanine dipeptide end to end on a tiny OpenMM reference: data, physical units,
output formats, evaluation report, and bad input."""

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import mdtraj
import numpy as np
import pytest

from scoremd import CheckpointError, DataError
from scoremd.analysis import bond_w1, dihedral_metrics, iid_sample_floor, md_frames, md_protocol_floor, phi_positive
from scoremd.analysis._text import force_field_text, sampler_text
from scoremd.app.cli import main
from scoremd.app.config import load_config
from scoremd.diffusion import LossConfig, training_loss
from scoremd.data import load_molecular_data
from scoremd.systems import ALANINE_DIPEPTIDE
from scoremd.geometry import dihedral_angles
from scoremd.data.openmm import MDProtocol, generate_runs
from scoremd.units import kbt
from scoremd.app import load

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "alanine_dipeptide_diffusion.toml"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Two 40-frame reference runs (a frame per 0.1 ps) in DATA/alanine_dipeptide."""
    root = tmp_path_factory.mktemp("data")
    protocol = MDProtocol(timestep=0.002, constraints="hbonds", frame_interval=0.1, equilibration=1.0)
    generate_runs(root / "alanine_dipeptide", 2, 40, protocol=protocol, processes=1, progress=False)
    return root


def _tiny(data_dir):
    return [
        f"data.dir={data_dir}", "model.hidden=[32, 32]", "train.steps=300", "train.batch_size=64",
        "train.warmup_steps=10", "train.log_every=100", "train.checkpoint_every=300", "sample.n=200",
        "sample.steps=40", "sample.method=sde", "simulate.replicas=4", "simulate.frames=6",
        "simulate.burn_in_frames=1", "simulate.steps_per_frame=20", "simulate.dt=0.001",
    ]


def _sets(items):
    return [x for item in items for x in ("--set", item)]


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "aldp"
    assert main(["--quiet", "run", str(CONFIG), "--out", str(out), *_sets(_tiny(data_dir))]) == 0
    return out


def test_reference_is_coarse_grained_centred_and_split(data_dir):
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir)
    assert data.positions.shape == (80, 5, 3)
    np.testing.assert_allclose(data.positions.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(data.masses, [12.011, 14.007, 12.011, 12.011, 14.007], atol=0.01)
    # By default the second run is held out whole; its halves in time make the floor.
    assert data.train.tolist() == [*range(0, 40)] and data.validation.tolist() == [*range(40, 80)]
    a, b = data.validation_halves()
    np.testing.assert_array_equal(a, data.positions[40:60])
    np.testing.assert_array_equal(b, data.positions[60:80])
    # held_out="time": the last half of every run is held out, and the halves of the floor are the two runs.
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir, "time")
    assert data.validation.tolist() == [*range(20, 40), *range(60, 80)]
    assert data.train.tolist() == [*range(0, 20), *range(40, 60)]
    a, b = data.validation_halves()
    np.testing.assert_array_equal(a, data.positions[20:40])
    np.testing.assert_array_equal(b, data.positions[60:80])
    # CG bond lengths are the all-atom ones (C-N ~0.133 nm, N-CA ~0.146 nm).
    bonds = np.linalg.norm(np.diff(data.positions, axis=1), axis=-1).mean(axis=0)
    np.testing.assert_allclose(bonds, [0.134, 0.146, 0.153, 0.134], atol=0.01)


def test_training_frames_follow_the_configured_split(data_dir):
    from scoremd import ConfigError
    from scoremd.app import load_training_data

    for held_out in ("runs", "time"):
        config = load_config(CONFIG, [f"data.dir={data_dir}", f"data.held_out={held_out}"])
        data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir, held_out)
        np.testing.assert_array_equal(load_training_data(config, progress=False), data.positions[data.train])
    with pytest.raises(ConfigError, match="held_out"):
        load_config(CONFIG, ["data.held_out=frames"])


def test_reference_splits_score_every_way_to_hold_out_runs(data_dir, capsys):
    from scoremd.analysis import reference_splits

    result = reference_splits(ALANINE_DIPEPTIDE, data_dir)
    assert [r["frames"] for r in result["runs"]] == [40, 40]
    assert all(0 <= r["phi_positive"] <= 1 for r in result["runs"])
    by_held = {str(sp["held_out_runs"]): sp for sp in result["splits"]}
    assert set(by_held) == {"[0]", "[1]", "time"} and by_held["[1]"]["default"] and not by_held["[0]"]["default"]
    for held_out, key in (("runs", "[1]"), ("time", "time")):
        data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir, held_out)
        expected = dihedral_metrics(ALANINE_DIPEPTIDE, data.positions[data.train], data.positions[data.validation])
        assert by_held[key]["js"] == pytest.approx(expected["js"], rel=1e-12)
        assert by_held[key]["floor_js"] == pytest.approx(
            dihedral_metrics(ALANINE_DIPEPTIDE, *data.validation_halves())["js"], rel=1e-12)
    # Holding out run 0 instead of run 1 swaps the two sets: the same JS.
    assert by_held["[0]"]["js"] == pytest.approx(by_held["[1]"]["js"], rel=1e-9)
    assert main(["data", "splits", "alanine_dipeptide", "--dir", str(data_dir)]) == 0
    assert "runs 1 (default)" in capsys.readouterr().out
    assert main(["data", "splits", "double_well", "--dir", str(data_dir)]) == 2
    assert "not a molecular system" in capsys.readouterr().err


def test_missing_reference_names_the_command(tmp_path):
    with pytest.raises(DataError, match="scoremd data generate alanine_dipeptide"):
        load_molecular_data(ALANINE_DIPEPTIDE, tmp_path)


def test_metrics_of_a_set_against_itself_are_zero(data_dir):
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir)
    m = dihedral_metrics(ALANINE_DIPEPTIDE, data.positions, data.positions)
    assert m["js"] == pytest.approx(0.0, abs=1e-12) and m["pmf"] == pytest.approx(0.0, abs=1e-12)
    assert bond_w1(ALANINE_DIPEPTIDE, data.positions, data.positions) == [0.0] * 4
    # Stretching every bond by 1 pm moves each W1 by 1 pm.
    stretched = data.positions * 1.0
    stretched[:, 1:] += np.cumsum(0.001 * np.diff(data.positions, axis=1)
                                  / np.linalg.norm(np.diff(data.positions, axis=1), axis=-1, keepdims=True), axis=1)
    np.testing.assert_allclose(bond_w1(ALANINE_DIPEPTIDE, stretched, data.positions), 0.001, rtol=1e-3)


def test_force_is_minus_gradient_of_energy_in_physical_units(run_dir):
    """F = -dU/dx with U = k_BT E(x/s, t0): kJ/mol/nm from kJ/mol and nm."""
    emulator = load(run_dir)
    assert emulator.kbt == pytest.approx(kbt(300.0)) and emulator.kbt == pytest.approx(2.494, abs=1e-3)
    data = load_molecular_data(ALANINE_DIPEPTIDE, emulator.config.data.dir)
    x = jnp.asarray(data.positions[:3], jnp.float32)
    force = np.asarray(emulator.force(x))
    h = 2e-4  # nm
    for bead, axis in [(0, 0), (2, 1), (4, 2)]:
        e = jnp.zeros_like(x).at[:, bead, axis].set(h)
        fd = -(np.asarray(emulator.energy(x + e), np.float64) - np.asarray(emulator.energy(x - e), np.float64)) / (2 * h)
        np.testing.assert_allclose(force[:, bead, axis], fd, rtol=0.02, atol=0.02 * np.abs(force).max())
    np.testing.assert_allclose(emulator.masses, [12.011, 14.007, 12.011, 12.011, 14.007], atol=0.01)


def test_whitened_model_stores_the_distance_statistics_of_its_training_frames(data_dir, tmp_path):
    """model.whiten_distances: the statistics are measured on the normalised training frames,
    stored in run.json; a loaded model uses them (finite, varying energies) and will not load without them."""
    from scoremd.models import distance_statistics

    out = tmp_path / "whitened"
    sets = _tiny(data_dir) + ["model.whiten_distances=true", "train.steps=20", "train.checkpoint_every=20"]
    assert main(["--quiet", "train", str(CONFIG), "--out", str(out), *_sets(sets)]) == 0
    info = json.loads((out / "run.json").read_text())
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir)
    mean, std = distance_statistics(data.positions[data.train] / info["scale"])
    np.testing.assert_allclose(info["distance_stats"]["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(info["distance_stats"]["std"], std, rtol=1e-4)
    emulator = load(out)
    energy = np.asarray(emulator.energy(jnp.asarray(data.positions[:4])))
    assert np.all(np.isfinite(energy)) and np.ptp(energy) > 0
    del info["distance_stats"]
    (out / "run.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="distance_stats"):
        load(out)


def test_run_writes_molecular_report(run_dir):
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    # Both protocols, against the held-out runs, with floors of the same sizes (the training run).
    protocols = metrics["protocols"]
    assert protocols["reference"] == "held-out (validation) runs"
    assert protocols["paper"]["i.i.d."]["n"] == protocols["paper"]["floor i.i.d."]["n"] == 40  # 40 held-out frames
    assert protocols["large"]["MD"]["n"] == protocols["large"]["floor MD"]["n"] == 20
    # 6 MD frames of 0.02 ps: one block, the share of all 24 frames.
    assert metrics["phi_positive_md_blocks"]["block_ps"] == pytest.approx(0.12)
    assert len(metrics["phi_positive_md_blocks"]["share"]) == 1
    for key in ("iid", "md", "data", "floor_reference"):
        assert 0 <= metrics[key]["js"] <= np.log(2) and len(metrics[key]["bond_w1"]) == 4
    assert metrics["floor_reference"]["n"] == 20 and metrics["md"]["n"] == 4 * 5
    assert metrics["iid"]["n"] == 200 and metrics["reference"]["runs"] == 2
    # MD frames are 20 x 1 fs = 0.02 ps, reference frames 0.1 ps: 6 MD frames span one reference frame.
    assert metrics["floor_md"]["window_frames"] == 1 and metrics["floor_md"]["replicas"] == 4
    assert metrics["floor_md"]["burn_in_frames"] == 0
    assert metrics["floor_iid"]["n"] == 40  # 200 samples, capped at the 40 training frames (one run)
    for png in ("ramachandran.png", "bonds.png", "energies.png", "fp_error.png", "loss.png"):
        assert (run_dir / "report" / png).stat().st_size > 1000
    report = (run_dir / "report" / "report.md").read_text()
    assert "| floor (half vs half) | 20 |" in report
    emulator = load(run_dir)
    config = emulator.config
    assert f"i.i.d.: {sampler_text(config)}. MD:" in report
    # The MD's force time and the blur it implies: sigma(t0) * s nm, here with the default t0 = 1e-5.
    blur = float(emulator.model.sde.std(config.simulate.t0)) * emulator.scale
    assert f"{force_field_text(emulator)}." in report and f"blurred by {blur:.3g} nm" in report
    assert blur == pytest.approx(np.sqrt(1 - np.exp(-0.1 * 1e-5 - 0.5 * 19.9 * 1e-10)) * emulator.scale, rel=1e-3)
    for rho, grid in ((2.0, "time grid rho = 2"), (None, "the sampler's default time grid")):
        c = dataclasses.replace(config, sample=dataclasses.replace(config.sample, rho=rho))
        assert sampler_text(c) == f"sde sampler, 40 steps, {grid}"
    # The "vs training frames" rows are computed against the training split, not the held-out one.
    data = load_molecular_data(ALANINE_DIPEPTIDE, load(run_dir).config.data.dir)
    samples = np.load(run_dir / "samples.npy")
    expected = dihedral_metrics(ALANINE_DIPEPTIDE, samples, data.positions[data.train])
    assert metrics["iid_vs_train"]["js"] == pytest.approx(expected["js"], rel=1e-9)
    assert metrics["iid_vs_train"]["js"] != pytest.approx(metrics["iid"]["js"], rel=1e-6)
    assert metrics["reference"]["held_out"] == "runs" and metrics["reference"]["held_out_runs"] == 1
    assert "1 of 2 independent OpenMM runs, held out whole" in report
    # Basin populations: the share of frames at phi > 0 of each set.
    phi = lambda x: dihedral_angles(x, ALANINE_DIPEPTIDE.dihedrals)[:, 0]  # noqa: E731
    shares = metrics["phi_positive"]
    assert shares["training data"] == pytest.approx(np.mean(phi(data.positions[data.train]) > 0))
    assert shares["i.i.d."] == pytest.approx(np.mean(phi(samples) > 0))
    assert "Basin populations: fraction of frames at phi > 0" in report
    held_out = data.run_index[data.validation]
    assert metrics["phi_positive_runs"]["runs"] == {
        str(r): pytest.approx(np.mean(phi(data.positions[data.validation][held_out == r]) > 0)) for r in np.unique(held_out)}
    assert "Share at phi > 0 in each of the held-out (validation) runs: run " in report
    top = mdtraj.load_topology(str(run_dir / "topology.pdb"))
    assert [a.name for a in top.atoms] == ["C", "N", "CA", "C", "N"] and top.n_bonds == 4


@pytest.mark.parametrize("ext", [".xtc", ".dcd", ".h5", ".npy"])
def test_sample_and_simulate_write_the_format_of_the_extension(run_dir, tmp_path, ext):
    samples = tmp_path / f"s{ext}"
    assert main(["--quiet", "sample", str(run_dir), "--n", "20", "--out", str(samples)]) == 0
    traj = tmp_path / f"md{ext}"
    assert main(["--quiet", "simulate", str(run_dir), "--replicas", "3", "--frames", "4", "--out", str(traj)]) == 0
    if ext == ".npy":
        assert np.load(samples).shape == (20, 5, 3)
        assert np.load(traj).shape == (12, 5, 3)  # 3 replicas x 4 frames, concatenated
        return
    for path, n_frames in [(samples, 20), (traj, 12)]:
        pdb = path.with_suffix(".pdb")
        t = mdtraj.load(str(path), top=str(pdb)) if ext != ".h5" else mdtraj.load(str(path))
        assert t.n_frames == n_frames and t.n_atoms == 5
        assert [r.name for r in t.topology.residues] == ["ACE", "ALA", "NME"]
        assert np.isfinite(t.xyz).all()


def test_evaluate_accepts_the_simulate_output(run_dir, tmp_path):
    traj = tmp_path / "md.npy"
    assert main(["--quiet", "simulate", str(run_dir), "--replicas", "4", "--frames", "5", "--out", str(traj)]) == 0
    assert main(["--quiet", "evaluate", str(run_dir), "--trajectory", str(traj), "--replicas", "4"]) == 0
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["md"]["replicas"] == 4 and metrics["md"]["frames_per_replica"] == 5
    assert metrics["md"]["frame_ps"] == pytest.approx(0.02)  # the config's 20 steps of 1 fs
    assert main(["--quiet", "evaluate", str(run_dir), "--trajectory", str(traj), "--replicas", "4",  # beside it
                 "--frame-ps", "0.2", "--report", str(tmp_path / "long")]) == 0
    long = json.loads((tmp_path / "long" / "metrics.json").read_text())
    assert long["md"]["frame_ps"] == pytest.approx(0.2) and long["phi_positive_md_blocks"]["block_ps"] == pytest.approx(1.0)
    assert json.loads((run_dir / "report" / "metrics.json").read_text()) == metrics


def test_bad_molecular_input_is_a_clear_error(run_dir, tmp_path, capsys):
    def error(argv):
        assert main(argv) == 2
        return capsys.readouterr().err.strip().splitlines()[-1]

    assert "unknown format '.pdb'" in error(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "x.pdb")])
    existing = tmp_path / "y.xtc"
    existing.with_suffix(".pdb").write_text("keep me")
    assert "already exists" in error(["sample", str(run_dir), "--n", "5", "--out", str(existing)])
    assert existing.with_suffix(".pdb").read_text() == "keep me"
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 22, 3), np.float32))  # all-atom frames where beads are expected
    msg = error(["--quiet", "train", str(CONFIG), "--out", str(tmp_path / "r"), "--set", f"data.path={wrong}",
                 "--set", f"data.dir={load(run_dir).config.data.dir}"])
    assert "(N, 5, 3)" in msg and "(10, 22, 3)" in msg


def test_rotation_augmentation_needs_molecules(getkey):
    from scoremd.models import ModelConfig, build_model
    from scoremd.sde import VPSDE

    model, params = build_model(ModelConfig(hidden=(8,)), (2,), VPSDE(), key=getkey())
    with pytest.raises(ValueError, match="random_rotations needs molecular samples"):
        training_loss(model, params, getkey(), jnp.zeros((4, 2)), LossConfig(random_rotations=True))


def test_molecular_configs_load():
    for recipe in ("diffusion", "fp", "both"):
        for folder in ("", "gpu/"):
            config = load_config(ROOT / "examples" / "configs" / f"{folder}alanine_dipeptide_{recipe}.toml")
            assert config.system == "alanine_dipeptide"
            assert (config.loss.fp_weight > 0) == (recipe != "diffusion")
    jax.clear_caches()


def test_md_frames_discards_burn_in_of_every_replica():
    traj = np.arange(4 * 3 * 5 * 3, dtype=np.float32).reshape(4, 3, 5, 3)  # (frames, replicas, beads, 3)
    kept = md_frames(traj, 1)
    assert kept.shape == (9, 5, 3)
    np.testing.assert_array_equal(kept, traj[1:].reshape(9, 5, 3))
    assert md_frames(traj, 4).shape == (12, 5, 3)  # nothing left after burn-in: keep all, not none


def test_md_protocol_floor_cuts_the_training_runs_into_replica_windows(data_dir):
    """Windows as long as the training blocks leave one start per run: the floor is then exactly
    the training frames against the held-out ones, with no spread over draws."""
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir, "time")
    train = data.positions[data.train]
    whole = md_protocol_floor(ALANINE_DIPEPTIDE, data, replicas=2, window_frames=20, burn_in_frames=0, repeats=3)
    expected = dihedral_metrics(ALANINE_DIPEPTIDE, train, data.positions[data.validation])
    assert whole["js"] == pytest.approx(expected["js"], rel=1e-12) and whole["js_sd"] == 0.0
    assert whole["pmf"] == pytest.approx(expected["pmf"], rel=1e-12)
    assert whole["js_vs_train"] == pytest.approx(0.0, abs=1e-12)
    # Burn-in drops the first frames of each window: with 15 of 20 dropped the last 5 of each block remain.
    tail = md_protocol_floor(ALANINE_DIPEPTIDE, data, replicas=2, window_frames=20, burn_in_frames=15, repeats=1)
    last = np.concatenate([data.positions[15:20], data.positions[55:60]])
    assert tail["js"] == pytest.approx(
        dihedral_metrics(ALANINE_DIPEPTIDE, last, data.positions[data.validation])["js"], rel=1e-12)
    # Short windows from few starts scatter: a spread over draws, and a distance from the training frames.
    short = md_protocol_floor(ALANINE_DIPEPTIDE, data, replicas=3, window_frames=2, burn_in_frames=0, seed=1)
    assert short["js_sd"] > 0 and short["js_vs_train"] > 0
    assert md_protocol_floor(ALANINE_DIPEPTIDE, data, replicas=2, window_frames=21, burn_in_frames=0) is None
    with pytest.raises(ValueError, match="burn_in_frames"):
        md_protocol_floor(ALANINE_DIPEPTIDE, data, replicas=2, window_frames=5, burn_in_frames=5)


def test_iid_sample_floor_draws_as_many_training_frames_as_samples(data_dir):
    """All training frames: exactly training against held-out, no spread. Fewer: the plug-in
    JS of a small sample is biased upwards, and the draws scatter."""
    data = load_molecular_data(ALANINE_DIPEPTIDE, data_dir, "time")
    expected = dihedral_metrics(ALANINE_DIPEPTIDE, data.positions[data.train], data.positions[data.validation])
    whole = iid_sample_floor(ALANINE_DIPEPTIDE, data, 10_000, repeats=3)
    assert whole["n"] == len(data.train) == 40
    assert whole["js"] == pytest.approx(expected["js"], rel=1e-12) and whole["js_sd"] == 0.0
    assert whole["pmf"] == pytest.approx(expected["pmf"], rel=1e-12)
    few = iid_sample_floor(ALANINE_DIPEPTIDE, data, 4, repeats=20)
    assert few["n"] == 4 and few["js_sd"] > 0 and few["js"] > whole["js"]
    with pytest.raises(ValueError, match="n > 0"):
        iid_sample_floor(ALANINE_DIPEPTIDE, data, 0)


def test_test_runs_are_left_out_unless_asked_for(data_dir, tmp_path):
    """A system's test runs never enter training or validation; they load only by name."""
    import dataclasses
    import shutil

    folder = tmp_path / "alanine_dipeptide"
    shutil.copytree(data_dir / "alanine_dipeptide", folder)
    shutil.copytree(folder / "run_01", folder / "run_02")
    system = dataclasses.replace(ALANINE_DIPEPTIDE, test_runs=(2,))
    data = load_molecular_data(system, tmp_path)
    assert sorted(set(data.run_index.tolist())) == [0, 1] and len(data.positions) == 80
    test = load_molecular_data(system, tmp_path, runs=system.test_runs)
    assert set(test.run_index.tolist()) == {2} and len(test.positions) == 40
    # An unfinished test run (in its first chunk: no checksums yet) does not stop the training data from loading.
    meta = json.loads((folder / "run_02" / "metadata.json").read_text())
    meta["sha256"], meta["verified"] = None, None
    (folder / "run_02" / "metadata.json").write_text(json.dumps(meta))
    assert len(load_molecular_data(system, tmp_path).positions) == 80
    with pytest.raises(DataError, match="still running its first chunk"):
        load_molecular_data(system, tmp_path, runs=(2,))


def test_evaluate_against_test_runs_needs_them(run_dir, capsys):
    """--reference test scores against the system's test runs; without them, a clear error."""
    assert main(["--quiet", "evaluate", str(run_dir), "--reference", "test"]) == 2
    err = capsys.readouterr().err
    assert "reference run(s)" in err and "run_04" in err and "do not exist" in err


def test_protocol_floor_accepts_the_reference_protocol_and_refuses_its_mirror_image():
    """A piece of another reference run scores like the reference's own chunks; the mirror image
    (phi, psi -> -phi, -psi: the same MD of D-alanine) is far above them. Shipped training runs."""
    from scoremd.analysis import protocol_floor

    data = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data", runs=(0, 1, 2))
    runs = [data.positions[data.run_index == r] for r in (0, 1, 2)]
    reference, candidate = [runs[0][:150_000], runs[1][:150_000]], runs[2][:50_000]
    same = protocol_floor(ALANINE_DIPEPTIDE, candidate, reference)
    assert same["n_chunks"] == 6 and same["chunk_frames"] == 50_000 and len(same["floor_phi_positive"]) == 6
    assert same["js"] < same["floor_js"] + 4 * same["floor_js_sd"]
    mirror = protocol_floor(ALANINE_DIPEPTIDE, -candidate, reference)
    assert mirror["js"] > 5 * same["floor_js_max"]
    with pytest.raises(ValueError, match="two chunks"):
        protocol_floor(ALANINE_DIPEPTIDE, runs[2][:160_000], reference)


def test_regenerate_writes_the_basin_share_against_t0(run_dir, capsys, tmp_path):
    """`scoremd regenerate`: training frames diffused to each t0 and sampled back, as JSON, a plot
    and a table; t0 outside [t_min, 1] and a non-JSON --out are refused before any work."""
    out = tmp_path / "regen.json"
    assert main(["--quiet", "regenerate", str(run_dir), "--n", "50", "--t0", "0.05,1", "--steps", "20",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["n"] == 50 and [r["t0"] for r in result["profile"]] == [0.05, 1.0]
    assert result["statistic"] == "share at phi > 0" and result["sampler"]["steps"] == 20
    assert result["expert_boundaries"] == list(load(run_dir).config.model.expert_boundaries or ())
    frames = load(run_dir).initial_positions(50, seed=result["seed"])
    assert result["start"] == pytest.approx(phi_positive(ALANINE_DIPEPTIDE, frames))
    assert all(0 <= r["share"] <= 1 and r["se"] >= 0 and r["js"] >= 0 for r in result["profile"])
    assert 0 < result["start_js"] < np.log(2)
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "regenerated from t0" in capsys.readouterr().out
    before = out.read_bytes()
    assert main(["--quiet", "regenerate", str(run_dir), "--n", "50", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert main(["--quiet", "regenerate", str(run_dir), "--n", "50", "--t0", "0,1"]) == 2
    assert "must lie in [t_min" in capsys.readouterr().err
    assert main(["--quiet", "regenerate", str(run_dir), "--n", "50", "--out", str(tmp_path / "r.npy")]) == 2
    assert "use one of .json" in capsys.readouterr().err
