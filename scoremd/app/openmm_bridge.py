"""A trained emulator as an OpenMM force field: :func:`to_openmm`.

OpenMM's ``PythonForce`` (OpenMM >= 8.6) calls a Python function of the State for
energy and forces. Here that function is the jitted learned model, compiled once:

    U(x) = k_BT E_theta(x/s, t0)  (kJ/mol),   F = -grad U = (k_BT/s) s_theta(x/s, t0)  (kJ/mol/nm).

The coarse-grained molecule becomes an OpenMM ``Topology`` and ``System`` with the bead
masses (amu); ``replicas`` > 1 puts that many non-interacting copies in one System, whose
force is one batched model call, so one Context runs many replicas. Users add their own
forces (restraints, biases, ``CustomCVForce``...) to the same System and use any OpenMM
integrator and reporter (DCD, XTC, StateData, checkpoints)::

    import scoremd, openmm
    cg = scoremd.to_openmm("runs/aldp")
    integrator = openmm.LangevinMiddleIntegrator(cg.temperature, 1.0, 0.002)
    simulation = openmm.app.Simulation(cg.topology, cg.system, integrator)
    simulation.context.setPositions(cg.positions)
    simulation.reporters.append(openmm.app.DCDReporter("learned.dcd", 500))
    simulation.step(100_000)

Units: nm, ps, kJ/mol, amu, K.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import positive_int
from .._errors import CheckpointError
from .emulator import Emulator

__all__ = ["OpenMMModel", "to_openmm"]


@dataclasses.dataclass(frozen=True)
class OpenMMModel:
    """The learned coarse-grained force field as OpenMM objects.

    Attributes:
      topology: ``openmm.app.Topology`` of the beads (one chain per replica).
      system: ``openmm.System`` with the bead masses (amu) and one ``PythonForce`` (the learned
        force, force group ``force_group``); add your own forces to it before making a Context.
      positions: starting positions (nm), ``openmm.unit.Quantity`` of shape (replicas * n_beads, 3):
        training frames, one per replica.
      temperature: the temperature the model was trained at (K), for the integrator.
      force_group: force group of the learned force (``getState(groups={force_group})``).
      replicas: non-interacting copies of the molecule in the System.
    """

    topology: Any
    system: Any
    positions: Any
    temperature: float
    force_group: int
    replicas: int


def _compiled_energy_and_force(emulator: Emulator, t: float, replicas: int):
    """Jitted x (replicas * n, 3) nm -> (total U kJ/mol, F (replicas * n, 3) kJ/mol/nm), float32 inside."""
    event = emulator.event_shape

    @jax.jit
    def energy_and_force(x):
        x = jnp.reshape(x, (replicas, *event))
        u, grad = jax.value_and_grad(lambda y: jnp.sum(emulator.energy(y, t)))(x)
        return u, jnp.reshape(-grad, (-1, 3))

    return energy_and_force


def _coarse_topology(emulator: Emulator, replicas: int):
    """The CG topology (from the run directory) repeated ``replicas`` times, as OpenMM objects."""
    top = emulator.topology()
    n_beads = emulator.event_shape[0]
    if top.n_atoms != n_beads:
        raise CheckpointError(f"the run's topology has {top.n_atoms} atoms but the model has {n_beads} beads; "
                              f"{emulator.run_dir} is inconsistent, retrain it")
    whole = top
    for _ in range(replicas - 1):
        whole = whole.join(top)
    return whole.to_openmm()


def to_openmm(source: Emulator | str | Path, *, replicas: int = 1, t: float | None = None,
              step: int | None = None, seed: int = 0, force_group: int = 0) -> OpenMMModel:
    """Build an OpenMM ``Topology`` and ``System`` whose force is the learned one.

    Args:
      source: a trained molecular :class:`Emulator`, or its run directory.
      replicas: non-interacting copies of the molecule in one System (one batched model call
        per force evaluation), > 0.
      t: diffusion time of the force field (default ``config.simulate.t0``).
      step: checkpoint step when ``source`` is a run directory (default: the latest).
      seed: chooses the training frames in ``positions``.
      force_group: OpenMM force group of the learned force, 0-31.

    Returns:
      :class:`OpenMMModel`.

    Raises:
      ValueError: a toy system (no particles), bad ``replicas`` or ``force_group``.
      CheckpointError: no run directory / topology, or a topology that does not match the model.
    """
    import openmm
    from openmm import unit

    if not hasattr(openmm, "PythonForce"):
        raise ImportError(f"to_openmm needs openmm.PythonForce (OpenMM >= 8.6); this is OpenMM {openmm.__version__}")
    if not isinstance(source, Emulator):
        from .runs import load

        source = load(source, step=step)
    emulator = source
    if not emulator.is_molecular:
        raise ValueError(f"{emulator.system.name} is a toy system without particles; to_openmm needs a molecule")
    replicas = positive_int(replicas, "replicas")
    if not 0 <= force_group <= 31:
        raise ValueError(f"force_group must be in 0..31, got {force_group}")
    t = emulator.config.simulate.t0 if t is None else float(t)
    topology = _coarse_topology(emulator, replicas)

    system = openmm.System()
    for m in np.tile(np.asarray(emulator.masses, np.float64), replicas):
        system.addParticle(float(m) * unit.amu)
    energy_and_force = _compiled_energy_and_force(emulator, t, replicas)

    def compute(state):
        x = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        u, f = energy_and_force(np.asarray(x, np.float32))
        return float(u), np.asarray(f, np.float64)

    force = openmm.PythonForce(compute)
    force.setForceGroup(force_group)
    system.addForce(force)
    start = emulator.initial_positions(replicas, seed=seed).reshape(-1, 3).astype(np.float64)
    return OpenMMModel(topology, system, start * unit.nanometer, float(emulator.system.temperature), force_group,
                       replicas)
