"""scoremd benchmark suite: every figure measured side by side in one run, on whatever machine it runs.

    python benchmarks/run.py [--run RUN_DIR] [--quick] [--rows abcde] [--out benchmarks/results.json]

Rows (see benchmarks/RESULTS.md for measured numbers and the machine):

a. Training-step cost of DSM + Fokker-Planck over plain DSM (same model, batch 1024), with the FP
   term on the whole batch and on 256 of the 1024 samples (the CPU presets), for the
   alanine-dipeptide MLP (invariant, 3 x 128) and the graph transformer (64 wide, 2 layers,
   4 heads x 16), the three FP estimators (exact, taylor, fd).
b. Learned-MD throughput (aggregate ns/day over 1, 10, 100, 1000 replicas; dt = 2 fs) against OpenMM
   simulating all-atom alanine dipeptide with the data's force field on the same cores (one
   single-threaded process per core, the fastest way to run OpenMM here), and the time of one MD
   step over one bare batched force evaluation at 100 and 1000 replicas.
b2. Effective independent samples per second: i.i.d. sampler (the CPU presets' 200-step SDE) against
   OpenMM reference MD, whose frames count through the integrated autocorrelation time of the
   indicator of phi > 0 (from the shipped reference data).
c. i.i.d. sampling: samples/s and network evaluations per sample, reverse SDE (1000 steps, and the
   CPU presets' 200) and probability-flow ODE (50 and 200 steps); with --run, the phi/psi JS of
   each against the held-out reference.
d. Compile times of the train step and of the simulation chunk, and whether a second call recompiles.
f. The OpenMM bridge (scoremd.app.openmm_bridge.to_openmm): learned MD driven by OpenMM's
   LangevinMiddleIntegrator through a PythonForce (1, 10 and 100 replicas in one System, one batched
   model call per step; several Contexts of one replica cost the one-replica time each) against scoremd's own jitted MD of the same model,
   aggregate ns/day at dt = 2 fs.
e. Data parallelism over 2 devices (XLA_FLAGS=--xla_force_host_platform_device_count=2 on a CPU, in
   a subprocess running benchmarks/sharding.py): the training loss curve against 1 device and the
   throughput ratios of training, MD and i.i.d. sampling.

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

from openmm_speed import openmm_all_cores, openmm_ns_per_day
from scoremd.diffusion import FP_ESTIMATORS, SAMPLERS, LossConfig, sample, training_loss
from scoremd.dynamics import LangevinMiddle, simulate
from scoremd.models import ModelConfig, build_model
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
    for name, mc, repeats in [("mlp", MLP, 5 if quick else 20), ("transformer", TRANSFORMER, 1 if quick else 2)]:
        times = {}
        for label, lc in [("dsm", LossConfig())] + [
            (f"{est}{'' if fp_batch == 0 else '_256'}",
             LossConfig(fp_weight=5e-4, fp_estimator=FP_ESTIMATORS[est](), fp_t_max=0.1, fp_batch_size=fp_batch))
            for fp_batch in (0, 256) for est in ("exact", "taylor", "fd")
        ]:
            step, state, data = _train_step(mc, lc)
            holder = [state]

            def call():
                holder[0], info = step(holder[0], data)
                jax.block_until_ready(info.loss)

            call()
            call()
            times[label] = _best(call, repeats)
        out[name] = {"dsm_s": times["dsm"], **{f"{k}_s": v for k, v in times.items() if k != "dsm"},
                     **{f"{k}_ratio": v / times["dsm"] for k, v in times.items() if k != "dsm"}}
        r = out[name]
        print(f"a. {name:12s} DSM {times['dsm'] * 1e3:7.1f} ms/step | FP on all 1024: exact {r['exact_ratio']:5.2f}x, "
              f"taylor {r['taylor_ratio']:5.2f}x, fd {r['fd_ratio']:5.2f}x | FP on 256: exact "
              f"{r['exact_256_ratio']:5.2f}x, taylor {r['taylor_256_ratio']:5.2f}x, fd {r['fd_256_ratio']:5.2f}x",
              flush=True)
    return out


def _emulator(run_dir):
    if run_dir:
        from scoremd.app import load

        em = load(run_dir)
        return em.force, em.masses, em.kbt, em
    model, params = build_model(MLP, EVENT, VPSDE(), key=jax.random.PRNGKey(0))
    scale, kbt = 0.094, ALANINE_DIPEPTIDE.kbt

    def force(x):
        return (kbt / scale) * model.score(params, x / scale, 1e-5)

    return force, np.array([12.011, 14.007, 12.011, 12.011, 14.007], np.float32), kbt, None


def _start(n):
    """n alanine-dipeptide CG frames (nm) from the shipped reference, or jittered copies of one."""
    from scoremd.data import load_molecular_data

    data = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data")
    idx = np.random.default_rng(0).choice(len(data.train), n)
    return jnp.asarray(data.positions[data.train[idx]])


def _time_simulate(force, x0, masses, cfg, frames: int, steps_per_frame: int, devices=None) -> float:
    """Best-of-3 seconds per MD step (the integrator is compiled once, then reused)."""
    simulate(cfg, force, x0, masses, frames, steps_per_frame, key=jax.random.PRNGKey(0), frames_per_chunk=frames,
             devices=devices)
    return _best(lambda: simulate(cfg, force, x0, masses, frames, steps_per_frame, key=jax.random.PRNGKey(1),
                                  frames_per_chunk=frames, devices=devices), 1) / (frames * steps_per_frame)


def row_b(run_dir, quick: bool) -> dict:
    force, masses, kbt, _ = _emulator(run_dir)
    cfg = LangevinMiddle(kbt=kbt, friction=1.0, dt=0.002)
    out = {"replicas": {}, "devices": len(jax.devices())}
    for r in (1, 10, 100, 1000):
        # Default settings (every device: one per core on a CPU, scoremd.parallel), and one device.
        step_s = _time_simulate(force, _start(r), masses, cfg, *((2, 250) if quick else (4, 500)))
        one_s = _time_simulate(force, _start(r), masses, cfg, *((2, 250) if quick else (4, 500)),
                               devices=jax.devices()[:1]) if len(jax.devices()) > 1 else step_s
        ns_day = r * 0.002 / 1000 / (step_s / 86400)
        out["replicas"][r] = {"step_ms": step_s * 1e3, "ns_per_day": ns_day, "one_device_step_ms": one_s * 1e3,
                              "one_device_ns_per_day": r * 0.002 / 1000 / (one_s / 86400)}
        print(f"b. learned MD {r:5d} replicas: {step_s * 1e3:7.3f} ms/step, {ns_day:10.0f} ns/day aggregate "
              f"(default, {len(jax.devices())} device(s)); one device {one_s * 1e3:7.3f} ms/step", flush=True)
    # One step against one bare force evaluation and one energy evaluation, both jitted loops.
    kernel = cfg.kernel(force, masses)
    n_inner = 200
    for r in (100, 1000):
        x0 = _start(r)
        state = jax.jit(kernel.init)(x0, key=jax.random.PRNGKey(0))

        @jax.jit
        def steps(s):
            def body(i, s):
                return kernel.step(jax.random.fold_in(jax.random.PRNGKey(1), i), s)[0]

            return jax.lax.fori_loop(0, n_inner, body, s, unroll=4)

        @jax.jit
        def forces(x):
            return jax.lax.fori_loop(0, n_inner, lambda _, y: y + 1e-9 * force(y), x)

        jax.block_until_ready(steps(state))
        jax.block_until_ready(forces(x0))
        t_step = _best(lambda: jax.block_until_ready(steps(state)), 3) / n_inner
        t_force = _best(lambda: jax.block_until_ready(forces(x0)), 3) / n_inner
        out[f"force_ms_{r}"], out[f"bare_step_ms_{r}"] = t_force * 1e3, t_step * 1e3
        # Both on one device: the jitted force loop is not split over devices.
        out[f"step_over_force_{r}"] = out["replicas"][r]["one_device_step_ms"] / 1e3 / t_force
    seconds = 8.0 if quick else 20.0
    omm, omm_platform = openmm_ns_per_day(seconds)
    per_core = openmm_all_cores(seconds, omm_platform)
    out.update(openmm_ns_per_day=omm, openmm_platform=omm_platform, openmm_per_core_ns_per_day=per_core,
               openmm_all_cores_ns_per_day=float(sum(per_core)))
    for r in out["replicas"]:
        out["replicas"][r]["speedup_vs_openmm"] = out["replicas"][r]["ns_per_day"] / out["openmm_all_cores_ns_per_day"]
        out["replicas"][r]["speedup_vs_openmm_one_process"] = out["replicas"][r]["ns_per_day"] / omm
        out["replicas"][r]["one_device_speedup_vs_openmm"] = (out["replicas"][r]["one_device_ns_per_day"]
                                                              / out["openmm_all_cores_ns_per_day"])
    print(f"b. OpenMM all-atom ({omm_platform}): one process {omm:.0f} ns/day; one per core at once "
          f"({len(per_core)}): {sum(per_core):.0f} ns/day aggregate", flush=True)
    print(f"b. learned MD over OpenMM on all cores (default settings): 100 replicas "
          f"{out['replicas'][100]['speedup_vs_openmm']:.1f}x, 1000 replicas "
          f"{out['replicas'][1000]['speedup_vs_openmm']:.1f}x (one device: "
          f"{out['replicas'][100]['one_device_speedup_vs_openmm']:.1f}x, "
          f"{out['replicas'][1000]['one_device_speedup_vs_openmm']:.1f}x) | MD step / bare force evaluation: "
          f"100 replicas {out['step_over_force_100']:.2f}, 1000 replicas {out['step_over_force_1000']:.2f}", flush=True)
    return out


def integrated_autocorrelation_time(runs: list[np.ndarray], max_lag: int | None = None) -> float:
    """tau = 1 + 2 sum_k rho(k) (frames) of an observable over several runs, pooled.

    The autocorrelation uses the mean and variance over all runs, so a run stuck in
    one state counts as the slow mixing it is (per run, its variance would be ~0 and
    its tau meaninglessly small). The sum stops where rho first drops below 0.
    """
    runs = [np.asarray(r, float) for r in runs]
    mean = np.mean(np.concatenate(runs))
    var = np.var(np.concatenate(runs))
    n_max = max(len(r) for r in runs)
    num, count = np.zeros(n_max), np.zeros(n_max)
    for r in runs:
        y, n = r - mean, len(r)
        f = np.fft.rfft(y, 2 * n)
        num[:n] += np.fft.irfft(f * np.conj(f))[:n]
        count[:n] += np.arange(n, 0, -1)
    acf = num / np.maximum(count, 1) / var
    max_lag = max_lag or min(len(r) for r in runs) // 2
    tau = 1.0
    for k in range(1, max_lag):
        if acf[k] < 0:
            break
        tau += 2 * acf[k]
    return tau


def row_b2_c(run_dir, b: dict, quick: bool) -> tuple[dict, dict]:
    from scoremd.analysis import dihedral_metrics
    from scoremd.data import load_molecular_data
    from scoremd.geometry import dihedral_angles

    _, _, _, em = _emulator(run_dir)
    if em is None:
        model, params = build_model(MLP, EVENT, VPSDE(), key=jax.random.PRNGKey(0))

        def score_fn(x, t):
            return model.score(params, x, t)
    else:
        score_fn = em._normalised_score
    n = 2000 if quick else 10000
    data = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data")
    c = {}
    for method, steps, evals in [("sde", 1000, 1001), ("sde", 200, 201), ("ode", 50, 101), ("ode", 200, 401)]:
        def draw(seed):
            return sample(SAMPLERS[method](n_steps=steps), score_fn, VPSDE(), n, EVENT, key=jax.random.PRNGKey(seed),
                          chunk_size=n)

        draw(0)  # compile
        start = time.perf_counter()
        x = draw(1)
        seconds = time.perf_counter() - start
        name = f"{method}_{steps}"
        c[name] = {"steps": steps, "network_evals_per_sample": evals, "samples_per_s": n / seconds}
        if em is not None:
            ref = data.positions[data.validation]
            c[name]["js"] = dihedral_metrics(ALANINE_DIPEPTIDE, np.asarray(x) * em.scale, ref)["js"]
        print(f"c. {method}: {steps} steps, {evals} network evaluations per sample, {n / seconds:.0f} samples/s"
              + (f", JS {c[name]['js']:.4f}" if "js" in c[name] else ""), flush=True)
    # b2: effective samples per second, i.i.d. (the presets' SDE) against OpenMM, whose frames
    # count through the autocorrelation of phi > 0.
    phi = dihedral_angles(data.positions, ALANINE_DIPEPTIDE.dihedrals)[:, 0]
    runs = [(phi[data.run_index == r] > 0).astype(float) for r in np.unique(data.run_index)]
    tau_frames = integrated_autocorrelation_time(runs)  # frames of 1 ps
    share = [float(r.mean()) for r in runs]
    openmm_frames_per_s = b["openmm_all_cores_ns_per_day"] * 1000 / 86400  # 1 frame per ps, all cores
    openmm_eff = openmm_frames_per_s / tau_frames
    preset = c["sde_200"]  # the CPU presets' sampler (the ODE is faster but puts too much mass at phi > 0)
    b2 = {"tau_phi_positive_ps": tau_frames, "phi_positive_share_per_run": share, "openmm_effective_per_s": openmm_eff,
          "iid_sampler": "sde_200", "iid_samples_per_s": preset["samples_per_s"],
          "ratio": preset["samples_per_s"] / openmm_eff}
    print(f"b2. tau(phi > 0) = {tau_frames:.0f} ps over {len(runs)} runs of {len(runs[0])} ps (phi > 0 share per run: "
          f"{', '.join(f'{x:.4f}' for x in share)}); OpenMM "
          f"{openmm_eff:.3g} effective samples/s; i.i.d. (SDE, 200 steps) {preset['samples_per_s']:.0f}/s: "
          f"{b2['ratio']:.3g}x", flush=True)
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
    cfg = LangevinMiddle(kbt=kbt, friction=1.0, dt=0.002)
    x0 = _start(100)
    for call in ("first", "second"):
        start = time.perf_counter()
        simulate(cfg, force, x0, masses, 5, 10, key=jax.random.PRNGKey(0), frames_per_chunk=5)
        out[f"simulate_{call}_call_s"] = time.perf_counter() - start
    from scoremd.dynamics._simulate import _COMPILED

    (init, chunk), = [v for k, v in _COMPILED.items() if k[1] is force]
    out["simulate_chunk_compilations"] = chunk._cache_size()
    print(f"d. train step: first call {out['train_step_first_call_s']:.1f} s, second "
          f"{out['train_step_second_call_s'] * 1e3:.1f} ms, {out['train_step_compilations']} compilation(s) | "
          f"simulate (100 replicas, 50 steps): first call {out['simulate_first_call_s']:.2f} s, second "
          f"{out['simulate_second_call_s'] * 1e3:.1f} ms, {out['simulate_chunk_compilations']} compilation(s)",
          flush=True)
    return out


def row_e(quick: bool) -> dict:
    """Run benchmarks/sharding.py in a subprocess with two host devices."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    script = Path(__file__).with_name("sharding.py")
    res = subprocess.run([sys.executable, str(script)] + (["--quick"] if quick else []), env=env,
                         capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"benchmarks/sharding.py failed:\n{res.stderr[-3000:]}")
    lines = res.stdout.strip().splitlines()
    print("\n".join(lines[:-1]), flush=True)
    return json.loads(lines[-1])


def row_f(run_dir, quick: bool) -> dict:
    """Learned MD through OpenMM's PythonForce against scoremd's own MD of the same model."""
    import tempfile

    import openmm
    from openmm import unit

    from scoremd.app import load, load_config, train
    from scoremd.app.openmm_bridge import to_openmm

    with tempfile.TemporaryDirectory() as tmp:
        if run_dir:
            em = load(run_dir)
        else:  # the CPU preset's network, barely trained: the same cost per evaluation
            config = load_config(ROOT / "examples" / "configs" / "alanine_dipeptide_diffusion.toml",
                                 [f"data.dir={ROOT / 'data'}", "train.steps=2", "train.log_every=1",
                                  "train.checkpoint_every=2", "train.batch_size=8"])
            em = train(config, Path(tmp) / "run", progress=False)
        dt, n_steps = 0.002, (200 if quick else 1000)
        out = {"model": run_dir or "CPU preset network (diffusion), untrained", "dt_ps": dt}
        for r in (1, 10, 100):
            cg = to_openmm(em, replicas=r)
            integrator = openmm.LangevinMiddleIntegrator(cg.temperature, 1.0, dt)
            context = openmm.Context(cg.system, integrator, openmm.Platform.getPlatformByName("Reference"))
            context.setPositions(cg.positions)
            context.setVelocitiesToTemperature(cg.temperature * unit.kelvin, 0)
            integrator.step(20)  # compile and warm up
            step_s = _best(lambda: (integrator.step(n_steps), context.getState(getEnergy=True)), 1) / n_steps
            own_s = _time_simulate(em.force, jnp.asarray(cg.positions.value_in_unit(unit.nanometer),
                                                         jnp.float32).reshape(r, *em.event_shape),
                                   em.masses, LangevinMiddle(kbt=em.kbt, friction=1.0, dt=dt),
                                   *((2, 100) if quick else (4, 250)))
            bridge, own = r * dt / 1000 * 86400 / step_s, r * dt / 1000 * 86400 / own_s
            out[r] = {"openmm_step_ms": step_s * 1e3, "openmm_ns_per_day": bridge, "scoremd_step_ms": own_s * 1e3,
                      "scoremd_ns_per_day": own, "scoremd_over_openmm": own / bridge}
            print(f"f. OpenMM bridge {r:4d} replica(s) in one System: {step_s * 1e3:7.3f} ms/step, {bridge:9.0f} "
                  f"ns/day | scoremd MD {own_s * 1e3:7.3f} ms/step, {own:9.0f} ns/day | ratio {own / bridge:5.1f}x",
                  flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=None, help="a trained alanine-dipeptide run directory (rows b, b2, c)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--rows", default="abcdef", help="rows to run, e.g. 'a' or 'bd' (c runs with b)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__} on " \
              f"{jax.devices()[0].platform} ({len(jax.devices())} device(s))"
    print(f"machine: {machine}", flush=True)
    rows = set(args.rows)
    res = {}
    if "a" in rows:
        res["a_fp_cost"] = row_a(args.quick)
    if rows & {"b", "c"}:
        res["b_md"] = row_b(args.run, args.quick)
        res["b2_effective_samples"], res["c_sampling"] = row_b2_c(args.run, res["b_md"], args.quick)
    if "d" in rows:
        res["d_compile"] = row_d()
    if "e" in rows:
        res["e_sharding"] = row_e(args.quick)
    if "f" in rows:
        res["f_openmm_bridge"] = row_f(args.run, args.quick)
    headline = {}
    if "a_fp_cost" in res:
        headline["fp_dsm_ratio"] = res["a_fp_cost"]["transformer"]["exact_ratio"]
        headline["fp_dsm_ratio_fp_on_256"] = res["a_fp_cost"]["transformer"]["exact_256_ratio"]
    if "b_md" in res:
        headline["md_speedup_vs_openmm"] = res["b_md"]["replicas"][100]["speedup_vs_openmm"]
        headline["md_speedup_vs_openmm_1000"] = res["b_md"]["replicas"][1000]["speedup_vs_openmm"]
        headline["md_step_over_force"] = res["b_md"]["step_over_force_100"]
    command = " ".join(["python", "benchmarks/run.py", *sys.argv[1:]])
    results = {}
    if rows != set("abcdef") and Path(args.out).exists():  # a subset of rows updates the existing file
        results = json.loads(Path(args.out).read_text())
    results.update(machine=machine, **headline, **res)
    if rows & {"b", "c"}:
        results["model"] = args.run or "fresh invariant MLP 3 x 128"
    results.setdefault("commands", {}).update({row: command for row in sorted(rows)})
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
