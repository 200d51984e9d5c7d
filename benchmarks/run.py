"""scoremd benchmark suite: every figure measured side by side in one run, on whatever machine it runs.

    python benchmarks/run.py [--run RUN_DIR] [--quick] [--out benchmarks/results.json]

Rows (see benchmarks/RESULTS.md for measured numbers and the machine):

a. Training-step cost of DSM + Fokker-Planck over plain DSM (same model, batch 1024, FP on the whole
   batch), for the alanine-dipeptide MLP (invariant, 3 x 128) and the graph transformer (64 wide,
   2 layers, 4 heads x 16), both FP estimators.
b. Learned-MD throughput (aggregate ns/day over 1, 10, 100, 1000 replicas; dt = 2 fs) against OpenMM
   simulating all-atom alanine dipeptide with the data's force field on the same machine, and the
   time of one MD step over one bare batched force evaluation at 100 replicas.
b2. Effective independent samples per second: i.i.d. sampler against OpenMM reference MD, whose
   frames count through the integrated autocorrelation time of the indicator of phi > 0 (from the
   shipped reference data).
c. i.i.d. sampling: samples/s and network evaluations per sample, reverse SDE (1000 steps) and
   probability-flow ODE (50 steps); with --run, the phi/psi JS of both against the held-out reference.
d. Compile times of the train step and of the simulation chunk, and whether a second call recompiles.
e. Data-parallel training over 2 devices (XLA_FLAGS=--xla_force_host_platform_device_count=2 on a
   CPU): loss curve against 1 device and the throughput ratio (run in a subprocess).

With --run RUN_DIR the trained model of that run is benchmarked (rows b, b2, c); otherwise a freshly
initialised network of the CPU preset's size (the cost is the same; JS is then not reported).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scoremd.dynamics import LangevinConfig, langevin, simulate
from scoremd.losses import LossConfig, training_loss
from scoremd.models import ModelConfig, build_model
from scoremd.sampling import sample
from scoremd.sde import VPSDE
from scoremd.systems import ALANINE_DIPEPTIDE
from scoremd.training import TrainConfig, init_train_state, make_optimizer, make_train_step

ROOT = Path(__file__).parents[1]
EVENT = ALANINE_DIPEPTIDE.event_shape
MLP = ModelConfig(kind="mlp", features="invariant", hidden=(128, 128, 128))
TRANSFORMER = ModelConfig(kind="transformer", hidden=(64, 64), heads=4, head_dim=16)


def _best(fn, repeats: int, rounds: int = 3) -> float:
    """Best-of-rounds mean seconds per call of fn() (which must block)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def _train_step(model_config, loss_config, batch=1024):
    model, params = build_model(model_config, EVENT, VPSDE(), key=jax.random.PRNGKey(0))
    cfg = TrainConfig(steps=10**6, batch_size=batch)
    opt = make_optimizer(cfg)
    data = jax.random.normal(jax.random.PRNGKey(2), (4 * batch, *EVENT))

    def loss_fn(p, k, x0):
        return training_loss(model, p, k, x0, loss_config)

    step = jax.jit(make_train_step(loss_fn, opt, cfg), donate_argnums=0)
    return step, init_train_state(params, opt, key=jax.random.PRNGKey(1)), data


def row_a(quick: bool) -> dict:
    out = {}
    for name, mc, repeats in [("mlp", MLP, 5 if quick else 20), ("transformer", TRANSFORMER, 1 if quick else 3)]:
        times = {}
        for label, lc in [("dsm", LossConfig()),
                          ("exact", LossConfig(fp_weight=5e-4, fp_estimator="exact", fp_t_max=0.1)),
                          ("fd", LossConfig(fp_weight=5e-4, fp_estimator="fd", fp_t_max=0.1))]:
            step, state, data = _train_step(mc, lc)
            holder = [state]

            def call():
                holder[0], info = step(holder[0], data)
                jax.block_until_ready(info.loss)

            call()
            call()
            times[label] = _best(call, repeats)
        out[name] = {"dsm_s": times["dsm"], "exact_s": times["exact"], "fd_s": times["fd"],
                     "exact_ratio": times["exact"] / times["dsm"], "fd_ratio": times["fd"] / times["dsm"]}
        print(f"a. {name:12s} DSM {times['dsm'] * 1e3:8.1f} ms | +FP exact {out[name]['exact_ratio']:5.2f}x | "
              f"+FP fd {out[name]['fd_ratio']:5.2f}x", flush=True)
    return out


def _emulator(run_dir):
    if run_dir:
        from scoremd.workflow import load

        em = load(run_dir)
        return em.force, em.masses, em.kbt, em
    model, params = build_model(MLP, EVENT, VPSDE(), key=jax.random.PRNGKey(0))
    scale, kbt = 0.094, ALANINE_DIPEPTIDE.kbt

    def force(x):
        return (kbt / scale) * model.score(params, x / scale, 1e-5)

    return force, np.array([12.011, 14.007, 12.011, 12.011, 14.007], np.float32), kbt, None


def _start(n):
    """n alanine-dipeptide CG frames (nm) from the shipped reference, or jittered copies of one."""
    from scoremd.systems import load_molecular_data

    data = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data")
    idx = np.random.default_rng(0).choice(len(data.train), n)
    return jnp.asarray(data.positions[data.train[idx]])


def openmm_ns_per_day(seconds: float = 20.0) -> tuple[float, str]:
    """All-atom alanine dipeptide (the data's protocol, 2 fs + H-bond constraints), fastest platform here."""
    import openmm
    from openmm import app

    from scoremd.systems._openmm import MDProtocol, _simulation, create_system, load_structure

    protocol = MDProtocol(timestep=0.002, constraints="hbonds")
    best, best_platform = 0.0, ""
    for name in ("Reference", "CPU", "CUDA", "OpenCL"):
        try:
            openmm.Platform.getPlatformByName(name)
        except Exception:
            continue
        p = MDProtocol(timestep=0.002, constraints="hbonds", platform=name)
        topology, positions = load_structure("alanine_dipeptide", app.ForceField(*protocol.forcefield))
        sim = _simulation(topology, create_system(topology, p), p, seed=1)
        sim.context.setPositions(positions)
        sim.minimizeEnergy()
        sim.step(500)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 4:
            sim.step(500)
            steps += 500
        rate = steps * 0.002 / 1000 / ((time.perf_counter() - start) / 86400)
        if rate > best:
            best, best_platform = rate, name
        del sim
    return best, best_platform


def row_b(run_dir, quick: bool) -> dict:
    force, masses, kbt, _ = _emulator(run_dir)
    cfg = LangevinConfig(kbt=kbt, friction=1.0, dt=0.002)
    out = {"replicas": {}}
    for r in (1, 10, 100, 1000):
        x0 = _start(r)
        frames, spf = (4, 250) if quick else (10, 500)
        simulate(force, x0, masses, cfg, 1, 10, key=jax.random.PRNGKey(0))  # compile the 1-frame chunk
        start = time.perf_counter()
        simulate(force, x0, masses, cfg, frames, spf, key=jax.random.PRNGKey(1), frames_per_chunk=frames)
        first = time.perf_counter() - start
        start = time.perf_counter()
        simulate(force, x0, masses, cfg, frames, spf, key=jax.random.PRNGKey(1), frames_per_chunk=frames)
        seconds = min(first, time.perf_counter() - start)
        step_s = seconds / (frames * spf)
        ns_day = r * 0.002 / 1000 / (step_s / 86400)
        out["replicas"][r] = {"step_ms": step_s * 1e3, "ns_per_day": ns_day}
        print(f"b. learned MD {r:5d} replicas: {step_s * 1e3:7.3f} ms/step, {ns_day:10.0f} ns/day aggregate", flush=True)
    # One step against one bare force evaluation, 100 replicas, both jitted.
    x0 = _start(100)
    init, step = langevin(force, masses, cfg)
    state = jax.jit(init)(x0, key=jax.random.PRNGKey(0))
    n_inner = 200

    @jax.jit
    def steps(s):
        return jax.lax.fori_loop(0, n_inner, lambda _, s: step(s), s)

    @jax.jit
    def forces(x):
        return jax.lax.fori_loop(0, n_inner, lambda _, y: y + 1e-9 * force(y), x)

    jax.block_until_ready(steps(state))
    jax.block_until_ready(forces(x0))
    t_step = _best(lambda: jax.block_until_ready(steps(state)), 3) / n_inner
    t_force = _best(lambda: jax.block_until_ready(forces(x0)), 3) / n_inner
    out["step_over_force_100"] = t_step / t_force
    omm, omm_platform = openmm_ns_per_day(8.0 if quick else 20.0)
    out["openmm_ns_per_day"], out["openmm_platform"] = omm, omm_platform
    for r in out["replicas"]:
        out["replicas"][r]["speedup_vs_openmm"] = out["replicas"][r]["ns_per_day"] / omm
    print(f"b. OpenMM all-atom ({omm_platform}, one process): {omm:.0f} ns/day | learned MD at 100 replicas: "
          f"{out['replicas'][100]['speedup_vs_openmm']:.1f}x, 1000: {out['replicas'][1000]['speedup_vs_openmm']:.1f}x "
          f"| step / force at 100 replicas: {out['step_over_force_100']:.2f}", flush=True)
    return out


def integrated_autocorrelation_time(x: np.ndarray, max_lag: int | None = None) -> float:
    """tau = 1 + 2 sum_k rho(k), summed until rho first drops below 0 (frames)."""
    x = np.asarray(x, float) - np.mean(x)
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(f * np.conj(f))[:n] / (np.arange(n, 0, -1) * x.var())
    max_lag = max_lag or n // 10
    tau = 1.0
    for k in range(1, max_lag):
        if acf[k] < 0:
            break
        tau += 2 * acf[k]
    return tau


def row_b2_c(run_dir, b: dict, quick: bool) -> tuple[dict, dict]:
    from scoremd.analysis.molecular import dihedral_metrics
    from scoremd.systems import load_molecular_data
    from scoremd.systems._molecule import dihedral_angles

    _, _, _, em = _emulator(run_dir)
    if em is None:
        model, params = build_model(MLP, EVENT, VPSDE(), key=jax.random.PRNGKey(0))

        def score_fn(x, t):
            return model.score(params, x, t)
    else:
        score_fn = em.score
    n = 2000 if quick else 20000
    data = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data")
    c = {}
    for method, steps, evals in [("sde", 1000, 1001), ("ode", 50, 101)]:
        def draw(seed):
            return sample(score_fn, VPSDE(), n, EVENT, key=jax.random.PRNGKey(seed), method=method, n_steps=steps,
                          chunk_size=n)

        draw(0)  # compile
        start = time.perf_counter()
        x = draw(1)
        seconds = time.perf_counter() - start
        c[method] = {"steps": steps, "network_evals_per_sample": evals, "samples_per_s": n / seconds}
        if em is not None:
            ref = data.positions[data.validation]
            c[method]["js"] = dihedral_metrics(ALANINE_DIPEPTIDE, np.asarray(x) * em.scale, ref)["js"]
        print(f"c. {method}: {steps} steps, {evals} network evaluations per sample, {n / seconds:.0f} samples/s"
              + (f", JS {c[method]['js']:.4f}" if "js" in c[method] else ""), flush=True)
    # b2: effective samples per second, i.i.d. (ODE) against OpenMM via the autocorrelation of phi > 0.
    phi = dihedral_angles(data.positions, ALANINE_DIPEPTIDE.dihedrals)[:, 0]
    taus = [integrated_autocorrelation_time((phi[data.run_index == r] > 0).astype(float))
            for r in np.unique(data.run_index)]
    tau_frames = float(np.mean(taus))  # frames of 1 ps
    openmm_frames_per_s = b["openmm_ns_per_day"] * 1000 / 86400  # 1 frame per ps
    openmm_eff = openmm_frames_per_s / tau_frames
    best = max(c.values(), key=lambda v: v["samples_per_s"])
    b2 = {"tau_phi_positive_ps": tau_frames, "tau_per_run_ps": taus, "openmm_effective_per_s": openmm_eff,
          "iid_samples_per_s": best["samples_per_s"], "ratio": best["samples_per_s"] / openmm_eff}
    print(f"b2. tau(phi > 0) = {tau_frames:.0f} ps (runs: {', '.join(f'{t:.0f}' for t in taus)}); OpenMM "
          f"{openmm_eff:.3g} effective samples/s; i.i.d. {best['samples_per_s']:.0f}/s: {b2['ratio']:.3g}x", flush=True)
    return b2, c


def row_d() -> dict:
    out = {}
    step, state, data = _train_step(MLP, LossConfig(fp_weight=5e-4, fp_t_max=0.1))
    start = time.perf_counter()
    state, info = step(state, data)
    jax.block_until_ready(info.loss)
    out["train_step_first_call_s"] = time.perf_counter() - start
    start = time.perf_counter()
    state, info = step(state, data)
    jax.block_until_ready(info.loss)
    out["train_step_second_call_s"] = time.perf_counter() - start
    out["train_step_compilations"] = step._cache_size()
    force, masses, kbt, _ = _emulator(None)
    cfg = LangevinConfig(kbt=kbt, friction=1.0, dt=0.002)
    x0 = _start(100)
    start = time.perf_counter()
    simulate(force, x0, masses, cfg, 5, 10, key=jax.random.PRNGKey(0), frames_per_chunk=5)
    out["simulate_first_call_s"] = time.perf_counter() - start
    start = time.perf_counter()
    simulate(force, x0, masses, cfg, 5, 10, key=jax.random.PRNGKey(0), frames_per_chunk=5)
    out["simulate_second_call_s"] = time.perf_counter() - start
    print(f"d. train step: first call {out['train_step_first_call_s']:.1f} s, second "
          f"{out['train_step_second_call_s'] * 1e3:.1f} ms, {out['train_step_compilations']} compilation(s) | "
          f"simulate: first call {out['simulate_first_call_s']:.1f} s, second {out['simulate_second_call_s']:.2f} s "
          "(a new simulate() call builds a new chunk: it recompiles)", flush=True)
    return out


def row_e() -> dict:
    """Run benchmarks/sharding.py in a subprocess with two host devices."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    script = Path(__file__).with_name("sharding.py")
    if not script.exists():
        print("e. not measured: data-parallel training is not implemented yet", flush=True)
        return {"implemented": False}
    res = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    print(res.stdout.strip(), flush=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=None, help="a trained alanine-dipeptide run directory (rows b, b2, c)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__} on " \
              f"{jax.devices()[0].platform} ({len(jax.devices())} device(s))"
    print(f"machine: {machine}", flush=True)
    a = row_a(args.quick)
    b = row_b(args.run, args.quick)
    b2, c = row_b2_c(args.run, b, args.quick)
    d = row_d()
    e = row_e()
    results = {
        "machine": machine,
        "model": args.run or "fresh invariant MLP 3 x 128",
        "fp_dsm_ratio": a["transformer"]["exact_ratio"],
        "md_speedup_vs_openmm": b["replicas"][100]["speedup_vs_openmm"],
        "md_step_over_force": b["step_over_force_100"],
        "a_fp_cost": a, "b_md": b, "b2_effective_samples": b2, "c_sampling": c, "d_compile": d, "e_sharding": e,
    }
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
