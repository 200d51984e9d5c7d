"""The dipeptide campaign on a local Dask cluster of 2 workers: idempotent, resumable bit for bit
(also after the whole campaign is killed mid-chunk), and one bad peptide does not stop the others."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from scoremd import DataError
from scoremd.app.cli import main
from scoremd.data.campaign import DIPEPTIDE_PROTOCOL, generate_dipeptides
from scoremd.data.dipeptides import peptide_seed

# A tiny protocol: a frame every 10 fs, 0.1 ps equilibration.
TINY = dataclasses.replace(DIPEPTIDE_PROTOCOL, frame_interval=0.01, equilibration=0.1)
NS, CHUNK = 0.0004, 0.0002  # 40 frames in 2 chunks


def _frames(folder):
    return np.load(folder / "positions.npy")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """AK and GG to 40 frames in one call, and the same peptides grown 20 -> 40 in two calls."""
    root = tmp_path_factory.mktemp("campaign")
    one = generate_dipeptides(root / "one", "AK,GG", NS, protocol=TINY, chunk_ns=CHUNK, workers=2, progress=False)
    generate_dipeptides(root / "two", "AK,GG", NS / 2, protocol=TINY, chunk_ns=CHUNK, workers=2, progress=False)
    two = generate_dipeptides(root / "two", "AK,GG", NS, protocol=TINY, chunk_ns=CHUNK, workers=2, progress=False)
    return root, one, two


def test_campaign_writes_beads_with_provenance(straight):
    root, one, _ = straight
    assert one.frames == {"AK": [40], "GG": [40]} and not one.failed
    assert set(one.ns_per_day) == {"AK", "GG"}
    for seq, beads in (("AK", 10), ("GG", 8)):
        run = root / "one" / seq / "run_00"
        x = _frames(run)
        assert x.shape == (40, beads, 3) and x.dtype == np.float32 and np.isfinite(x).all()
        meta = json.loads((run / "metadata.json").read_text())
        assert meta["structure"] == {"dipeptide": seq} and meta["seed"] == peptide_seed(seq)
        assert len(meta["stored_atoms"]) == beads and meta["sha256"]["positions.npy"]
        assert meta["protocol"]["temperature"] == 310.0 and meta["protocol"]["constraints"] == "hbonds"
        # bonded beads stay at bond length: N-CA of residue 1 ~ 0.147 nm
        assert np.allclose(np.linalg.norm(x[:, 1] - x[:, 0], axis=-1), 0.147, atol=0.01)


def test_growing_is_bit_identical_and_rerunning_changes_nothing(straight):
    root, _, two = straight
    assert two.frames == {"AK": [40], "GG": [40]}
    for seq in ("AK", "GG"):
        assert np.array_equal(_frames(root / "one" / seq / "run_00"), _frames(root / "two" / seq / "run_00"))
    before = {p: p.read_bytes() for p in (root / "two").rglob("*") if p.is_file()}
    generate_dipeptides(root / "two", "AK,GG", NS, protocol=TINY, chunk_ns=CHUNK, workers=2, progress=False)
    assert {p: p.read_bytes() for p in (root / "two").rglob("*") if p.is_file()} == before


def test_a_bad_peptide_fails_alone(straight, tmp_path, capsys):
    root, _, _ = straight
    # GG's folder holds a run of another protocol: GG must fail with that message, AK must finish.
    (tmp_path / "GG").mkdir()
    os.system(f"cp -r {root / 'one' / 'GG' / 'run_00'} {tmp_path / 'GG'}")
    report = generate_dipeptides(tmp_path, "AK,GG", NS, protocol=dataclasses.replace(TINY, temperature=300.0),
                                 chunk_ns=CHUNK, workers=2, progress=False)
    assert report.frames == {"AK": [40]} and list(report.failed) == ["GG"]
    assert "different protocol" in report.failed["GG"]
    assert _frames(tmp_path / "GG" / "run_00").shape[0] == 40  # the other protocol's data untouched
    # the CLI: exit 2, one line naming the peptide and saying the others are done
    code = main(["--quiet", "data", "generate", "dipeptides", "--peptides", "AK,GG", "--ns", str(NS), "--chunk-ns", str(CHUNK),
                 "--frame-interval", "0.01", "--equilibration", "0.1", "--temperature", "300", "--workers", "2",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "1 of 2 peptides failed (the others are done): GG:" in err


def test_bad_requests_fail_before_a_cluster_starts(tmp_path, capsys):
    for argv in (["--peptides", "AZ"], ["--peptides", "train:0"], [], ["--peptides", "AK", "--processes", "2"]):
        assert main(["data", "generate", "dipeptides", "--ns", "1", "--out", str(tmp_path / "x"), *argv]) == 2
    assert main(["data", "generate", "alanine_dipeptide", "--ns", "1", "--out", str(tmp_path / "y"),
                 "--scheduler", "tcp://localhost:1"]) == 2
    err = capsys.readouterr().err
    assert "'AZ' is not a dipeptide" in err and "needs --peptides" in err and "only apply to" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_killed_campaign_resumes_bit_identically(tmp_path):
    """SIGKILL the whole campaign (driver and workers) during its second chunk, rerun: the frames
    equal those of an uninterrupted campaign."""
    args = ["--quiet", "data", "generate", "dipeptides", "--peptides", "AK", "--ns", "0.03", "--chunk-ns", "0.01",
            "--frame-interval", "1", "--equilibration", "0.1", "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "ref")]) == 0
    cmd = [sys.executable, "-m", "scoremd", *args, "--out", str(tmp_path / "cut")]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    state = tmp_path / "cut" / "AK" / "run_00" / "state.npz"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and int(np.load(state)["n_frames"]) >= 10):
        time.sleep(0.2)
    time.sleep(0.5)  # inside the second chunk
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert int(np.load(state)["n_frames"]) in (10, 20)  # killed before the end
    assert main([*args, "--out", str(tmp_path / "cut")]) == 0
    ref, cut = _frames(tmp_path / "ref" / "AK" / "run_00"), _frames(tmp_path / "cut" / "AK" / "run_00")
    assert ref.shape == cut.shape == (30, 10, 3) and np.array_equal(ref, cut)


def test_runs_on_an_existing_cluster_by_address(straight, tmp_path):
    """--scheduler: the same tasks on a cluster started elsewhere (here a LocalCluster of 2 workers
    standing in for e.g. dask-jobqueue), with the same frames as the local default."""
    from distributed import LocalCluster

    root, _, _ = straight
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        report = generate_dipeptides(tmp_path, "AK", NS, protocol=TINY, chunk_ns=CHUNK,
                                     scheduler=cluster.scheduler_address, progress=False)
        assert len(cluster.workers) == 2  # the campaign left the cluster running
    assert report.frames == {"AK": [40]}
    assert np.array_equal(_frames(tmp_path / "AK" / "run_00"), _frames(root / "one" / "AK" / "run_00"))


def test_a_lost_scheduler_gives_a_clear_error_and_keeps_the_data(straight, tmp_path, monkeypatch):
    """If the scheduler goes away (e.g. starved on a busy machine), the command says so and how to
    go on, instead of a Dask traceback; finished runs stay as they were."""
    import shutil

    import distributed
    from distributed.client import FutureCancelledError

    class Lost:
        def __init__(self, fut):
            self.key, self.status = fut.key, "cancelled"

        def result(self):
            raise FutureCancelledError(self.key, reason="scheduler-connection-lost")

    shutil.copytree(straight[0] / "one", tmp_path / "c")
    before = (tmp_path / "c" / "AK" / "run_00" / "metadata.json").read_text()
    monkeypatch.setattr(distributed, "as_completed", lambda futures: (Lost(f) for f in futures))
    with pytest.raises(DataError, match="lost its Dask scheduler.*rerun the same command"):
        generate_dipeptides(tmp_path / "c", "AK", NS, protocol=TINY, chunk_ns=CHUNK, workers=1, progress=False)
    assert (tmp_path / "c" / "AK" / "run_00" / "metadata.json").read_text() == before
