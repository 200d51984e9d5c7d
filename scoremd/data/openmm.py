"""Reference molecular dynamics with OpenMM, written incrementally and resumable.

A *reference run* is a folder holding

    topology.pdb     the all-atom structure (after minimisation)
    positions.npy    frames (n_frames, n_atoms, 3), float32, nm (lossless; streamed); for
                     structures that store only some atoms (dipeptides: the beads),
                     (n_frames, n_stored, 3) with the atom indices in metadata ``stored_atoms``
    energies.npy     potential energy per frame, kJ/mol (streamed)
    forces.npy       forces per frame, kJ/mol/nm (only with ``save_forces``)
    state.npz        OpenMM checkpoint + the number of frames it belongs to (atomic)
    metadata.json    protocol, seed, command, software versions, SHA-256 of outputs, and
                     ``verified``: the frame count and SHA-256 of the frames when the run last
                     finished, which stay valid while the run grows further

Frames are appended chunk by chunk; after each chunk the OpenMM checkpoint is
replaced atomically together with its frame count, so a killed run resumes from
its last checkpoint (frames written after it are discarded) and nothing written
before is lost. :mod:`scoremd.data.reference_runs` reads runs back (also while they
grow). ``generate_runs`` runs several independent seeds in parallel one-thread
processes (the Reference platform is the fastest for these small implicit-solvent
systems on CPU; docs/design.md §9).
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

from .._errors import DataError
from ..storage import NpyFrameWriter, array_sha256, atomic_write_text, read_frames, sha256
from .go_model import GoModel


@dataclasses.dataclass(frozen=True)
class MDProtocol:
    """How reference data are simulated (docs/design.md §6; defaults: the paper's alanine dipeptide data).

    Attributes:
      forcefield: OpenMM force-field files (force field + implicit solvent).
      temperature: K.
      friction: Langevin collision rate, 1/ps.
      timestep: ps.
      constraints: ``"none"`` or ``"hbonds"``.
      frame_interval: ps between stored frames.
      equilibration: ps simulated (after minimisation) before the first stored frame.
      platform: OpenMM platform name.
      save_forces: also store forces per frame.
      cutoff: nonbonded cutoff in nm (``CutoffNonPeriodic``), or None for no cutoff
        (``NoCutoff``, the default for these small implicit-solvent systems).
      hydrogen_mass: hydrogen mass repartitioning: each hydrogen gets this mass (amu), taken
        from the heavy atom it is bonded to (total mass unchanged; the configurational
        equilibrium does not depend on masses), which allows 4-fs steps with H-bond
        constraints. None: natural masses.
    """

    forcefield: tuple[str, ...] = ("amber99sbildn.xml", "amber99_obc.xml")
    temperature: float = 300.0
    friction: float = 1.0
    timestep: float = 0.001
    constraints: str = "none"
    frame_interval: float = 1.0
    equilibration: float = 100.0
    platform: str = "Reference"
    save_forces: bool = False
    cutoff: float | None = None
    hydrogen_mass: float | None = None

    def __post_init__(self):
        if self.constraints not in ("none", "hbonds"):
            raise ValueError(f'constraints must be "none" or "hbonds", got {self.constraints!r}')
        if min(self.temperature, self.friction, self.timestep, self.frame_interval) <= 0 or self.equilibration < 0:
            raise ValueError("temperature, friction, timestep and frame_interval must be positive")
        steps = self.frame_interval / self.timestep
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"frame_interval ({self.frame_interval} ps) must be a multiple of timestep ({self.timestep} ps)")
        if self.cutoff is not None and not self.cutoff > 0:
            raise ValueError(f"cutoff must be a positive distance in nm or None, got {self.cutoff!r}")
        if self.hydrogen_mass is not None and not 1.0 <= self.hydrogen_mass <= 5.0:
            raise ValueError(f"hydrogen_mass must be between 1 and 5 amu (3 is usual with 4-fs steps) or None, "
                             f"got {self.hydrogen_mass!r}")
        object.__setattr__(self, "forcefield", tuple(self.forcefield))

    def record(self) -> dict:
        """The protocol as metadata.json stores it."""
        out = dataclasses.asdict(self)
        out["forcefield"] = list(self.forcefield)
        return out

    def matches(self, recorded: dict) -> bool:
        """Whether a recorded protocol is this one (fields added since it was recorded take their defaults)."""
        defaults = MDProtocol().record()
        return {**defaults, **recorded} == self.record()

    @property
    def steps_per_frame(self) -> int:
        return int(round(self.frame_interval / self.timestep))


def _openmm():
    import openmm
    from openmm import app, unit

    return openmm, app, unit


def load_structure(source, forcefield):
    """(topology, positions) of a named built-in structure, a PDB file, a :class:`GoModel`'s native
    structure, or a :class:`~scoremd.data.dipeptides.Dipeptide` built from its sequence.

    ``"alanine_dipeptide"`` builds ACE-ALA-NME from internal coordinates
    (:mod:`scoremd.data.structures`); any other string is read as a PDB file.
    """
    _, app, unit = _openmm()
    if isinstance(source, GoModel):
        topology, x, _ = source.native_structure()
        return topology, x * unit.nanometer
    if hasattr(source, "build"):  # a Dipeptide
        return source.build()
    if source == "alanine_dipeptide":
        from .structures import build_alanine_dipeptide

        return build_alanine_dipeptide(forcefield)
    from .structures import read_pdb

    pdb = read_pdb(source, "is neither a built-in name ('alanine_dipeptide') nor a PDB file")
    return pdb.topology, pdb.positions


def _structure_record(structure) -> str | dict:
    """What metadata.json records of the structure (a Go model: its settings and the native file's SHA-256)."""
    if isinstance(structure, GoModel):
        settings = {**dataclasses.asdict(structure), "native": Path(structure.native).name}  # the file, not its path
        return {"go_model": settings, "native_sha256": structure.native_sha256()}
    if hasattr(structure, "sequence"):
        return {"dipeptide": structure.sequence}
    return structure


def _system(structure, topology, protocol: MDProtocol):
    return structure.create_system() if isinstance(structure, GoModel) else create_system(topology, protocol)


def create_system(topology, protocol: MDProtocol):
    """OpenMM System with the protocol's force field, no cutoff (implicit solvent).

    Raises:
      DataError: OpenMM's diagnosis (e.g. a residue without template because of a
        missing atom or hydrogen) and a hint.
    """
    _, app, unit = _openmm()
    forcefield = app.ForceField(*protocol.forcefield)
    constraints = None if protocol.constraints == "none" else app.HBonds
    nonbonded = {"nonbondedMethod": app.NoCutoff} if protocol.cutoff is None else {
        "nonbondedMethod": app.CutoffNonPeriodic, "nonbondedCutoff": protocol.cutoff * unit.nanometer}
    try:
        hmr = {} if protocol.hydrogen_mass is None else {"hydrogenMass": protocol.hydrogen_mass * unit.amu}
        return forcefield.createSystem(topology, constraints=constraints, **nonbonded, **hmr)
    except ValueError as err:
        raise DataError(
            f"OpenMM cannot parameterise the structure with {', '.join(protocol.forcefield)}: {err} "
            "Add missing heavy atoms and hydrogens first (pdbfixer, or openmm.app.Modeller.addHydrogens) "
            "and check the residue names."
        ) from err


def _simulation(topology, system, protocol: MDProtocol, seed: int):
    openmm, app, unit = _openmm()
    integrator = openmm.LangevinMiddleIntegrator(
        protocol.temperature * unit.kelvin, protocol.friction / unit.picosecond, protocol.timestep * unit.picoseconds
    )
    integrator.setRandomNumberSeed(seed)
    platform = openmm.Platform.getPlatformByName(protocol.platform)
    properties = {"Threads": "1"} if protocol.platform == "CPU" else {}
    return app.Simulation(topology, system, integrator, platform, properties)


def _state_arrays(simulation, save_forces: bool):
    _, _, unit = _openmm()
    state = simulation.context.getState(getPositions=True, getEnergy=True, getForces=save_forces)
    x = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer).astype(np.float32)
    e = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    f = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer).astype(np.float32) \
        if save_forces else None
    return x, e, f


def run_reference_md(
    out_dir: str | Path,
    n_frames: int,
    *,
    structure: str = "alanine_dipeptide",
    protocol: MDProtocol = MDProtocol(),
    seed: int = 1,
    chunk_frames: int = 100,
    progress: bool = True,
    command: str | None = None,
) -> dict:
    """Simulate until ``out_dir`` holds ``n_frames`` frames (resuming if it holds fewer).

    Args:
      out_dir: the run folder (created).
      n_frames: total frames wanted; a larger number later grows the same run.
      structure: ``"alanine_dipeptide"``, a PDB file (all atoms, with hydrogens), a
        :class:`~scoremd.data.go_model.GoModel` (its own energy; ``protocol.forcefield`` unused),
        or a :class:`~scoremd.data.dipeptides.Dipeptide` (built from sequence; only its bead
        atoms are stored, their indices in metadata ``stored_atoms``).
      protocol: simulation protocol; must equal the one of an existing run.
      seed: seed of velocities and Langevin noise (> 0).
      chunk_frames: frames between checkpoints.
      progress: print progress lines (ns/day) to stderr.

    Returns:
      The metadata dict (also in ``metadata.json``).
    """
    openmm, app, unit = _openmm()
    out = Path(out_dir)
    meta_path, state_path = out / "metadata.json", out / "state.npz"
    if state_path.exists():
        meta = json.loads(meta_path.read_text())
        if not protocol.matches(meta["protocol"]) or meta["seed"] != seed \
                or meta["structure"] != _structure_record(structure):
            raise DataError(f"{out} holds a run with a different protocol, seed or structure; use another --out folder")
        pdb = app.PDBFile(str(out / "topology.pdb"))
        topology = pdb.topology
        system = _system(structure, topology, protocol)
        simulation = _simulation(topology, system, protocol, seed)
        saved = np.load(state_path)
        done = int(saved["n_frames"])
        if done >= n_frames and meta.get("sha256"):
            return meta  # already long enough: leave the finished run (and its provenance) untouched
        simulation.context.loadCheckpoint(saved["checkpoint"].tobytes())
        if meta.get("sha256"):  # a finished run grows: before any byte changes, point readers at the
            # frames checked so far (read_run_positions), so none sees a file that no longer matches its sha256
            if "verified" not in meta:  # written before `verified` existed: check the files once, then record it
                for name in ("topology.pdb", "positions.npy"):
                    if sha256(out / name) != meta["sha256"][name]:
                        raise DataError(f"{out / name} does not match its SHA-256 in metadata.json; restore it "
                                        "(e.g. `git checkout`) before growing the run")
                meta["verified"] = _verified(out, done, meta["sha256"]["topology.pdb"])
            meta = _write_metadata(out, meta, done, protocol, command, final=False)
    elif meta_path.exists():  # never start afresh over a run's frames
        raise DataError(f"{out} holds a run but not its checkpoint state.npz, so it cannot be resumed or grown; "
                        "restore state.npz (e.g. `git checkout`) or use another --out folder")
    else:
        forcefield = None if isinstance(structure, GoModel) else app.ForceField(*protocol.forcefield)
        topology, positions = load_structure(structure, forcefield)
        system = _system(structure, topology, protocol)
        simulation = _simulation(topology, system, protocol, seed)
        simulation.context.setPositions(positions)
        out.mkdir(parents=True, exist_ok=True)  # only once the structure and force field are known good
        simulation.minimizeEnergy()
        simulation.context.setVelocitiesToTemperature(protocol.temperature * unit.kelvin, seed)
        simulation.step(int(round(protocol.equilibration / protocol.timestep)))
        state = simulation.context.getState(getPositions=True)
        if hasattr(structure, "check"):  # e.g. a dipeptide: still L-amino acids and trans bonds
            structure.check(topology, state.getPositions(asNumpy=True).value_in_unit(unit.nanometer))
        buf = io.StringIO()
        app.PDBFile.writeFile(topology, state.getPositions(), buf)
        atomic_write_text(out / "topology.pdb", buf.getvalue())
        done = 0
        meta = {
            "structure": _structure_record(structure),
            "n_atoms": topology.getNumAtoms(),
            "protocol": protocol.record(),
            "seed": seed,
            **({"stored_atoms": [int(i) for i in structure.stored_atoms(topology)]}
               if hasattr(structure, "stored_atoms") else {}),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
    stored = np.asarray(meta.get("stored_atoms", np.arange(topology.getNumAtoms())), dtype=int)
    n_atoms = len(stored)
    resume = done if state_path.exists() else None
    writers = {
        "positions": NpyFrameWriter(out / "positions.npy", (n_atoms, 3), resume_at=resume),
        "energies": NpyFrameWriter(out / "energies.npy", (), np.float64, resume_at=resume),
    }
    if protocol.save_forces:
        writers["forces"] = NpyFrameWriter(out / "forces.npy", (n_atoms, 3), resume_at=resume)
    spf = protocol.steps_per_frame
    try:
        while done < n_frames:
            start = time.perf_counter()
            k = min(chunk_frames, n_frames - done)
            xs, es, fs = [], [], []
            for _ in range(k):
                simulation.step(spf)
                x, e, f = _state_arrays(simulation, protocol.save_forces)
                if not np.isfinite(x).all() or not np.isfinite(e):
                    raise DataError(f"{out}: the reference simulation produced NaN at frame {done + len(xs)}; "
                                    "lower the time step or check the structure")
                xs.append(x[stored]), es.append(e), fs.append(None if f is None else f[stored])
            writers["positions"].append(np.stack(xs))
            writers["energies"].append(np.array(es))
            if protocol.save_forces:
                writers["forces"].append(np.stack(fs))
            done += k
            ns_day = k * protocol.frame_interval * 1e-3 / (time.perf_counter() - start) * 86400
            meta["ns_per_day"] = round(ns_day, 1)
            _save_state(state_path, simulation.context.createCheckpoint(), done)
            _write_metadata(out, meta, done, protocol, command, final=False)
            if progress:
                print(f"{out}: {done}/{n_frames} frames ({done * protocol.frame_interval / 1000:.2f} ns), "
                      f"{ns_day:.0f} ns/day", file=sys.stderr, flush=True)
    finally:
        for w in writers.values():
            w.close()
    return _write_metadata(out, meta, done, protocol, command)


def _save_state(path: Path, checkpoint: bytes, n_frames: int):
    buf = io.BytesIO()
    np.savez(buf, checkpoint=np.frombuffer(checkpoint, np.uint8), n_frames=np.int64(n_frames))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def _write_metadata(out: Path, meta: dict, n_frames: int, protocol: MDProtocol, command: str | None,
                    final: bool = True) -> dict:
    """Write metadata.json; checksums only when ``final`` (hashing after every chunk would cost O(N^2))."""
    openmm, _, _ = _openmm()
    meta = dict(meta)
    meta.update(
        n_frames=n_frames,
        length_ns=n_frames * protocol.frame_interval / 1000,
        command=command or meta.get("command"),
        openmm=openmm.__version__,
        python=sys.version.split()[0],
        sha256={name: sha256(out / name) for name in ("topology.pdb", "positions.npy", "energies.npy", "forces.npy")
                if (out / name).exists()} if final else None,
    )
    if final:  # kept through later, unfinished chunks: readers of a growing run use these frames
        meta["verified"] = _verified(out, n_frames, meta["sha256"]["topology.pdb"])
    atomic_write_text(out / "metadata.json", json.dumps(meta, indent=2) + "\n")
    return meta


def _verified(out: Path, n_frames: int, topology_sha256: str) -> dict:
    """The ``verified`` record of a finished run: its frame count and the SHA-256 of those frames."""
    return {"n_frames": n_frames, "topology_sha256": topology_sha256,
            "positions_sha256": array_sha256(read_frames(out / "positions.npy", n_frames))}


def _worker(kwargs):
    return run_reference_md(**kwargs)


def generate_runs(
    out_dir: str | Path,
    n_runs: int,
    n_frames: int,
    *,
    structure: str = "alanine_dipeptide",
    protocol: MDProtocol = MDProtocol(),
    first_seed: int = 1,
    processes: int | None = None,
    progress: bool = True,
    command: str | None = None,
) -> list[dict]:
    """Run (or grow) ``n_runs`` independent runs ``out_dir/run_00`` ... in parallel processes.

    Run k uses seed ``first_seed + k``; each holds ``n_frames`` frames when done.
    ``command`` (the command line that asked for it) is recorded in each run's metadata.
    """
    out = Path(out_dir)
    jobs = [
        dict(out_dir=out / f"run_{k:02d}", n_frames=n_frames, structure=structure, protocol=protocol,
             seed=first_seed + k, progress=progress, command=command)
        for k in range(n_runs)
    ]
    processes = processes or min(n_runs, multiprocessing.cpu_count())
    if processes == 1:
        return [_worker(j) for j in jobs]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        return pool.map(_worker, jobs)


__all__ = ["MDProtocol", "run_reference_md", "generate_runs", "create_system", "load_structure"]
