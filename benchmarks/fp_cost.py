"""Cost of one training step with the Fokker-Planck term relative to plain DSM.

Same model, same batch, measured side by side in one process:

    python benchmarks/fp_cost.py [--model mlp|transformer] [--hidden 128,128,128] [--batch 1024] [--fp-batch 0]

Prints seconds per step and the ratio to DSM for the "exact" and "fd" estimators.
"""

from __future__ import annotations

import argparse
import json
import time

import jax

from scoremd.losses import LossConfig, training_loss
from scoremd.models import ModelConfig, build_model
from scoremd.sde import VPSDE
from scoremd.training import TrainConfig, init_train_state, make_optimizer, make_train_step


def time_step(loss_config: LossConfig, model_config: ModelConfig, event_shape, batch: int, repeats: int) -> float:
    model, params = build_model(model_config, event_shape, VPSDE(), key=jax.random.PRNGKey(0))
    cfg = TrainConfig(steps=10**6, batch_size=batch)
    opt = make_optimizer(cfg)
    state = init_train_state(params, opt, key=jax.random.PRNGKey(1))
    data = jax.random.normal(jax.random.PRNGKey(2), (8 * batch, *event_shape))

    def loss_fn(p, k, x0):
        return training_loss(model, p, k, x0, loss_config, (VPSDE().t_min, 0.1) if loss_config.fp_weight else None)

    step = jax.jit(make_train_step(loss_fn, opt, cfg), donate_argnums=0)
    state, info = step(state, data)  # compile
    jax.block_until_ready(info.loss)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            state, info = step(state, data)
        jax.block_until_ready(info.loss)
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "transformer"], default="mlp")
    parser.add_argument("--hidden", default="128,128,128", help="MLP widths, or transformer width repeated per layer")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--fp-batch", type=int, default=0, help="samples entering the FP term (0: all)")
    parser.add_argument("--dim", type=int, default=2, help="MLP: dimension; transformer: number of beads")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    model_config = ModelConfig(kind=args.model, hidden=hidden)
    event_shape = (args.dim,) if args.model == "mlp" else (args.dim, 3)
    rows = {"dsm": time_step(LossConfig(), model_config, event_shape, args.batch, args.repeats)}
    for est in ("exact", "fd"):
        cfg = LossConfig(fp_weight=1e-3, fp_estimator=est, fp_batch_size=args.fp_batch)
        rows[f"dsm+fp ({est})"] = time_step(cfg, model_config, event_shape, args.batch, args.repeats)
    print(f"device: {jax.devices()[0].device_kind}, {args.model} {list(hidden)}, batch {args.batch}, "
          f"event {event_shape}, FP batch {args.fp_batch or args.batch}")
    for name, sec in rows.items():
        print(f"{name:16s} {1e3 * sec:8.2f} ms/step   {sec / rows['dsm']:5.2f} x DSM")
    print(json.dumps({k: v / rows["dsm"] for k, v in rows.items()}))


if __name__ == "__main__":
    main()
