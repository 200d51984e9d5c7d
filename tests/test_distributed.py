"""Training across processes with ``jax.distributed`` (docs/design.md D11): two processes on this
machine, one CPU device each, train data-parallel and follow the loss curve of one process."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np

from scoremd.diffusion import LossConfig, training_loss
from scoremd.models import ModelConfig, build_model
from scoremd.sde import VPSDE
from scoremd.training import (Checkpoints, TrainConfig, fit, init_train_state, make_optimizer, state_to_tree,
                              tree_to_state)

SETUP = textwrap.dedent(
    """
    model, params = build_model(ModelConfig(hidden=(32, 32)), (2,), VPSDE(), key=jax.random.PRNGKey(0))
    loss_config = LossConfig(fp_weight=1e-3, fp_t_max=0.1, fp_batch_size=16)
    data = np.asarray(jax.random.normal(jax.random.PRNGKey(1), (512, 2)))
    config = TrainConfig(steps=40, batch_size=64, log_every=5, checkpoint_every=20)
    opt = make_optimizer(config)
    state = init_train_state(params, opt, key=jax.random.PRNGKey(2))

    def loss_fn(p, k, x):
        return training_loss(model, p, k, x, loss_config)
    """
)

WORKER = textwrap.dedent(
    """
    import json, sys
    import jax
    import numpy as np

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # collectives between CPU processes
    jax.distributed.initialize(f"localhost:{sys.argv[1]}", num_processes=2, process_id=int(sys.argv[2]))
    from scoremd.diffusion import LossConfig, training_loss
    from scoremd.models import ModelConfig, build_model
    from scoremd.sde import VPSDE
    from scoremd.training import TrainConfig, fit, init_train_state, make_optimizer
    """
) + SETUP + textwrap.dedent(
    """
    assert jax.process_count() == 2 and len(jax.devices()) == 2 and len(jax.local_devices()) == 1
    state = fit(loss_fn, opt, state, data, config, run_dir=sys.argv[3], progress=False)  # default devices
    leaf = jax.tree.leaves(state.params)[0]
    print(json.dumps({"devices": len(leaf.sharding.device_set),
                      "params": [np.asarray(a.addressable_data(0)).ravel().tolist() for a in jax.tree.leaves(state.params)]}))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_train_like_one(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="")
    port, run = _free_port(), tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(port), str(i), str(run)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    try:
        results = [p.communicate(timeout=600) for p in procs]  # both finish (the second may end after the first)
    except BaseException:
        for q in procs:  # a hung or failed job leaves no process behind
            q.kill()
        raise
    outs = []
    for p, (stdout, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))

    # The same step in one process on one device.
    namespace = {"jax": jax, "np": np, "build_model": build_model, "ModelConfig": ModelConfig, "VPSDE": VPSDE,
                 "LossConfig": LossConfig, "training_loss": training_loss, "TrainConfig": TrainConfig,
                 "make_optimizer": make_optimizer, "init_train_state": init_train_state}
    exec(SETUP, namespace)
    single = fit(namespace["loss_fn"], namespace["opt"], namespace["state"], namespace["data"], namespace["config"],
                 run_dir=tmp_path / "single", progress=False, devices=jax.devices()[:1])

    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == list(range(5, 41, 5))  # process 0 alone writes the metrics
    one = [json.loads(line)["loss"] for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    # Same random numbers on any layout: only the order of float32 sums differs.
    np.testing.assert_allclose([r["loss"] for r in lines], one, rtol=1e-4, atol=1e-6)
    assert all(o["devices"] == 2 for o in outs)  # the parameters live on both processes' devices
    ref = np.concatenate([np.ravel(a) for a in jax.tree.leaves(single.params)])
    for o in outs:
        got = np.concatenate([np.ravel(a) for a in o["params"]])
        assert np.abs(got - ref).max() < 1e-4 * np.abs(ref).max()
    # The checkpoints both processes wrote together are complete and verified.
    ckpt = Checkpoints(run / "checkpoints")
    assert ckpt.steps() == [40, 20] and ckpt.damage(40) is None and ckpt.damage(20) is None
    # ... and load in a single process (to sample, simulate or resume on one machine).
    restored = tree_to_state(ckpt.restore(state_to_tree(single)))
    np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in jax.tree.leaves(restored.params)]),
                               np.concatenate([np.ravel(a) for a in outs[0]["params"]]), rtol=0, atol=0)
    assert int(restored.step) == 40


def test_cli_needs_the_whole_address(tmp_path, capsys):
    from scoremd.app.cli import main

    assert main(["--quiet", "train", "examples/configs/mueller_brown.toml", "--out", str(tmp_path / "r"),
                 "--coordinator", "localhost:1234"]) == 2
    assert "--num-processes and --process-id" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
