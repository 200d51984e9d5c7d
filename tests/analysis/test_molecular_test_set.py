"""`scoremd evaluate --reference test` on a tiny alanine-dipeptide reference with test runs made by
the test: the protocols score the test runs, and the training frames are scored as a model would
be, at the i.i.d. samples' size and, beside an MD that outnumbers them, at the MD's size. And the
SMC sampler on the same molecule."""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from scoremd.analysis import TRAINING_AT_MD_SIZE
from scoremd.app import load
from scoremd.app.cli import main
from scoremd.data import load_molecular_data
from scoremd.data.openmm import MDProtocol, generate_runs
from scoremd.systems import ALANINE_DIPEPTIDE

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / "examples" / "configs" / "alanine_dipeptide_diffusion.toml"
TINY = ["model.hidden=[16, 16]", "train.steps=50", "train.batch_size=32", "train.warmup_steps=5",
        "train.log_every=50", "train.checkpoint_every=50", "simulate.burn_in_frames=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Runs 00-01 (40 frames each: one trains, one validates), test runs 04-07 (15 frames each),
    a frame per 0.1 ps; a model trained for 50 steps on run 00."""
    root = tmp_path_factory.mktemp("data")
    folder = root / "alanine_dipeptide"
    protocol = MDProtocol(timestep=0.002, constraints="hbonds", frame_interval=0.1, equilibration=1.0)
    generate_runs(folder, 2, 40, protocol=protocol, processes=1, progress=False)
    generate_runs(root / "test", 4, 15, protocol=protocol, first_seed=5, processes=1, progress=False)
    for k in range(4):
        shutil.move(root / "test" / f"run_{k:02d}", folder / f"run_{4 + k:02d}")
    out = tmp_path_factory.mktemp("run") / "aldp"
    sets = [x for item in [f"data.dir={root}", *TINY] for x in ("--set", item)]
    assert main(["--quiet", "train", str(CONFIG), "--out", str(out), *sets]) == 0
    return out


def _evaluate(run_dir, samples, trajectory, name):
    np.save(run_dir / f"{name}_samples.npy", samples)
    np.save(run_dir / f"{name}_trajectory.npy", trajectory)
    report = run_dir / name
    assert main(["--quiet", "evaluate", str(run_dir), "--reference", "test", "--samples",
                 str(run_dir / f"{name}_samples.npy"), "--trajectory", str(run_dir / f"{name}_trajectory.npy"),
                 "--frame-ps", "0.1", "--report", str(report)]) == 0
    return json.loads((report / "metrics.json").read_text())["protocols"]


def test_training_frames_are_scored_at_the_md_size_beside_an_md_that_outnumbers_the_samples(run_dir):
    config = load(run_dir).config
    data = load_molecular_data(ALANINE_DIPEPTIDE, config.data.dir)
    train = data.positions[data.train]
    assert len(train) == 40 and len(data.positions[data.validation]) == 40
    # An "MD" made of the training frames themselves (after one burn-in frame), 10 frames x 4
    # replicas, beside 20 i.i.d. samples: an exact model of its training data.
    trajectory = np.concatenate([train[:4].reshape(1, 4, 5, 3), train.reshape(10, 4, 5, 3)])
    p = _evaluate(run_dir, train[:20], trajectory, "long_md")
    assert p["reference"] == "test runs [4, 5, 6, 7]"
    for protocol in ("paper", "large"):
        row, md = p[protocol][TRAINING_AT_MD_SIZE], p[protocol]["MD"]
        # The same size as the MD (40: the test runs hold 60 frames, the independent validation run 40) ...
        assert row["n"] == md["n"] == p[protocol][f"floor {TRAINING_AT_MD_SIZE}"]["n"] == 40
        assert p[protocol]["training data"]["n"] == p[protocol]["i.i.d."]["n"] == 20
        # ... drawn from the training frames: the MD that is exactly those frames scores the same.
        assert row["js"] == pytest.approx(md["js"], rel=1e-9) and row["pmf"] == pytest.approx(md["pmf"], rel=1e-9)
    # Scored against the test runs, not against the validation run the floor uses.
    assert p["large"]["MD"]["js"] != pytest.approx(p["large"][f"floor {TRAINING_AT_MD_SIZE}"]["js"], rel=1e-6)


def test_no_md_size_row_when_the_md_does_not_outnumber_the_samples(run_dir):
    train = load_molecular_data(ALANINE_DIPEPTIDE, load(run_dir).config.data.dir).positions[:40]
    p = _evaluate(run_dir, train[:20], train[:12].reshape(3, 4, 5, 3), "short_md")  # 8 MD frames
    assert TRAINING_AT_MD_SIZE not in p["paper"] and TRAINING_AT_MD_SIZE not in p["large"]
    assert p["large"]["training data"]["n"] == 20 and p["large"]["MD"]["n"] == 8


def test_smc_samples_of_a_molecule_are_centred_and_blind_to_the_centre_of_mass(run_dir, tmp_path):
    """`scoremd sample --method smc`; its weights leave out the centre of mass, along which the
    energy is flat: shifting every starting particle by the same vector changes nothing."""
    out = tmp_path / "smc.npy"
    assert main(["--quiet", "sample", str(run_dir), "--method", "smc", "--n", "64", "--steps", "20",
                 "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (64, 5, 3) and np.isfinite(x).all()
    np.testing.assert_allclose(x.mean(axis=1), 0.0, atol=1e-5)
    # --t-stop: weights only down to t = 0.1, recorded beside the samples for the report.
    stopped = tmp_path / "smc_stop.npy"
    assert main(["--quiet", "sample", str(run_dir), "--method", "smc", "--t-stop", "0.1", "--n", "64", "--steps",
                 "20", "--out", str(stopped)]) == 0
    assert json.loads((tmp_path / "smc_stop.npy.sampler.json").read_text())["t_stop"] == 0.1
    assert "t_stop" not in json.loads((tmp_path / "smc.npy.sampler.json").read_text())
    assert np.isfinite(np.load(stopped)).all() and not np.allclose(np.load(stopped), x)
    from scoremd.app import _cli_io
    from scoremd.analysis._text import sampler_text

    recorded = _cli_io.with_recorded_sampler(load(run_dir), stopped, 64)
    assert recorded.config.sample.smc_t_stop == 0.1 and "weighted down to t = 0.1" in sampler_text(recorded.config)
    assert main(["--quiet", "sample", str(run_dir), "--t-stop", "0.1", "--method", "sde", "--n", "4",
                 "--out", str(tmp_path / "x.npy")]) == 2  # t_stop is the smc sampler's
    from scoremd.diffusion import SMCReverseSDE

    em = load(run_dir)
    kernel = SMCReverseSDE(n_steps=20).kernel(em._normalised_score, em.model.sde, em._normalised_energy, em._centred)
    x1 = em.model.sde.prior_sample(jax.random.PRNGKey(0), (64, 5, 3))
    ends = []
    for shift in (0.0, 2.0):
        state = kernel.init(x1 + shift)
        for k in jax.random.split(jax.random.PRNGKey(1), 20):
            state, _ = kernel.step(k, state)
        ends.append(np.asarray(em._centred(kernel.finalize(state))))
    np.testing.assert_allclose(ends[0], ends[1], atol=1e-4)
