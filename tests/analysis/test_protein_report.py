"""Chignolin end to end on a tiny structure-based reference made by the test: Go-model runs ->
train -> sample -> simulate -> the protein report (TICA, Q, transitions), and a user's DCD files."""

import dataclasses
import importlib.util
import json
from pathlib import Path

import mdtraj
import numpy as np
import pytest

from scoremd.analysis._protein_report import BLUR_ROW_NM, blurred_to, evaluate_protein
from scoremd.app import load
from scoremd.app.cli import main
from scoremd.data.go_model import GoModel
from scoremd.data.openmm import MDProtocol, generate_runs

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "chignolin_diffusion.toml"
TINY = ["model.hidden=[32, 32]", "train.steps=200", "train.batch_size=128", "train.log_every=100",
        "train.checkpoint_every=200", "sample.n=400", "sample.steps=20", "simulate.replicas=4",
        "simulate.frames=250", "simulate.burn_in_frames=10", "simulate.steps_per_frame=20", "simulate.t0=1e-5"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Six 2-ns Go runs of chignolin, a frame per 5 ps (the system's layout: 00-01 train, 02-03 validation)."""
    root = tmp_path_factory.mktemp("data")
    model = GoModel(ROOT / "data" / "folded" / "CLN025_ca.pdb", epsilon=2.75)
    protocol = MDProtocol(forcefield=(), temperature=340.0, timestep=0.01, frame_interval=5.0, equilibration=50.0)
    generate_runs(root / "chignolin", 6, 400, structure=model, protocol=protocol, processes=1, progress=False)
    return root


def _sets(items):
    return [x for item in items for x in ("--set", item)]


def test_chignolin_run_writes_a_protein_report(data_dir, tmp_path):
    out = tmp_path / "cln"
    assert main(["--quiet", "run", str(CONFIG), "--out", str(out), *_sets([f"data.dir={data_dir}", *TINY])]) == 0
    m = json.loads((out / "report" / "metrics.json").read_text())
    assert m["reference"]["tica_lag_ps"] == 10 and m["reference"]["native_contacts"] == 9
    assert 0.2 < m["reference"]["folded"] < 0.8 and m["reference"]["transitions_per_us"] > 1000
    for key in ("iid", "md", "data", "floor_reference", "floor_iid"):
        assert 0 <= m[key]["js"] <= np.log(2) and 0 <= m[key]["distance_js"] <= np.log(2)
        assert 0 <= m[key]["folded"] <= 1
        assert 0 <= m[key]["q_js"] <= np.log(2) and 0 <= m[key]["rmsd_js"] <= np.log(2)
        assert 0 <= m[key]["contact_mae"] <= 1 and 0 <= m[key]["broken"] <= 1 and m[key]["rmsd_median"] > 0
    assert m["data"]["broken"] == 0.0 and m["data"]["clash"] == 0.0  # the ranges are the training data's own
    assert 0.4 < m["data"]["rg_median"] < 0.9 and 0 <= m["md"]["clash_replicas"] <= 1  # a 10-bead hairpin: Rg ~ 0.6 nm
    blocks = m["md_blocks"]  # 250 frames of 0.2 ps: one block of 50 ps
    assert blocks["block_ps"] == pytest.approx(50.0) and blocks["start_ps"] == [0.0]
    assert all(len(blocks[k]) == 1 for k in ("folded", "rmsd_median", "rg_median", "clash"))
    assert m["md"]["n"] == 4 * 240 and m["md"]["transitions_per_us"] >= 0 and 0 <= m["md"]["broken_replicas"] <= 1
    lo, hi = m["reference"]["bond_range_nm"]
    assert 0.25 < lo < 0.38 < hi < 0.5  # C-alpha virtual bonds of about 0.38 nm, widened by 0.05 nm
    for png in ("tica.png", "structure.png", "md_time.png"):
        assert (out / "report" / png).stat().st_size > 1000
    assert "MD replicas with at least one broken frame" in (out / "report" / "report.md").read_text()
    report = (out / "report" / "report.md").read_text()
    assert "| i.i.d. | 400 |" in report
    # t0 = 1e-5 (the paper's; the preset's is 1e-2) blurs by far less than 1e-3 nm: no "blurred reference" row.
    assert m["blurred_reference"] is None and "reference blurred to t0" not in report

    # The same run's force taken at t0 = 1e-2: the report scores the reference blurred to t0.
    emulator = load(out)
    later = dataclasses.replace(emulator, config=dataclasses.replace(
        emulator.config, simulate=dataclasses.replace(emulator.config.simulate, t0=1e-2)))
    frames = np.load(data_dir / "chignolin" / "run_02" / "positions.npy")
    blurred, blur = blurred_to(later, frames)
    assert blur == pytest.approx(float(later.model.sde.std(1e-2)) * later.scale) and blur > BLUR_ROW_NM
    # Physics: blurring adds variance 2 sigma^2 to each bond vector's components (two independent
    # beads); its length along the bond, sigma^2 x 2. Tolerance: 5 standard errors of a variance.
    bonds = np.diff(frames, axis=1).reshape(-1, 3).astype(np.float64)
    noise = np.diff(blurred, axis=1).reshape(-1, 3) - float(later.model.sde.mean_coeff(1e-2)) * bonds
    assert np.var(noise) == pytest.approx(2 * blur**2, rel=5 * np.sqrt(2 / noise.size))
    m2 = evaluate_protein(later, out, np.load(out / "samples.npy"), np.load(out / "trajectory.npy"),
                          report_dir=tmp_path / "report_t0")
    row = m2["blurred_reference"]
    assert row["t0"] == 1e-2 and row["blur_nm"] == pytest.approx(blur) and row["n"] == m2["reference"]["n"]
    assert 0 <= row["js"] <= np.log(2) and row["broken"] >= 0
    assert "| reference blurred to t0 = 0.01 |" in (tmp_path / "report_t0" / "report.md").read_text()

    # examples/basin_by_time.py on the same run: the folded share after regenerating from t0
    spec = importlib.util.spec_from_file_location("basin_by_time", ROOT / "examples" / "basin_by_time.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main([str(out), "--t0", "1e-5,1.0", "--frames", "300", "--method", "sde", "--out", str(tmp_path / "basin.json")])
    b = json.loads((tmp_path / "basin.json").read_text())
    assert b["frames"] == 300 and b["basin"] == "folded (Q > 0.8)" and 0.2 < b["share_frames"] < 0.8
    assert b["t0"]["1e-05"] == pytest.approx(b["share_frames"], abs=0.02)  # t_min: the frames come back
    assert 0 <= b["t0"]["1.0"] <= 1


def test_the_same_config_runs_on_a_users_dcd_files(data_dir, tmp_path):
    """DESRES-style input: DCD files + a PDB, nothing else changed but [data]."""
    top = mdtraj.load(str(data_dir / "chignolin" / "run_00" / "topology.pdb")).topology
    for k in range(4):
        x = np.load(data_dir / "chignolin" / f"run_{k:02d}" / "positions.npy")
        mdtraj.Trajectory(x, top).save_dcd(str(tmp_path / f"CLN025-0-protein-{k:03d}.dcd"))
    mdtraj.Trajectory(x[:1], top).save_pdb(str(tmp_path / "CLN025-0-protein.pdb"))
    out = tmp_path / "desres"
    data = [f"data.trajectories=['{tmp_path}/CLN025-0-protein-*.dcd']",
            f"data.topology='{tmp_path}/CLN025-0-protein.pdb'", "data.frame_ps=5"]
    assert main(["--quiet", "run", str(CONFIG), "--out", str(out), *_sets([*data, *TINY])]) == 0
    m = json.loads((out / "report" / "metrics.json").read_text())
    assert m["reference"]["n_train"] == 2 * 400 and m["reference"]["n"] == 2 * 400
    assert m["reference"]["tica_lag_ps"] == 10


def test_fast_folders_example_runs_the_fp_preset_with_smc(data_dir, tmp_path, capsys):
    """examples/fast_folders.py: the recipes a protein has configs for, and the chignolin "fp" preset
    (one network + FP, SMC weighted down to the MD's force time) through to its table."""
    spec = importlib.util.spec_from_file_location("fast_folders", ROOT / "examples" / "fast_folders.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    assert example.recipes_of("chignolin") == ["diffusion", "fp", "both"]
    assert example.recipes_of("bba") == ["diffusion", "both"]
    with pytest.raises(SystemExit) as err:  # no BBA fp config: refused before any work
        example.main(["--protein", "bba", "--out", str(tmp_path / "x"), "--recipes", "fp"])
    assert err.value.code == 2 and "bba has: diffusion, both" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()

    sets = _sets([f"data.dir={data_dir}", *TINY, "loss.fp_batch_size=32"])
    example.main(["--protein", "chignolin", "--out", str(tmp_path / "ff"), "--recipes", "fp", "--seeds", "0", *sets])
    run = tmp_path / "ff" / "chignolin" / "fp_seed0"
    record = json.loads((run / "samples.npy.sampler.json").read_text())
    assert record["method"] == "smc" and record["t_stop"] == 1e-2 and record["n"] == 400  # the preset's sampler
    report = (run / "report" / "report.md").read_text()
    assert "weighted down to t = 0.01" in report and "excluded-volume wall added after training" in report
    table = (tmp_path / "ff" / "chignolin" / "table.md").read_text()
    assert table.startswith("| recipe |") and "| fp | 1 |" in table and "MD clashing frames" in table
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len({row.count("|") for row in rows}) == 1  # every row has the header's columns
