"""A structure-based (Clementi-type Go) C-alpha model of a protein, built from OpenMM custom forces.

The fast-folding proteins of the paper were simulated all-atom by D. E. Shaw Research;
those trajectories cannot be downloaded here, and all-atom folding is too slow on a CPU.
This model is the local *surrogate*: it folds and unfolds many times in minutes, so the
whole pipeline can be exercised and scored on a reference made here (docs/design.md §6).
It is not the all-atom landscape.

Energy (Clementi, Nymeyer & Onuchic 2000, on C-alpha beads), with epsilon in kJ/mol:

* bonds i, i+1: K_b (r - r_0)^2 with K_b = 100 epsilon / A^2 = 10^4 epsilon / nm^2;
* angles: K_a (theta - theta_0)^2 with K_a = 20 epsilon / rad^2;
* dihedrals: k_1 [1 - cos(phi - phi_0)] + k_3 [1 - cos(3 (phi - phi_0))], k_1 = epsilon, k_3 = epsilon / 2;
* native contacts: epsilon [5 (r_0/r)^12 - 6 (r_0/r)^10];
* every other pair with |i - j| >= ``min_separation``: epsilon (sigma/r)^12, sigma = 0.4 nm
  (pairs i, i+3 have only the dihedral term).

r_0, theta_0, phi_0 are the native values. Native contacts use a C-alpha criterion: pairs
with |i - j| >= ``min_separation`` (4) whose native C-alpha distance is below
``contact_cutoff`` (1.0 nm; the structures hold C-alpha atoms only, so no heavy-atom
criterion is possible). A contact counts as formed when r < ``contact_factor`` r_0 (1.2);
Q is the fraction formed. Bead masses are the residue masses (amu).

Units: nm, ps, kJ/mol, amu, K. Native structures are PDB files of C-alpha atoms (in
``data/folded/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..geometry import fraction_native_contacts, native_contacts
from ._coarse_graining import RESIDUE_MASSES

__all__ = ["GoModel", "RESIDUE_MASSES", "calibrate", "count_transitions", "simulate_go"]



@dataclasses.dataclass(frozen=True)
class GoModel:
    """The structure-based model of one protein.

    Attributes:
      native: PDB file of the native structure, C-alpha atoms only, one chain.
      epsilon: contact energy (kJ/mol); with the temperature it sets the folding equilibrium.
      contact_cutoff: native-contact criterion on the native C-alpha distance (nm).
      min_separation: smallest sequence separation |i - j| of contacts and repulsive pairs.
      repulsion_sigma: range of the non-native repulsion (nm).
      contact_factor: a contact is formed when r < contact_factor * r_0.
    """

    native: str
    epsilon: float
    contact_cutoff: float = 1.0
    min_separation: int = 4
    repulsion_sigma: float = 0.4
    contact_factor: float = 1.2

    def __post_init__(self):
        if not self.epsilon > 0 or not self.contact_cutoff > 0 or not self.repulsion_sigma > 0:
            raise ValueError("epsilon, contact_cutoff and repulsion_sigma must be positive")
        if self.min_separation < 3:
            raise ValueError("min_separation must be >= 3 (closer pairs are bonds, angles and dihedrals)")
        object.__setattr__(self, "native", str(self.native))

    # -- the native structure --------------------------------------------------------------------

    def native_structure(self):
        """(OpenMM topology, native positions (n, 3) in nm, residue names) of the C-alpha PDB."""
        from openmm import unit

        from .structures import read_pdb

        path = Path(self.native)
        shipped = Path(__file__).resolve().parents[2] / "data" / "folded"
        pdb = read_pdb(path, f"does not exist (the shipped native C-alpha structures are in {shipped})")
        atoms = list(pdb.topology.atoms())
        names = [a.residue.name for a in atoms]
        if any(a.name != "CA" for a in atoms) or len(atoms) < 4:
            raise DataError(f"{path} must hold one C-alpha atom (name CA) per residue, at least 4; "
                            f"it has atoms {sorted({a.name for a in atoms})[:5]}")
        unknown = sorted({n for n in names if n not in RESIDUE_MASSES})
        if unknown:
            raise DataError(f"{path}: unknown residue names {unknown}; use the 20 standard three-letter codes")
        x = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.nanometer), np.float64)
        bonds = np.linalg.norm(np.diff(x, axis=0), axis=-1)
        if np.any(np.abs(bonds - 0.38) > 0.05):
            raise DataError(f"{path}: consecutive C-alpha atoms are {bonds.min():.3f}-{bonds.max():.3f} nm apart, "
                            "not ~0.38 nm: a chain break or missing residue")
        return pdb.topology, x, names

    def native_sha256(self) -> str:
        return hashlib.sha256(Path(self.native).read_bytes()).hexdigest()

    def contacts(self) -> tuple[np.ndarray, np.ndarray]:
        """Native contacts: (pairs (K, 2) int, native distances r_0 (K,) nm)."""
        _, x, _ = self.native_structure()
        return _contacts(x, self.contact_cutoff, self.min_separation)

    def masses(self) -> np.ndarray:
        """Bead masses (amu), shape (n,)."""
        _, _, names = self.native_structure()
        return np.array([RESIDUE_MASSES[n] for n in names])

    # -- the OpenMM system -----------------------------------------------------------------------

    def create_system(self):
        """The ``openmm.System`` of this model (no cutoff, no periodic box)."""
        import openmm

        _, x, names = self.native_structure()
        n, eps = len(x), self.epsilon
        system = openmm.System()
        for name in names:
            system.addParticle(RESIDUE_MASSES[name])
        bonds = openmm.HarmonicBondForce()  # OpenMM: (k/2)(r - r0)^2, so k = 2 K_b
        for i in range(n - 1):
            bonds.addBond(i, i + 1, float(np.linalg.norm(x[i + 1] - x[i])), 2 * 1e4 * eps)
        angles = openmm.HarmonicAngleForce()
        for i in range(n - 2):
            angles.addAngle(i, i + 1, i + 2, _angle(x[i], x[i + 1], x[i + 2]), 2 * 20.0 * eps)
        torsions = openmm.PeriodicTorsionForce()  # k (1 + cos(n phi - phase)); phase = n phi_0 + pi
        for i in range(n - 3):
            phi0 = _dihedral(*x[i : i + 4])
            for mult, k in ((1, eps), (3, eps / 2)):
                torsions.addTorsion(i, i + 1, i + 2, i + 3, mult, mult * phi0 + np.pi, k)
        native = openmm.CustomBondForce("eps * (5 * (r0 / r)^12 - 6 * (r0 / r)^10)")
        native.addGlobalParameter("eps", eps)
        native.addPerBondParameter("r0")
        pairs, r0 = _contacts(x, self.contact_cutoff, self.min_separation)
        for (i, j), r in zip(pairs, r0):
            native.addBond(int(i), int(j), [float(r)])
        repulsive = openmm.CustomBondForce("eps * (sigma / r)^12")
        repulsive.addGlobalParameter("sigma", self.repulsion_sigma)
        repulsive.addGlobalParameter("eps", eps)
        is_native = {(int(i), int(j)) for i, j in pairs}
        for i in range(n):
            for j in range(i + self.min_separation, n):
                if (i, j) not in is_native:
                    repulsive.addBond(i, j, [])
        for force in (bonds, angles, torsions, native, repulsive):
            system.addForce(force)
        return system

    # -- observables -----------------------------------------------------------------------------

    def fraction_native_contacts(self, x: np.ndarray) -> np.ndarray:
        """Q of frames x (N, n, 3) nm: the fraction of native contacts with r < contact_factor * r_0, (N,)."""
        return fraction_native_contacts(x, *self.contacts(), self.contact_factor)


def _contacts(x, cutoff, min_separation):
    pairs, r0 = native_contacts(x, cutoff, min_separation)
    if not len(r0):
        raise DataError(f"no native contacts within {cutoff} nm at |i - j| >= {min_separation}")
    return pairs, r0


def _angle(a, b, c):
    u, v = a - b, c - b
    return float(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1.0, 1.0)))


def _dihedral(a, b, c, d):
    b0, b1, b2 = a - b, c - b, d - c
    b1n = b1 / np.linalg.norm(b1)
    v = b0 - (b0 @ b1n) * b1n
    w = b2 - (b2 @ b1n) * b1n
    return float(np.arctan2(np.cross(b1n, v) @ w, v @ w))


def count_transitions(q: np.ndarray, folded: float = 0.8, unfolded: float = 0.3) -> int:
    """Folding plus unfolding events of a Q time series (T,): crossings from one core state
    (Q > ``folded`` or Q < ``unfolded``) to the other; visits to the region between do not count."""
    state, n = 0, 0
    for value in np.asarray(q):
        s = 1 if value > folded else (-1 if value < unfolded else 0)
        if s and s != state:
            n += state != 0
            state = s
    return n


def simulate_go(model: GoModel, temperature: float, n_frames: int, *, dt: float = 0.01, friction: float = 1.0,
                steps_per_frame: int = 100, seed: int = 1, platform: str = "Reference"):
    """A short in-memory run from the native structure: (positions (n_frames, n, 3) nm, potential energies (n_frames,)
    kJ/mol). For calibration; reference data use :func:`scoremd.data.openmm.run_reference_md`, which streams."""
    import openmm
    from openmm import unit

    _, x0, _ = model.native_structure()
    integrator = openmm.LangevinMiddleIntegrator(temperature, friction, dt)
    integrator.setRandomNumberSeed(seed)
    context = openmm.Context(model.create_system(), integrator, openmm.Platform.getPlatformByName(platform))
    context.setPositions(x0)
    context.setVelocitiesToTemperature(temperature, seed)
    xs, es = np.empty((n_frames, len(x0), 3), np.float32), np.empty(n_frames)
    for k in range(n_frames):
        integrator.step(steps_per_frame)
        state = context.getState(getPositions=True, getEnergy=True)
        xs[k] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
        es[k] = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    if not np.isfinite(xs).all():
        raise DataError(f"the Go-model run of {model.native} produced NaN; lower dt ({dt} ps)")
    return xs, es


def calibrate(model: GoModel, epsilons, temperature: float, *, ns: float, discard_ns: float = 1.0,
              dt: float = 0.01, friction: float = 1.0, frame_interval: float = 1.0, seed: int = 1,
              progress=None) -> list[dict]:
    """Folding equilibrium against epsilon/k_BT at a fixed temperature (K), one run per epsilon from the native state.

    Returns one row per epsilon (kJ/mol): ``epsilon``, ``epsilon_over_kbt``, ``mean_q``, ``folded``
    (share with Q > 0.8), ``unfolded`` (Q < 0.3), ``transitions`` (:func:`count_transitions`) and
    ``transitions_per_ns`` after the first ``discard_ns``, ``heat_capacity`` Var(U)/(k_B T^2) in
    units of k_B (its peak marks the folding transition), ``ns_per_day``.
    """
    import time

    kbt = 0.0083144626 * temperature
    spf = int(round(frame_interval / dt))
    skip = int(round(discard_ns * 1000 / frame_interval))
    n_frames = skip + int(round(ns * 1000 / frame_interval))
    rows = []
    for eps in epsilons:
        m = dataclasses.replace(model, epsilon=float(eps))
        start = time.perf_counter()
        x, u = simulate_go(m, temperature, n_frames, dt=dt, friction=friction, steps_per_frame=spf, seed=seed)
        seconds = time.perf_counter() - start
        q, u = m.fraction_native_contacts(x[skip:]), u[skip:]
        row = {"epsilon": float(eps), "epsilon_over_kbt": float(eps) / kbt, "mean_q": float(q.mean()),
               "folded": float(np.mean(q > 0.8)), "unfolded": float(np.mean(q < 0.3)),
               "transitions": count_transitions(q), "transitions_per_ns": count_transitions(q) / ns,
               "heat_capacity": float(np.var(u) / kbt**2), "ns": ns,
               "ns_per_day": n_frames * frame_interval / 1000 / seconds * 86400}
        rows.append(row)
        if progress:
            progress(row)
    return rows
