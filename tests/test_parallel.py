"""Data parallelism (docs/design.md D11): two host devices give the same training and the same MD as one."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from scoremd.dynamics import LangevinMiddle, simulate
from scoremd.dynamics import _simulate as dynamics
from scoremd.parallel import batch_sharding

SCRIPT = textwrap.dedent(
    """
    import json, tempfile
    import jax, jax.numpy as jnp, numpy as np
    from scoremd.dynamics import LangevinMiddle, simulate
    from scoremd.diffusion import LossConfig, training_loss
    from scoremd.models import ModelConfig, build_model
    from scoremd.sde import VPSDE
    from scoremd.training import TrainConfig, fit, init_train_state, make_optimizer

    assert len(jax.devices()) == 2, jax.devices()
    model, params = build_model(ModelConfig(hidden=(32, 32)), (2,), VPSDE(), key=jax.random.PRNGKey(0))
    loss_config = LossConfig(fp_weight=1e-3, fp_t_max=0.1, fp_batch_size=16)
    data = jax.random.normal(jax.random.PRNGKey(1), (512, 2))
    losses, finals = {}, {}
    for name, devices in [("one", jax.devices()[:1]), ("two", jax.devices())]:
        config = TrainConfig(steps=40, batch_size=64, log_every=5, checkpoint_every=10**6)
        opt = make_optimizer(config)
        state = init_train_state(params, opt, key=jax.random.PRNGKey(2))
        run = tempfile.mkdtemp()
        state = fit(lambda p, k, x: training_loss(model, p, k, x, loss_config), opt, state, data, config,
                    run_dir=run, progress=False, devices=devices)
        losses[name] = [json.loads(line)["loss"] for line in open(run + "/metrics.jsonl")]
        finals[name] = np.concatenate([np.ravel(a) for a in jax.tree.leaves(state.params)])
        if name == "two":
            sharded = len(jax.tree.leaves(state.params)[0].sharding.device_set)

    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01)
    x0 = jax.random.normal(jax.random.PRNGKey(3), (8, 2))
    traj = {name: simulate(cfg, lambda x: -x**3 + x, x0, 1.0, 20, 5, key=jax.random.PRNGKey(4), devices=devices).frames
            for name, devices in [("one", jax.devices()[:1]), ("two", jax.devices())]}
    print(json.dumps({
        "losses": losses, "param_diff": float(np.abs(finals["one"] - finals["two"]).max()),
        "param_scale": float(np.abs(finals["one"]).max()), "params_on_devices": sharded,
        "traj_diff": float(np.abs(traj["one"] - traj["two"]).max()),
    }))
    """
)


def test_two_devices_train_and_simulate_like_one():
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    env.update(XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    one, two = np.array(out["losses"]["one"]), np.array(out["losses"]["two"])
    assert len(one) == 8
    # Same random numbers on any layout: only the order of float32 sums differs.
    np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-6)
    assert out["param_diff"] < 1e-4 * out["param_scale"]
    assert out["params_on_devices"] == 2  # parameters were replicated over both devices
    assert out["traj_diff"] < 1e-5


def test_batch_sharding_falls_back_to_unsplit():
    assert batch_sharding(10, jax.devices()[:1]) is None
    devices = [jax.devices()[0]] * 3
    assert batch_sharding(10, devices) is None  # 3 does not divide 10


def test_simulate_compiles_once_for_repeated_calls():
    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01)

    def force(x):
        return -x

    a = simulate(cfg, force, jnp.zeros((4, 2)), 1.0, 6, 5, key=jax.random.PRNGKey(0), frames_per_chunk=3).frames
    entries = [v for k, v in dynamics._COMPILED.items() if k[1] is force]
    assert len(entries) == 1
    init, chunk = entries[0]
    b = simulate(cfg, force, jnp.ones((4, 2)), 1.0, 6, 5, key=jax.random.PRNGKey(1), frames_per_chunk=3).frames
    assert [v for k, v in dynamics._COMPILED.items() if k[1] is force] == entries
    assert chunk._cache_size() == 1 and init._cache_size() == 1
    assert not np.allclose(a, b)


def test_unroll_does_not_change_the_trajectory():
    cfg = LangevinMiddle(kbt=1.0, friction=1.0, dt=0.01)

    def force(x):
        return -(x**3)

    x0 = jnp.linspace(-1, 1, 6).reshape(3, 2)
    a = simulate(cfg, force, x0, 1.0, 4, 7, key=jax.random.PRNGKey(5), unroll=1).frames
    b = simulate(cfg, force, x0, 1.0, 4, 7, key=jax.random.PRNGKey(5), unroll=3).frames
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def _devices_after(code: str, **env) -> int:
    clean = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    res = subprocess.run([sys.executable, "-c", code + "\nimport jax; print(len(jax.devices()))"],
                         env={**clean, "JAX_PLATFORMS": "cpu", **env}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return int(res.stdout.split()[-1])


def test_import_splits_the_cpu_into_one_device_per_core_unless_told_otherwise():
    from scoremd.parallel import MAX_CPU_DEVICES

    cores = min(len(os.sched_getaffinity(0)), MAX_CPU_DEVICES)
    assert _devices_after("import scoremd") == (cores if cores > 1 else 1)
    assert _devices_after("import scoremd", JAX_NUM_CPU_DEVICES="1") == 1
    assert _devices_after("import scoremd", XLA_FLAGS="--xla_force_host_platform_device_count=3") == 3
    # JAX already running: its device count is kept, nothing fails.
    assert _devices_after("import jax; jax.numpy.zeros(1)\nimport scoremd") == 1
