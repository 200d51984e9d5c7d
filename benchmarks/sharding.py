"""Row e of the benchmark suite: data parallelism over two devices (docs/design.md D11).

Run by ``benchmarks/run.py`` in a subprocess with two host devices; by hand:

    XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/sharding.py [--quick]

Measures, on one device and on both, side by side: the training loss curve and steps/s of the
alanine-dipeptide MLP (invariant, 3 x 128, batch 1024, FP on 256 samples), the learned-MD step at
100 and 1000 replicas, and probability-flow ODE samples/s. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import jax
import numpy as np

from scoremd.diffusion import LossConfig, ProbabilityFlowODE, sample, training_loss
from scoremd.dynamics import LangevinMiddle, simulate
from scoremd.models import ModelConfig, build_model
from scoremd.sde import VPSDE
from scoremd.training import TrainConfig, fit, init_train_state, make_optimizer

MLP = ModelConfig(kind="mlp", features="invariant", hidden=(128, 128, 128))
EVENT = (5, 3)
MASSES = np.array([12.011, 14.007, 12.011, 12.011, 14.007], np.float32)


def _best(fn, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    devices = jax.devices()
    if len(devices) < 2:
        raise SystemExit("needs two devices: run with XLA_FLAGS=--xla_force_host_platform_device_count=2")
    layouts = {"1 device": devices[:1], f"{len(devices)} devices": devices}
    model, params = build_model(MLP, EVENT, VPSDE(), key=jax.random.PRNGKey(0))
    loss_config = LossConfig(fp_weight=5e-4, fp_t_max=0.1, fp_batch_size=256)
    data = 0.3 * jax.random.normal(jax.random.PRNGKey(2), (8192, *EVENT))
    steps = 100 if args.quick else 400
    out = {"devices": len(devices), "train_steps": steps}
    losses, rates = {}, {}
    for name, devs in layouts.items():
        config = TrainConfig(steps=steps, batch_size=1024, log_every=20, checkpoint_every=10**6)
        opt = make_optimizer(config)
        state = init_train_state(params, opt, key=jax.random.PRNGKey(1))
        run = tempfile.mkdtemp()
        fit(lambda p, k, x: training_loss(model, p, k, x, loss_config), opt, state, data, config, run_dir=run,
            progress=False, devices=devs)
        records = [json.loads(line) for line in open(f"{run}/metrics.jsonl")]
        losses[name] = [r["loss"] for r in records]
        rates[name] = float(np.median([r["steps_per_s"] for r in records[1:]]))  # the first includes compiling
    one, many = layouts
    diff = np.abs(np.array(losses[one]) - np.array(losses[many]))
    out.update(train_steps_per_s=rates, train_speedup=rates[many] / rates[one],
               loss_curve_max_abs_diff=float(diff.max()), loss_curve_max=float(np.max(np.abs(losses[one]))))
    print(f"e. training (batch 1024, FP on 256): {rates[one]:.1f} steps/s on {one}, {rates[many]:.1f} on {many} "
          f"({out['train_speedup']:.2f}x); loss curves ({len(diff)} points) differ by at most {diff.max():.2e}",
          flush=True)

    scale, kbt = 0.094, 2.494

    def force(x):
        return (kbt / scale) * model.score(params, x / scale, 1e-5)

    cfg = LangevinMiddle(kbt=kbt, friction=1.0, dt=0.002)
    frames, spf = (2, 250) if args.quick else (4, 500)
    out["md_step_ms"] = {}
    for r in (100, 1000):
        x0 = np.asarray(data[:r]) * 1.0 + np.linspace(0, 0.6, 5)[:, None]
        row = {}
        for name, devs in layouts.items():
            simulate(cfg, force, x0, MASSES, frames, spf, key=jax.random.PRNGKey(0), frames_per_chunk=frames,
                     devices=devs)
            row[name] = 1e3 * _best(lambda: simulate(cfg, force, x0, MASSES, frames, spf, key=jax.random.PRNGKey(1),
                                                      frames_per_chunk=frames, devices=devs)) / (frames * spf)
        out["md_step_ms"][r] = row
        print(f"e. MD {r:5d} replicas: {row[one]:.3f} ms/step on {one}, {row[many]:.3f} on {many} "
              f"({row[one] / row[many]:.2f}x)", flush=True)
    out["md_speedup"] = {r: v[one] / v[many] for r, v in out["md_step_ms"].items()}

    n = 4000 if args.quick else 20000
    rates = {}
    for name, devs in layouts.items():
        def draw():
            return sample(ProbabilityFlowODE(n_steps=50), lambda x, t: model.score(params, x, t), VPSDE(), n, EVENT,
                          key=jax.random.PRNGKey(3), chunk_size=n, devices=devs)

        draw()
        rates[name] = n / _best(draw, 2)
    out.update(ode_samples_per_s=rates, sampling_speedup=rates[many] / rates[one])
    print(f"e. ODE sampling: {rates[one]:.0f} samples/s on {one}, {rates[many]:.0f} on {many} "
          f"({out['sampling_speedup']:.2f}x)", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
