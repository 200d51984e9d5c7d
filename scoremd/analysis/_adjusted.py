"""Langevin MD against Metropolis-adjusted chains (MALA, HMC) of the learned energy at equal cost (toys).

Langevin MD with a finite time step samples a slightly wrong density; MALA and HMC on
the same learned energy sample exactly the model's Boltzmann density exp(-U_theta/k_BT).
For a toy, that density can be integrated on a grid, so every sampler is scored twice:
against the true density (the reference) and against the model's own density, at the
system's time step and at a larger one. Cost is counted in gradient evaluations of U.
"""

from __future__ import annotations

import jax
import numpy as np

from ..dynamics import HMC, MALA
from ..systems import boltzmann_bin_probabilities
from .metrics import compare_to_reference

__all__ = ["compare_adjusted"]


def compare_adjusted(emulator, *, chains: int, gradient_evaluations: int = 1000, large_step: float = 4.0,
                     n_leapfrog: int = 5, frames: int = 10, seed: int = 7) -> dict:
    """Langevin MD, MALA and HMC of a trained toy model at the system's dt and at ``large_step`` x dt.

    Every sampler gets ``chains`` chains started from the same training frames and the same
    budget of gradient evaluations per chain; the last half of it is recorded in ``frames``
    frames per chain. Step sizes follow the MD step: MALA eps = (k_BT/m) dt^2 / 2 (its
    proposal moves as far as an MD step), HMC leapfrog step dt with ``n_leapfrog`` steps.

    Returns:
      {"chains", "gradient_evaluations", "frames", "dt": [dt, large dt], "rows": [{"method",
      "dt", "step_size", "acceptance", "diverged", "js", "pmf", "js_model", "pmf_model", "n"}],
      "floor": {"js", "pmf", "n"}}: JS/PMF against the true density (js, pmf) and against
      the model's own Boltzmann density (js_model, pmf_model), and the floor (exact samples
      of the same size against the true density).
    """
    system = emulator.system
    kbt, mass = system.kbt, system.mass
    bounds = system.metric_bounds
    true = (system.bin_probabilities(system.js_bins), system.bin_probabilities(system.pmf_bins))
    model = tuple(boltzmann_bin_probabilities(emulator.energy, kbt, bounds, b) for b in (system.js_bins, system.pmf_bins))
    start = emulator.initial_positions(chains, seed=seed)
    half = gradient_evaluations // 2
    rows = []
    for dt in (system.dt, large_step * system.dt):
        for method in ("langevin", "mala", "hmc"):
            key = jax.random.PRNGKey(seed)
            if method == "langevin":
                every = max(1, half // frames)
                traj = emulator.simulate(start, gradient_evaluations // every, key=key, steps_per_frame=every,
                                         integrator=emulator.integrator(dt=dt), throw=False)
                x, diverged = traj.frames[-frames:], int(traj.diverged.sum())
                step, acceptance = dt, None
                x = x[:, ~traj.diverged]
            else:
                kernel = (MALA(step_size=kbt / mass * dt**2 / 2) if method == "mala"
                          else HMC(step_size=dt, n_leapfrog=n_leapfrog))
                per_step = kernel.gradients_per_step
                every = max(1, half // (frames * per_step))
                warmup = max(0, gradient_evaluations // per_step - every * frames)
                result = emulator.mcmc(start, frames, key=key, method=kernel, steps_per_frame=every, n_warmup=warmup)
                x, diverged = result.frames, 0
                step, acceptance = result.step_size, result.acceptance_rate
            x = np.asarray(x).reshape(-1, *system.event_shape)
            flat = x.reshape(len(x), -1)
            versus_true = compare_to_reference(flat, *true, bounds)
            versus_model = compare_to_reference(flat, *model, bounds)
            rows.append({"method": method, "dt": float(dt), "step_size": float(step), "acceptance": acceptance,
                         "diverged": diverged, "n": int(len(x)), **versus_true,
                         "js_model": versus_model["js"], "pmf_model": versus_model["pmf"]})
    exact = system.exact_samples(chains * frames, seed=seed)
    floor = {**compare_to_reference(exact.reshape(len(exact), -1), *true, bounds), "n": int(len(exact))}
    return {"chains": int(chains), "gradient_evaluations": int(gradient_evaluations), "frames": int(frames),
            "dt": [float(system.dt), float(large_step * system.dt)], "rows": rows, "floor": floor}


def adjusted_lines(result: dict) -> list[str]:
    """The report section of :func:`compare_adjusted`."""
    from ._text import format_metric as f

    lines = [
        "",
        "## Langevin MD against MALA and HMC on the learned energy",
        "",
        f"{result['chains']} chains each, started from the same training frames, "
        f"{result['gradient_evaluations']} gradient evaluations of the learned energy per chain "
        f"(MALA: one per step; HMC: one per leapfrog step), the last half recorded in {result['frames']} frames. "
        "Against the true density (JS, PMF) and against the model's own Boltzmann density exp(-U_theta/k_BT) "
        "integrated on a grid (JS model, PMF model): MALA and HMC are exact for the latter at any step, "
        "Langevin MD is not. Floor: exact samples of the same size against the true density "
        f"(JS {f(result['floor']['js'])}, PMF {f(result['floor']['pmf'])}, n = {result['floor']['n']}).",
        "",
        "| sampler | dt | step size | acceptance | diverged | n | JS | PMF | JS model | PMF model |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        acc = "–" if r["acceptance"] is None else f"{r['acceptance']:.2f}"
        lines.append(f"| {r['method']} | {r['dt']:g} | {r['step_size']:.3g} | {acc} | {r['diverged']} | {r['n']} | "
                     f"{f(r['js'])} | {f(r['pmf'])} | {f(r['js_model'])} | {f(r['pmf_model'])} |")
    return lines
