"""Bad input and faults at the command line: one line, exit 2, no traceback, nothing lost.

Classes covered: out-of-range numbers, absurd sizes, unwritable or impossible output paths,
a failing ``--overwrite``, damaged checkpoints (bit flips, truncation, missing manifest), and
a bad structure for reference MD.
"""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from scoremd.app.cli import main
from scoremd.training._checkpoints import MANIFEST

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "mueller_brown.toml"
TINY = [f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=60", "train.warmup_steps=5",
        "train.log_every=20", "train.checkpoint_every=30"]


def _sets(items):
    return [x for item in items for x in ("--set", item)]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mb"
    assert main(["--quiet", "train", str(CONFIG), "--out", str(out), *_sets(TINY)]) == 0
    return out


def _fails_cleanly(args, capsys, *must_say):
    assert main(["--quiet", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("scoremd: error:"), err
    assert "Traceback" not in err
    for text in must_say:
        assert text in err, err
    return err


@pytest.mark.parametrize("args,says", [
    (["sample", "RUN", "--n", "0", "--out", "OUT.npy"], "argument --n: must be a positive integer, got 0"),
    (["sample", "RUN", "--n", "-3", "--out", "OUT.npy"], "argument --n: must be a positive integer"),
    (["sample", "RUN", "--n", "10", "--steps", "0", "--out", "OUT.npy"], "argument --steps: must be a positive"),
    (["sample", "RUN", "--n", "1000000000000", "--out", "OUT.npy"], "GiB of memory"),
    (["simulate", "RUN", "--replicas", "0", "--frames", "5", "--out", "OUT.npy"], "argument --replicas"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "0", "--out", "OUT.npy"], "argument --frames"),
    (["simulate", "RUN", "--replicas", "1000000000000", "--frames", "5", "--out", "OUT.npy"], "GiB of memory"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "1000000000000", "--out", "OUT.npy"], "GiB of memory"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "5", "--steps-per-frame", "-1", "--out", "OUT.npy"],
     "argument --steps-per-frame"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "5", "--dt", "0", "--out", "OUT.npy"],
     "argument --dt: must be a finite number > 0 (ps)"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "5", "--dt", "-1", "--out", "OUT.npy"], "argument --dt"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "5", "--friction", "-1", "--out", "OUT.npy"],
     "argument --friction: must be a finite number >= 0 (1/ps)"),
    (["simulate", "RUN", "--replicas", "2", "--frames", "5", "--dt", "nan", "--out", "OUT.npy"], "argument --dt"),
    (["evaluate", "RUN", "--replicas", "-1"], "argument --replicas"),
    (["sample", "RUN", "--n", "5", "--step", "7", "--out", "OUT.npy"], "no checkpoint at step 7"),
])
def test_bad_numbers_are_refused_before_any_work(run_dir, tmp_path, capsys, args, says):
    before = _digest(run_dir)
    out = tmp_path / "out"
    args = [str(run_dir) if a == "RUN" else str(out) + a[3:] if a.startswith("OUT") else a for a in args]
    _fails_cleanly(args, capsys, says)
    assert not out.with_suffix(".npy").exists() and _digest(run_dir) == before


def test_impossible_output_paths(run_dir, tmp_path, capsys, monkeypatch):
    regular = tmp_path / "file.txt"
    regular.write_text("keep me")
    _fails_cleanly(["sample", str(run_dir), "--n", "5", "--out", str(regular / "x.npy")], capsys,
                   "is a file, so nothing can be written below it")
    _fails_cleanly(["train", str(CONFIG), "--out", str(regular), *_sets(TINY)], capsys,
                   "is a file, not a directory")
    # A directory this user may not write to (simulated: root may write anywhere).
    import os

    import scoremd.storage

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(scoremd.storage.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    _fails_cleanly(["sample", str(run_dir), "--n", "5", "--out", str(locked / "sub" / "x.npy")], capsys,
                   f"{locked} is not writable")
    assert regular.read_text() == "keep me" and not list(locked.iterdir())


def test_failed_overwrite_keeps_the_old_file(run_dir, tmp_path, capsys):
    out = tmp_path / "traj.npy"
    assert main(["--quiet", "simulate", str(run_dir), "--replicas", "3", "--frames", "4", "--out", str(out)]) == 0
    capsys.readouterr()
    good = out.read_bytes()
    # dt = 100 explodes at the first step: no frame to keep.
    err = _fails_cleanly(["simulate", str(run_dir), "--replicas", "3", "--frames", "4", "--dt", "100",
                          "--overwrite", "--out", str(out)], capsys, "diverged at step", "is untouched")
    assert "nothing was written" in err
    assert out.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traj.npy", "traj.npy.md.json"]  # the good run's record


def _newest(run_dir):
    steps = sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())
    return run_dir / "checkpoints" / str(steps[-1]), steps


def _damage(kind, step_dir):
    files = sorted((p for p in step_dir.rglob("*") if p.is_file() and p.name != MANIFEST),
                   key=lambda p: p.stat().st_size)
    target = files[-1]
    if kind == "bit flips":
        data = bytearray(target.read_bytes())
        for i in (len(data) // 4, len(data) // 2):
            data[i] ^= 0x01
        target.write_bytes(bytes(data))
    elif kind == "truncation":
        target.write_bytes(target.read_bytes()[:10])
    else:
        (step_dir / MANIFEST).unlink()


@pytest.mark.parametrize("kind", ["bit flips", "truncation", "missing manifest"])
def test_damaged_checkpoint_is_named_and_the_intact_one_used(tmp_path, capsys, kind):
    run = tmp_path / "mb"
    assert main(["--quiet", "train", str(CONFIG), "--out", str(run), *_sets(TINY)]) == 0
    capsys.readouterr()
    newest, steps = _newest(run)
    assert steps == [30, 60]
    _damage(kind, newest)
    before = _digest(run)
    out = tmp_path / "s.npy"
    _fails_cleanly(["sample", str(run), "--n", "20", "--out", str(out)], capsys,
                   f"checkpoint {newest} is damaged", "`--step 30`")
    assert not out.exists() and _digest(run) == before
    assert main(["--quiet", "sample", str(run), "--n", "20", "--step", "30", "--out", str(out)]) == 0
    assert np.isfinite(np.load(out)).all()
    # Training resumes from the intact checkpoint; the damaged one is kept aside.
    capsys.readouterr()
    assert main(["--quiet", "train", str(CONFIG), "--out", str(run), *_sets(TINY)]) == 0
    assert "resuming from the intact checkpoint at step 30" in capsys.readouterr().err
    assert (run / "checkpoints" / "damaged_60").is_dir() and _newest(run)[1][-1] == 60


def test_bad_structure_leaves_no_run_folder(tmp_path, capsys):
    pdb = tmp_path / "bad.pdb"
    pdb.write_text("ATOM      1  CA  ALA A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n")
    out = tmp_path / "ref"
    _fails_cleanly(["data", "generate", str(pdb), "--out", str(out), "--runs", "1", "--ns", "0.001",
                    "--processes", "1"], capsys, "cannot parameterise")
    assert not (out / "run_00").exists()


def test_diverged_evaluate_leaves_no_trajectory_to_be_mistaken_for_a_run(tmp_path, capsys):
    run = tmp_path / "mb"
    assert main(["--quiet", "train", str(CONFIG), "--out", str(run), *_sets(TINY)]) == 0
    capsys.readouterr()
    assert main(["--quiet", "evaluate", str(run), "--dt", "100"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("scoremd: error: replica") and "Traceback" not in err
    assert "trajectory.npy was not written" in err
    assert not (run / "trajectory.npy").exists() and not list(run.glob(".*stream*"))
    assert not (run / "report" / "metrics.json").exists()


def test_more_bad_input_is_one_line(run_dir, tmp_path, capsys):
    _fails_cleanly(["simulate", str(run_dir), "--replicas", "2", "--frames", "3", "--seed", "-1",
                    "--out", str(tmp_path / "t.npy")], capsys, "argument --seed: must be an integer >= 0")
    regular = tmp_path / "file"
    regular.write_text("x")
    _fails_cleanly(["run", str(CONFIG), "--out", str(regular), *_sets(TINY)], capsys, "is a file, not a directory")
    junk = tmp_path / "junk.npy"
    junk.write_bytes(b"not an array")
    _fails_cleanly(["evaluate", str(run_dir), "--samples", str(junk), "--trajectory", str(junk)], capsys,
                   "not a readable .npy array")
    samples = tmp_path / "s.npy"
    np.save(samples, np.zeros((10, 2), np.float32))
    # Options that only shape new samples are refused when the samples already exist.
    _fails_cleanly(["evaluate", str(run_dir), "--samples", str(samples), "--method", "ode"], capsys,
                   "--method would not apply")
    _fails_cleanly(["evaluate", str(run_dir), "--report", str(regular)], capsys, f"--report {regular} is a file")
    _fails_cleanly(["evaluate", str(run_dir), "--frame-ps", "0.1"], capsys, "--frame-ps describes an existing")
    assert regular.read_text() == "x"
    assert not (run_dir / "samples.npy").exists()  # refused before any sampling
    _fails_cleanly(["data", "toy", "chignolin", "--dir", str(tmp_path / "toy")], capsys,
                   "chignolin is not a toy system", "scoremd data go")
    assert not (tmp_path / "toy" / "chignolin").exists()
    _fails_cleanly(["data", "generate", "bba", "--ns", "1", "--out", str(tmp_path / "bba")], capsys,
                   "structure-based C-alpha model", "scoremd data go")
    assert not (tmp_path / "bba").exists()


def test_evaluate_writes_a_second_report_beside_the_first(run_dir, tmp_path):
    samples, traj = tmp_path / "s.npy", tmp_path / "t.npy"
    assert main(["--quiet", "sample", str(run_dir), "--n", "200", "--out", str(samples)]) == 0
    for name, steps in (("t.npy", "5"), ("t_long.npy", "20")):
        assert main(["--quiet", "simulate", str(run_dir), "--replicas", "4", "--frames", "20",
                     "--steps-per-frame", steps, "--out", str(tmp_path / name)]) == 0
    common = ["--quiet", "evaluate", str(run_dir), "--samples", str(samples), "--replicas", "4"]
    assert main([*common, "--trajectory", str(traj)]) == 0
    first = _digest(run_dir / "report")
    second = tmp_path / "report_long"
    assert main([*common, "--trajectory", str(tmp_path / "t_long.npy"), "--report", str(second)]) == 0
    assert _digest(run_dir / "report") == first  # the first report is untouched
    assert (second / "metrics.json").exists() and (second / "report.md").exists()
    assert (second / "metrics.json").read_text() != (run_dir / "report" / "metrics.json").read_text()


def test_interrupted_md_resumes_to_the_frames_of_an_uninterrupted_run(run_dir, tmp_path, capsys, monkeypatch):
    import scoremd.app._cli_io as cli_io
    import scoremd.dynamics._simulate as driver

    whole, cut = tmp_path / "whole.npy", tmp_path / "cut.npy"
    md = ["--quiet", "simulate", str(run_dir), "--replicas", "3", "--frames", "130"]
    assert main([*md, "--out", str(whole)]) == 0
    monkeypatch.setattr(cli_io, "MD_SAVE_SECONDS", 0.0)
    real = driver.progress_bar

    class Stop:  # Ctrl-C once all 130 frames are done (the state was saved at 100)
        n = 0

        def update(self, k):
            self.n += k
            if self.n >= 130:
                raise KeyboardInterrupt

        def close(self):
            pass

    monkeypatch.setattr(driver, "progress_bar", lambda *a, **k: Stop())
    assert main([*md, "--out", str(cut)]) == 130
    stream, resume = tmp_path / ".cut.npy.stream.npy", tmp_path / ".cut.npy.resume.npz"
    assert not cut.exists() and stream.exists() and resume.exists()
    assert "run the same command again to resume" in capsys.readouterr().err
    monkeypatch.setattr(driver, "progress_bar", real)
    saved = _digest(tmp_path)
    _fails_cleanly([*md[1:], "--seed", "7", "--out", str(cut)], capsys, "other settings (seed: 2 -> 7)")
    assert _digest(tmp_path) == saved  # a refused resume changes nothing
    assert main([*md, "--out", str(cut)]) == 0
    np.testing.assert_array_equal(np.load(cut), np.load(whole))
    assert not stream.exists() and not resume.exists()


def test_a_report_names_the_sampler_that_drew_its_samples(run_dir, tmp_path):
    """Samples drawn with another sampler than the config's are reported as that sampler's."""
    samples, traj = tmp_path / "sde.npy", tmp_path / "t.npy"
    assert main(["--quiet", "sample", str(run_dir), "--method", "sde", "--steps", "7", "--n", "150",
                 "--out", str(samples)]) == 0
    assert main(["--quiet", "simulate", str(run_dir), "--replicas", "4", "--frames", "20", "--out", str(traj)]) == 0
    common = ["--quiet", "evaluate", str(run_dir), "--samples", str(samples), "--trajectory", str(traj),
              "--replicas", "4"]
    assert main([*common, "--report", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "sde sampler, 7 steps" in text and "ode sampler" not in text
    np.save(samples, np.load(samples)[:100])  # another file under the same name: its record is stale
    with pytest.warns(UserWarning, match="does not describe the 100 samples"):
        assert main([*common, "--report", str(tmp_path / "r2")]) == 0
    assert "ode sampler, 50 steps" in (tmp_path / "r2" / "report.md").read_text()  # the config's, said with a warning


def test_a_run_trained_with_relative_data_paths_works_from_any_directory(tmp_path, monkeypatch, capsys):
    """data.dir = "data" is read from the directory training started in, wherever the run is used later."""
    out = tmp_path / "runs" / "chig"
    monkeypatch.chdir(ROOT)
    tiny = ["data.dir=data", "model.hidden=[16, 16]", "train.steps=20", "train.warmup_steps=2", "train.log_every=10"]
    assert main(["--quiet", "train", str(ROOT / "examples" / "configs" / "chignolin_diffusion.toml"),
                 "--out", str(out), *_sets(tiny)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no data/ here: the MD's start frames come from the training data
    assert main(["--quiet", "simulate", str(out), "--replicas", "2", "--frames", "3", "--out", "md.npy"]) == 0
    assert np.load(elsewhere / "md.npy").shape == (3 * 2, 10, 3)  # frames x replicas, beads, xyz
    # resuming from elsewhere: the same data reached by another relative path is the same run ...
    config = ROOT / "examples" / "configs" / "chignolin_diffusion.toml"
    more = [*tiny[1:], "train.steps=30"]
    assert main(["--quiet", "train", str(config), "--out", str(out), *_sets([f"data.dir={ROOT / 'data'}", *more])]) == 0
    assert '"step": 30' in (out / "metrics.jsonl").read_text()
    # ... while data/ of another directory is other data, however it is spelt
    (elsewhere / "data").mkdir()
    assert main(["--quiet", "train", str(config), "--out", str(out), *_sets(["data.dir=data", *more])]) != 0
    assert "differs in: data.dir" in capsys.readouterr().err


def test_own_trajectories_are_not_scored_against_the_shipped_test_runs(tmp_path):
    """With data.trajectories the test runs would be another reference's: refused before training."""
    import scoremd
    from scoremd.analysis._molecular import check_reference
    from scoremd.app import run

    config = scoremd.load_config(ROOT / "examples" / "configs" / "chignolin_diffusion.toml",
                                 ["data.trajectories=['mine/*.dcd']", "data.topology=mine/top.pdb"])
    with pytest.raises(scoremd.ConfigError, match="data.trajectories"):
        run(config, tmp_path / "run", reference="test", progress=False)
    assert not (tmp_path / "run").exists()
    check_reference(config, "validation")  # the user's held-out files are fine


def test_excluded_volume_is_measured_at_training_and_needed_to_load(tmp_path, capsys):
    import json

    from scoremd.app import load

    out = tmp_path / "walled"
    tiny = [f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=20", "train.warmup_steps=2",
            "model.excluded_volume=true"]
    assert main(["--quiet", "train", str(ROOT / "examples" / "configs" / "chignolin_diffusion.toml"),
                 "--out", str(out), *_sets(tiny)]) == 0
    info = json.loads((out / "run.json").read_text())
    closest = np.asarray(info["distance_stats"]["closest"]) * info["scale"]  # nm
    assert closest.shape == (45,) and 0.2 < closest.min() and closest[0] < 0.4  # the first bond, ~0.38 nm
    assert load(out).config.model.excluded_volume
    from scoremd.analysis._text import wall_text
    assert wall_text(load(out)) == "; excluded-volume wall"  # trained with it
    del info["distance_stats"]["closest"]
    (out / "run.json").write_text(json.dumps(info))
    capsys.readouterr()
    _fails_cleanly(["sample", str(out), "--n", "5", "--out", str(tmp_path / "s.npy")], capsys,
                   "no closest pair distances", "retrain")


def test_the_wall_can_be_added_after_training_without_touching_the_run(tmp_path, capsys):
    """load(..., excluded_volume=True) / --excluded-volume: the same trained network plus the wall, which
    is zero on every training frame and pushes apart beads closer than the data ever were."""
    from scoremd.app import load
    from scoremd.app.runs import load_training_data

    out = tmp_path / "plain"
    tiny = [f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=20", "train.warmup_steps=2"]
    assert main(["--quiet", "train", str(ROOT / "examples" / "configs" / "chignolin_diffusion.toml"),
                 "--out", str(out), *_sets(tiny)]) == 0
    before = _digest(out)
    plain, walled = load(out), load(out, excluded_volume=True)
    assert walled.config.model.excluded_volume and not plain.config.model.excluded_volume
    frames = load_training_data(plain.config, progress=False)[::500]
    np.testing.assert_allclose(walled.energy(frames), plain.energy(frames), rtol=1e-6, atol=1e-6)  # zero on the data
    squeezed = frames * 0.6  # every pair at 60 % of a training frame's distance: far inside the wall
    assert np.all(walled.energy(squeezed) > plain.energy(squeezed) + 10.0)  # kJ/mol
    assert np.allclose(load(out, excluded_volume=False).energy(squeezed), plain.energy(squeezed))
    assert _digest(out) == before  # nothing in the run directory was written
    md = tmp_path / "md.npy"
    assert main(["--quiet", "simulate", str(out), "--replicas", "2", "--frames", "3", "--out", str(md),
                 "--excluded-volume"]) == 0
    assert np.load(md).shape == (6, 10, 3) and _digest(out) == before
    from scoremd.analysis._text import wall_text
    assert wall_text(walled) == "; excluded-volume wall added after training" and wall_text(plain) == ""
    mb = tmp_path / "mueller_brown"  # 2-D Cartesian features: no pair distances, no wall
    assert main(["--quiet", "train", str(CONFIG), "--out", str(mb), *_sets(TINY)]) == 0
    capsys.readouterr()
    _fails_cleanly(["sample", str(mb), "--n", "5", "--out", str(tmp_path / "s.npy"), "--excluded-volume"], capsys,
                   "cannot add the excluded-volume wall", "invariant")
    assert not (tmp_path / "s.npy").exists()


def test_the_wall_after_training_is_a_config_key_that_resumes_a_trained_run(tmp_path):
    """model.excluded_volume_after_training: training as without the wall (an existing run takes the key
    without retraining), then train(), load() and the CLI give the model with the wall unless told not to."""
    from scoremd import load_config
    from scoremd.analysis._text import wall_text
    from scoremd.app import load, train
    from scoremd.app.runs import load_training_data
    from scoremd.models import ModelConfig

    out = tmp_path / "run"
    tiny = [f"data.dir={ROOT / 'data'}", "model.hidden=[16, 16]", "train.steps=20", "train.warmup_steps=2"]
    preset = ROOT / "examples" / "configs" / "chignolin_diffusion.toml"
    assert main(["--quiet", "train", str(preset), "--out", str(out), *_sets(tiny)]) == 0
    plain = load(out)
    checkpoints = _digest(out / "checkpoints")
    walled = train(load_config(preset, [*tiny, "model.excluded_volume_after_training=true"]), out, progress=False)
    assert _digest(out / "checkpoints") == checkpoints  # nothing retrained
    frames = load_training_data(plain.config, progress=False)[::500]
    squeezed = frames * 0.6
    np.testing.assert_allclose(walled.energy(frames), plain.energy(frames), rtol=1e-6, atol=1e-6)
    assert np.all(walled.energy(squeezed) > plain.energy(squeezed) + 10.0)  # kJ/mol
    loaded = load(out)
    assert loaded.config.model.excluded_volume and wall_text(loaded) == "; excluded-volume wall added after training"
    np.testing.assert_allclose(loaded.energy(squeezed), walled.energy(squeezed), rtol=1e-6)
    off = load(out, excluded_volume=False)
    assert wall_text(off) == "" and np.allclose(off.energy(squeezed), plain.energy(squeezed))
    md = {}
    for flag in ("", "--excluded-volume", "--no-excluded-volume"):  # "": as configured, i.e. with the wall
        md[flag] = tmp_path / f"md{flag}.npy"
        assert main(["--quiet", "simulate", str(out), "--replicas", "2", "--frames", "3", "--out", str(md[flag]),
                     *([flag] if flag else [])]) == 0
    assert np.load(md["--no-excluded-volume"]).shape == (6, 10, 3)
    assert np.array_equal(np.load(md[""]), np.load(md["--excluded-volume"]))
    with pytest.raises(ValueError, match="exclude each other"):
        ModelConfig(features="invariant", excluded_volume=True, excluded_volume_after_training=True)
    with pytest.raises(ValueError, match="excluded_volume_after_training needs"):
        ModelConfig(excluded_volume_after_training=True)
