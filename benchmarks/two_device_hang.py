"""Reproducer of the two-CPU-device training hang (benchmarks/RESULTS.md, row e).

Trains the Mueller-Brown "both" preset (three experts) on every JAX device, with checkpoints,
and watches the metrics file: if no step is logged for ``--patience`` seconds, it prints the
stacks of all threads and exits with status 3. Status 0: it finished. On this 2-core machine
with two CPU devices:

    python benchmarks/two_device_hang.py --out runs/hang_check [--steps 1500] [--checkpoint-every 500]

``fit`` trains on one CPU device by default (see ``scoremd.training.fit``); this script passes all
devices on purpose. ``--sync`` turns off JAX's asynchronous CPU dispatch
(``jax_cpu_enable_async_dispatch``), to see whether the hang depends on it.
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import jax


def _watch(metrics: Path, patience: float) -> None:
    last, since = None, time.time()
    while True:
        time.sleep(5)
        size = metrics.stat().st_size if metrics.exists() else 0
        if size != last:
            last, since = size, time.time()
        elif time.time() - since > patience:
            tail = metrics.read_text().splitlines()[-1] if size else "nothing logged"
            print(f"HUNG: no step logged for {patience:g} s; last record: {tail}", flush=True)
            faulthandler.dump_traceback(all_threads=True)
            os._exit(3)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="run directory (replaced)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps per expert")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--patience", type=float, default=150.0, help="seconds without a logged step")
    parser.add_argument("--sync", action="store_true", help="turn off asynchronous CPU dispatch")
    args = parser.parse_args(argv)
    if args.sync:
        jax.config.update("jax_cpu_enable_async_dispatch", False)
    import scoremd
    import scoremd.app._stages as stages
    from scoremd.training import fit

    print(f"devices: {jax.devices()}", flush=True)
    if len(jax.devices()) < 2:
        print("only one device: nothing to check (set JAX_NUM_CPU_DEVICES=2)", file=sys.stderr)
        return 2
    stages.fit = functools.partial(fit, devices=jax.devices())  # all devices, not fit's CPU default
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    threading.Thread(target=_watch, args=(out / "metrics.jsonl", args.patience), daemon=True).start()
    config = scoremd.load_config(Path(__file__).parents[1] / "examples/configs/mueller_brown_both.toml",
                                 [f"train.steps={args.steps}", f"train.checkpoint_every={args.checkpoint_every}"])
    start = time.time()
    scoremd.train(config, out, progress=False)
    print(f"finished: 3 experts x {args.steps} steps in {time.time() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
