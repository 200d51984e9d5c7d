"""OpenMM's own speed on all-atom alanine dipeptide: the baseline of the learned-MD benchmark rows."""

from __future__ import annotations

import os
import time

__all__ = ["openmm_all_cores", "openmm_ns_per_day"]


def openmm_ns_per_day(seconds: float = 20.0, platform_name: str | None = None) -> tuple[float, str]:
    """All-atom alanine dipeptide (the data's protocol, 2 fs + H-bond constraints) in one process.

    Without ``platform_name`` every available platform is tried and the fastest is returned.
    """
    import openmm
    from openmm import app

    from scoremd.data.openmm import MDProtocol, _simulation, create_system, load_structure

    names = [platform_name] if platform_name else ["Reference", "CPU", "CUDA", "OpenCL"]
    best, best_platform = 0.0, ""
    for name in names:
        try:
            openmm.Platform.getPlatformByName(name)
        except Exception:
            continue
        p = MDProtocol(timestep=0.002, constraints="hbonds", platform=name)
        topology, positions = load_structure("alanine_dipeptide", app.ForceField(*p.forcefield))
        sim = _simulation(topology, create_system(topology, p), p, seed=1)
        if name == "CPU":
            sim.context.getPlatform().setPropertyDefaultValue("Threads", "1")
        sim.context.setPositions(positions)
        sim.minimizeEnergy()
        sim.step(500)
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / (1 if platform_name else 4):
            sim.step(500)
            steps += 500
        rate = steps * 0.002 / 1000 / ((time.perf_counter() - start) / 86400)
        if rate > best:
            best, best_platform = rate, name
        del sim
    return best, best_platform


def _openmm_worker(args):
    return openmm_ns_per_day(*args)[0]


def openmm_all_cores(seconds: float, platform_name: str) -> list[float]:
    """ns/day of one OpenMM process per core, all running at once."""
    import multiprocessing

    n = os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(n) as pool:
        return pool.map(_openmm_worker, [(seconds, platform_name)] * n)
