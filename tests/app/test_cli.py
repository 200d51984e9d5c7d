"""The scoremd command end to end on a tiny configuration, and its handling of bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoremd.app.cli import main

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "mueller_brown.toml"
TINY = [
    f"data.dir={ROOT / 'data'}",
    "model.hidden=[16, 16]",
    "train.steps=60",
    "train.warmup_steps=5",
    "train.log_every=20",
    "train.checkpoint_every=30",
    "sample.n=3000",
    "sample.steps=10",
    "simulate.replicas=30",
    "simulate.frames=12",
    "simulate.burn_in_frames=2",
    "simulate.mcmc_chains=20",
]


def _sets(items):
    return [x for item in items for x in ("--set", item)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mb"
    assert main(["--quiet", "run", str(CONFIG), "--out", str(out), *_sets(TINY)]) == 0
    return out


def test_run_writes_report(run_dir):
    metrics = json.loads((run_dir / "report" / "metrics.json").read_text())
    assert metrics["iid"]["n"] == 3000
    assert metrics["md"]["n"] == 30 * 10
    for key in ("iid", "md", "data", "floor_iid"):
        assert 0 <= metrics[key]["js"] <= np.log(2)
    for png in ("densities.png", "free_energy.png", "loss.png"):
        assert (run_dir / "report" / png).stat().st_size > 1000
    report = (run_dir / "report" / "report.md").read_text()
    assert "| i.i.d. | 3000 |" in report
    # Langevin MD against MALA/HMC on the learned energy, at the system's dt and at 4 x dt
    rows = metrics["adjusted"]["rows"]
    assert [(r["method"], r["dt"]) for r in rows] == [(m, dt) for dt in (0.005, 0.02) for m in ("langevin", "mala", "hmc")]
    assert all(0 <= r["js_model"] <= np.log(2) and r["n"] == (20 - r["diverged"]) * 10 for r in rows)
    assert "## Langevin MD against MALA and HMC" in report
    assert np.load(run_dir / "samples.npy").shape == (3000, 2)
    assert np.load(run_dir / "trajectory.npy").shape == (12, 30, 2)
    assert "hidden = [16, 16]" in (run_dir / "config.toml").read_text()


def test_train_again_resumes_instead_of_restarting(run_dir, capsys):
    lines_before = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert main(["--quiet", "train", str(CONFIG), "--out", str(run_dir), *_sets(TINY)]) == 0
    assert (run_dir / "metrics.jsonl").read_text().splitlines() == lines_before  # nothing left to do
    extended = [t if not t.startswith("train.steps") else "train.steps=80" for t in TINY]
    assert main(["--quiet", "train", str(CONFIG), "--out", str(run_dir), *_sets(extended)]) == 0
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-2:] == [60, 80] and steps.count(20) == 1


def test_sample_and_simulate_commands(run_dir, tmp_path):
    out = tmp_path / "s.npy"
    assert main(["--quiet", "sample", str(run_dir), "--n", "50", "--out", str(out), "--method", "ode", "--steps", "5"]) == 0
    assert np.load(out).shape == (50, 2)
    # --rho sets the sampler's time grid: same seed, another grid, other samples.
    graded = tmp_path / "g.npy"
    assert main(["--quiet", "sample", str(run_dir), "--n", "50", "--out", str(graded), "--method", "ode", "--steps", "5",
                 "--rho", "1"]) == 0
    assert np.isfinite(np.load(graded)).all() and not np.allclose(np.load(graded), np.load(out))
    traj = tmp_path / "t.npy"
    args = ["--quiet", "simulate", str(run_dir), "--replicas", "4", "--frames", "3", "--steps-per-frame", "5",
            "--dt", "0.001", "--out", str(traj)]
    assert main(args) == 0
    assert np.load(traj).shape == (4 * 3, 2)  # replicas concatenated, each in time order
    assert not list(tmp_path.glob(".*partial*"))


def test_simulate_force_time_option(run_dir, tmp_path, capsys):
    """--t0 takes the force at another diffusion time: the MD of the same seed moves differently,
    and the library's emulator at that time gives the score at t0, F = (k_BT/s) s_theta(x/s, t0)."""
    from scoremd.app import _cli_io, load

    common = ["--quiet", "simulate", str(run_dir), "--replicas", "3", "--frames", "4", "--steps-per-frame", "5"]
    assert main([*common, "--out", str(tmp_path / "a.npy")]) == 0
    assert main([*common, "--t0", "0.3", "--out", str(tmp_path / "b.npy")]) == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert np.isfinite(b).all() and not np.allclose(a, b)
    emulator = load(run_dir)
    at = _cli_io.with_force_time(emulator, 0.3)
    assert at.config.simulate.t0 == 0.3 and emulator.config.simulate.t0 == 1e-5
    x = np.asarray(a[:4])
    np.testing.assert_allclose(at.force(x), emulator.force(x, t=0.3), rtol=1e-6)
    for bad in ("0", "1.5", "nan", "abc"):
        assert "--t0" in _error(capsys, [*common, "--t0", bad, "--out", str(tmp_path / "c.npy")])
    # An existing trajectory is evaluated as it is: --t0 would not apply to it.
    assert "--t0 would not apply" in _error(capsys, ["evaluate", str(run_dir), "--t0", "0.1"])
    assert not (tmp_path / "c.npy").exists()
    # The force time is recorded beside the frames, and evaluate reads it from there.
    assert json.loads((tmp_path / "b.npy.md.json").read_text()) == {"t0": 0.3, "n": 12}
    assert json.loads((tmp_path / "a.npy.md.json").read_text())["t0"] == 1e-5
    recorded = _cli_io.with_recorded_force_time(emulator, tmp_path / "b.npy", 12)
    assert recorded.config.simulate.t0 == 0.3
    with pytest.warns(UserWarning, match="does not describe"):  # a record of another file's size
        assert _cli_io.with_recorded_force_time(emulator, tmp_path / "b.npy", 13) is emulator


def test_simulate_with_metropolis_adjusted_chains(run_dir, tmp_path, capsys):
    out = tmp_path / "mala.npy"
    assert main(["--quiet", "simulate", str(run_dir), "--method", "mala", "--replicas", "6", "--frames", "4",
                 "--steps-per-frame", "3", "--warmup", "20", "--start", "iid", "--out", str(out)]) == 0
    assert np.load(out).shape == (6 * 4, 2) and np.isfinite(np.load(out)).all()
    assert json.loads((tmp_path / "mala.npy.md.json").read_text()) == {"t0": 1e-5, "n": 24}  # chains on E(x, t0)
    assert "mala: 6 chains x 4 frames" in capsys.readouterr().err
    hmc = tmp_path / "hmc.npy"
    assert main(["--quiet", "simulate", str(run_dir), "--method", "hmc", "--replicas", "3", "--frames", "2",
                 "--step-size", "0.001", "--leapfrog-steps", "2", "--out", str(hmc)]) == 0
    err = capsys.readouterr().err
    assert "step size 0.001 ps" in err and "gradient evaluations" in err
    assert "--method hmc takes --step-size" in _error(capsys, ["simulate", str(run_dir), "--method", "hmc", "--dt",
                                                               "0.01", "--replicas", "2", "--frames", "2",
                                                               "--out", str(tmp_path / "x.npy")])
    assert "Langevin MD takes --dt" in _error(capsys, ["simulate", str(run_dir), "--step-size", "0.1", "--replicas",
                                                       "2", "--frames", "2", "--out", str(tmp_path / "x.npy")])
    assert not (tmp_path / "x.npy").exists() and not list(tmp_path.glob(".*stream*"))


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("scoremd: error: ")
    return err[-1]


def test_existing_output_is_not_overwritten(run_dir, tmp_path, capsys):
    out = tmp_path / "keep.npy"
    np.save(out, np.arange(3))
    msg = _error(capsys, ["--quiet", "sample", str(run_dir), "--n", "5", "--out", str(out)])
    assert "already exists" in msg and "--overwrite" in msg
    np.testing.assert_array_equal(np.load(out), np.arange(3))
    msg = _error(capsys, ["--quiet", "sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "x.xtc")])
    assert "not a molecule" in msg and "write .npy instead" in msg
    assert not (tmp_path / "x.xtc").exists()


def test_bad_inputs(tmp_path, capsys, run_dir):
    assert "unknown system 'argon'" in _error(capsys, ["train", str(CONFIG), "--out", str(tmp_path / "a"), "--set", "system=argon"])
    assert "unknown config key 'train.stepz'" in _error(capsys, ["train", str(CONFIG), "--out", str(tmp_path / "a"), "--set", "train.stepz=3"])
    bad = tmp_path / "bad.toml"
    bad.write_text("system = [")
    assert "is not valid TOML" in _error(capsys, ["train", str(bad), "--out", str(tmp_path / "a")])
    assert "not a scoremd run directory" in _error(capsys, ["sample", str(tmp_path), "--n", "5", "--out", str(tmp_path / "s.npy")])
    assert main(["sample", str(run_dir), "--n", "5", "--out", str(tmp_path / "s.npy"), "--rho", "0"]) == 2
    assert "--rho: must be a finite number > 0" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()
    # A run directory whose training never wrote a checkpoint.
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.toml").write_text((run_dir / "config.toml").read_text())
    assert "has no checkpoint yet" in _error(capsys, ["evaluate", str(tmp_path / "empty")])
    # Resuming with a different architecture is refused, and the run is untouched.
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    msg = _error(capsys, ["--quiet", "train", str(CONFIG), "--out", str(run_dir), *_sets(TINY), "--set", "model.hidden=[8]"])
    assert "differs in: model.hidden" in msg
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


@pytest.mark.parametrize("array,match", [
    (np.array([[0.0, 0.0], [np.nan, 1.0]], np.float32), "contain NaN or inf"),
    (np.zeros((10, 3), np.float32), r"expected positions of shape \(N, 2\)"),
])
def test_bad_training_data(tmp_path, capsys, array, match):
    path = tmp_path / "data.npy"
    np.save(path, array)
    out = tmp_path / "run"
    msg = _error(capsys, ["--quiet", "train", str(CONFIG), "--out", str(out), "--set", f"data.path={path}", *_sets(TINY)])
    assert str(path) in msg
    import re

    assert re.search(match, msg)
    assert not (out / "checkpoints").exists()


def test_data_generate_runs_in_parallel_and_grows(tmp_path, capsys):
    out = tmp_path / "ref"
    args = ["--quiet", "data", "generate", "alanine_dipeptide", "--out", str(out), "--runs", "2",
            "--frame-interval", "0.05", "--equilibration", "0.5", "--processes", "2"]
    assert main([*args, "--ns", "0.0005"]) == 0
    assert [np.load(out / f"run_0{k}" / "positions.npy").shape for k in range(2)] == [(10, 22, 3)] * 2
    assert main([*args, "--ns", "0.001"]) == 0  # grows both runs
    meta = json.loads((out / "run_01" / "metadata.json").read_text())
    assert meta["n_frames"] == 20 and meta["seed"] == 2
    assert meta["command"].startswith("scoremd --quiet data generate alanine_dipeptide --out")
    assert "multiple of timestep" in _error(capsys, [*args, "--ns", "0.001", "--dt", "0.0015"])


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sigterm_unwinds_once_and_the_previous_handler_comes_back():
    import os
    import signal
    import threading

    from scoremd.app._signals import Terminated, terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with terminate_as_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):  # the handler runs at the next bytecode boundaries
                    pass
            finally:  # clean-up after the first SIGTERM: a second one is ignored, not raised here
                assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
                os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before
    seen = []  # off the main thread signals cannot be handled: nothing is installed
    worker = threading.Thread(target=lambda: seen.append(terminate_as_interrupt().__enter__() is None))
    worker.start(), worker.join()
    assert seen == [True] and signal.getsignal(signal.SIGTERM) == before


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process parents from /proc")
def test_sigterm_stops_the_reference_md_workers_and_keeps_finished_chunks(tmp_path):
    """`kill PID` on `scoremd data generate` must not leave its worker processes writing on
    without it; chunks already finished stay readable and the same command resumes them."""
    import os
    import signal
    import time

    from scoremd.data.reference_runs import read_run_positions

    out = tmp_path / "ref"
    cmd = [sys.executable, "-m", "scoremd", "--quiet", "data", "generate", "alanine_dipeptide", "--out", str(out),
           "--runs", "2", "--processes", "2", "--frame-interval", "0.05", "--equilibration", "0.5", "--ns", "5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    started = lambda: all((out / f"run_0{k}" / "state.npz").exists() for k in range(2))  # noqa: E731
    while time.monotonic() < deadline and not started():
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.5)
    assert started(), "the two runs did not finish a chunk within 240 s"
    workers = [p for p in _children(proc.pid) if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) >= 2
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=60) == 143
        assert "terminated" in proc.stderr.read()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(map(_alive, workers)):
            time.sleep(0.2)
        assert not any(map(_alive, workers))
    finally:  # a failing run must not leave its workers behind
        for pid in filter(_alive, workers):
            os.kill(pid, signal.SIGKILL)
    written = [(out / f"run_0{k}" / "state.npz").stat().st_mtime_ns for k in range(2)]
    time.sleep(2.0)
    assert [(out / f"run_0{k}" / "state.npz").stat().st_mtime_ns for k in range(2)] == written  # nobody writes on
    assert main(cmd[3:-1] + ["0.0005"]) == 0  # the same command (shorter) finishes what was written
    for k in range(2):
        x = read_run_positions(out / f"run_0{k}")
        assert len(x) >= 10 and np.isfinite(x).all()


def test_diverging_simulation_is_a_clear_error_and_keeps_frames(run_dir, tmp_path, capsys):
    out = tmp_path / "boom.npy"
    msg = _error(capsys, ["--quiet", "simulate", str(run_dir), "--replicas", "3", "--frames", "50",
                          "--steps-per-frame", "2", "--dt", "50", "--out", str(out)])
    assert "diverged at step" in msg and "replica" in msg and "--dt" in msg and str(out) in msg
    assert not out.exists()  # --out is only ever a complete run
    partial = tmp_path / "boom.partial.npy"
    if "before it are in" in msg:
        assert str(partial) in msg
        kept = np.load(partial)  # the frames before the divergence, replicas concatenated
        assert kept.shape[1:] == (2,) and len(kept) % 3 == 0 and np.isfinite(kept).all()
    else:
        assert "nothing was written" in msg and not partial.exists()
    assert not list(tmp_path.glob(".*stream*"))


def test_python_dash_m_runs_the_cli_and_returns_its_exit_status(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scoremd", "run", str(tmp_path / "missing.toml"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "scoremd: error:" in done.stderr and "missing.toml" in done.stderr
    assert not (tmp_path / "out").exists()
