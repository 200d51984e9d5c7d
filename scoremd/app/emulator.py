"""A trained model in physical units: :class:`Emulator`.

Every method takes and returns physical units: positions in nm, energies in
kJ/mol, forces in kJ/mol/nm, scores in 1/nm (toys: their own units). The
normalisation x -> x/s of docs/design.md D2 stays inside. Build one with
:func:`scoremd.train` or :func:`scoremd.load`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import CheckpointError
from .._progress import Progress
from ..diffusion import AbstractSampler, regenerate, sample
from ..dynamics import MCMC_METHODS, AbstractLangevin, AbstractMCMC, MCMCResult, Trajectory, mcmc, simulate
from ..geometry import center
from ..models import AbstractEnergyModel, Params
from ..storage import check_allocation
from ..systems import MolecularSystem, System
from .config import RunConfig
from .rundir import TOPOLOGY_FILE

__all__ = ["Emulator"]


@dataclasses.dataclass(frozen=True, eq=False)  # identity hash: its bound methods key the compile caches
class Emulator:
    """A trained energy-based diffusion model, in physical units.

    Attributes:
      config: the run's config.
      system: the system it was trained on (k_BT, masses, MD defaults).
      model: network architecture and SDE (one network, or a mixture of experts over t).
      params: the EMA parameters used for evaluation.
      scale: normalisation s (nm): the network sees x / s (D2).
      masses: particle masses (amu): the toy system's mass, or one per bead, shape (n_beads,).
      run_dir: the run directory it was trained in (None if unknown).
      training_data: callable returning the training samples (N, *event) in physical units
        (loaded on first use; molecules centred).
      extent: largest |coordinate| of the (centred) training data (nm); MD replicas farther
        than ``DIVERGENCE_FACTOR`` times this count as diverged. None: the system's limit.
      cg_topology: callable returning the mdtraj topology of the written beads (None: the run
        directory's ``topology.pdb``).
      bead_mask: (n_beads,) bool, the event's beads that are particles and are written to PDB/XTC
        files (a glycine's absent CB slot is not); None: all.
    """

    config: RunConfig
    system: System
    model: AbstractEnergyModel
    params: Params
    scale: float
    masses: Any = None
    run_dir: Path | None = None
    training_data: Any = None
    extent: float | None = None
    cg_topology: Any = None
    bead_mask: Any = None

    DIVERGENCE_FACTOR = 10.0

    @property
    def position_limit(self) -> float:
        """Distance (nm) beyond which an MD replica counts as diverged (see ``extent``)."""
        return self.system.position_limit if self.extent is None else self.DIVERGENCE_FACTOR * self.extent

    @property
    def is_molecular(self) -> bool:
        return isinstance(self.system, MolecularSystem)

    def topology(self):
        """The coarse-grained mdtraj topology of a molecular run (``RUN_DIR/topology.pdb``), for the
        beads that :meth:`beads` keeps."""
        import mdtraj

        if not self.is_molecular:
            raise ValueError(f"{self.system.name} is not a molecule and has no topology")
        if self.cg_topology is not None:
            return self.cg_topology()
        if self.run_dir is None or not (Path(self.run_dir) / TOPOLOGY_FILE).exists():
            raise CheckpointError(f"no {TOPOLOGY_FILE} in the run directory {self.run_dir}; retrain to write it")
        return mdtraj.load_topology(str(Path(self.run_dir) / TOPOLOGY_FILE))

    def beads(self, x: np.ndarray) -> np.ndarray:
        """Positions (..., n_beads, 3) -> the particles among them (``bead_mask``), matching :meth:`topology`."""
        return np.asarray(x) if self.bead_mask is None else np.asarray(x)[..., np.asarray(self.bead_mask), :]

    @property
    def kbt(self) -> float:
        """k_BT in kJ/mol."""
        return self.system.kbt

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.model.event_shape

    def _check(self, x):
        x = jnp.asarray(x, jnp.float32)
        if x.shape[1:] != self.event_shape:
            raise ValueError(f"positions must have shape (B, {', '.join(map(str, self.event_shape))}), got {x.shape}")
        return x

    def energy(self, x: Float[Array, " B *event"], t: float | None = None) -> Float[Array, " B"]:
        """Learned potential U(x) = k_BT E_theta(x/s, t) in kJ/mol; x (B, *event) in nm -> (B,).

        ``t`` defaults to ``config.simulate.t0``. U is defined up to an additive constant.
        """
        x = self._check(x)
        t = self.config.simulate.t0 if t is None else t
        return self.kbt * self.model.energy(self.params, x / self.scale, t)

    def force(self, x: Float[Array, " B *event"], t: float | None = None) -> Float[Array, " B *event"]:
        """Learned force F = -grad U = (k_BT/s) s_theta(x/s, t) in kJ/mol/nm; shape like x (nm)."""
        x = self._check(x)
        t = self.config.simulate.t0 if t is None else t
        return (self.kbt / self.scale) * self.model.score(self.params, x / self.scale, t)

    def score(self, x: Float[Array, " B *event"], t) -> Float[Array, " B *event"]:
        """Score of the diffused density, grad_x log q_t(x) = s_theta(x/s, t)/s in 1/nm; x (B, *event) in nm.

        ``t`` is a diffusion time in (0, 1], a scalar or shape (B,).
        """
        x = self._check(x)
        return self.model.score(self.params, x / self.scale, t) / self.scale

    def _normalised_score(self, x, t):
        """s_theta(x, t) on normalised coordinates (what the samplers integrate)."""
        return self.model.score(self.params, x, t)

    def _normalised_energy(self, x, t):
        """E_theta(x, t) (B,) in k_BT on normalised coordinates (what the SMC sampler weighs by)."""
        return self.model.energy(self.params, x, t)

    def sampler(self, *, method: str | None = None, steps: int | None = None,
                rho: float | None = None, t_stop: float | None = None) -> AbstractSampler:
        """The i.i.d. sampler of ``config.sample``, with any of its settings overridden
        (``t_stop``: the smc sampler's ``sample.smc_t_stop``)."""
        return self.config.sample.sampler(method=method, steps=steps, rho=rho, t_stop=t_stop)

    def sample(self, n: int, *, key: jax.Array, sampler: AbstractSampler | None = None,
               chunk_size: int | None = None, progress: Progress = False) -> np.ndarray:
        """Draw n i.i.d. samples (nm), shape (n, *event).

        Args:
          n: number of samples, > 0.
          key: PRNG key; the same key gives the same samples.
          sampler: e.g. ``ReverseSDE(n_steps=200, rho=2)``; default :meth:`sampler` (the config's).
          chunk_size: samples integrated at once (default ``config.sample.chunk_size``).
          progress: ``True`` for a progress bar, or a callable.

        Molecules come out centred on their particles (the energy does not define the centre of
        mass; ``bead_mask`` slots that are not particles do not count).
        """
        x = sample(
            sampler or self.sampler(), self._normalised_score, self.model.sde, n, self.event_shape, key=key,
            chunk_size=chunk_size or self.config.sample.chunk_size, progress=progress,
            energy_fn=self._normalised_energy, centre_fn=self._centred if self.is_molecular else None,
        )
        return self._centred(x * self.scale)

    def regenerate(self, positions: Float[Array, " B *event"], t0: float, *, key: jax.Array,
                   sampler: AbstractSampler | None = None) -> np.ndarray:
        """Diffuse frames (nm) to diffusion time t0 and sample back down to t_min (nm), shape like them.

        A diagnostic (:func:`scoremd.diffusion.regenerate`): a statistic of reference frames
        regenerated from several t0 (e.g. a basin share) shows in which range of diffusion times
        the learned score loses it; t0 = 1 is ordinary sampling. ``sampler``: default the config's.
        """
        x = self._check(positions)
        out, _ = regenerate(sampler or self.sampler(), self._normalised_score, self.model.sde, x / self.scale,
                            t0, key=key, energy_fn=self._normalised_energy,
                            centre_fn=self._centred if self.is_molecular else None)
        return self._centred(out * self.scale)

    def _centred(self, x):
        if not self.is_molecular:
            return x
        if self.bead_mask is None:
            return center(x)
        return x - x[..., np.asarray(self.bead_mask), :].mean(axis=-2, keepdims=True)

    def integrator(self, *, integrator: str | None = None, dt: float | None = None,
                   friction: float | None = None) -> AbstractLangevin:
        """The MD integrator: explicit arguments, else ``config.simulate``, else the system's defaults;
        its divergence limit is :attr:`position_limit`, measured on the beads of ``bead_mask``."""
        integ = self.config.simulate.integrator_for(self.system, integrator=integrator, dt=dt, friction=friction,
                                                    position_limit=self.position_limit)
        if self.bead_mask is None:
            return integ
        return dataclasses.replace(integ, particles=tuple(bool(b) for b in np.asarray(self.bead_mask)))

    def simulate(self, positions: Float[Array, " R *event"], n_frames: int, *, key: jax.Array,
                 integrator: AbstractLangevin | None = None, steps_per_frame: int | None = None,
                 out: str | Path | None = None, throw: bool = True, progress: Progress = False,
                 checkpoint: str | Path | None = None, checkpoint_tag: str = "",
                 checkpoint_seconds: float = 60.0) -> Trajectory:
        """Langevin MD with the learned force from ``positions`` (R, *event) in nm.

        Args:
          positions: starting positions (nm), shape (R, *event).
          n_frames: frames to record per replica.
          key: PRNG key.
          integrator: e.g. ``LangevinMiddle(kbt=..., friction=1.0, dt=0.002)``; default
            :meth:`integrator` (the config's, else the system's settings).
          steps_per_frame: integration steps between frames (default: config, else system).
          out: optional ``.npy`` file the frames (n_frames, R, *event) are streamed to.
          throw: raise on divergence (else report it in ``Trajectory.divergent_step``).
          progress: ``True`` for a progress bar, or a callable.
          checkpoint, checkpoint_tag, checkpoint_seconds: make the run resumable
            (:func:`scoremd.dynamics.simulate`).

        Returns:
          A :class:`~scoremd.dynamics.Trajectory`; ``frames`` (n_frames, R, *event) in nm.
        """
        positions = self._check(positions)
        spf = self.config.simulate.steps_per_frame_for(self.system, steps_per_frame)
        return simulate(
            integrator or self.integrator(), self.force, positions, self.masses, n_frames, spf,
            key=key, out=out, throw=throw, progress=progress, checkpoint=checkpoint, checkpoint_tag=checkpoint_tag,
            checkpoint_seconds=checkpoint_seconds,
        )

    def mcmc(self, positions: Float[Array, " R *event"], n_frames: int, *, key: jax.Array,
             method: AbstractMCMC | str = "mala", steps_per_frame: int | None = None, n_warmup: int = 500,
             out: str | Path | None = None, progress: Progress = False) -> MCMCResult:
        """Metropolis-adjusted sampling of the learned Boltzmann density exp(-U/k_BT) (BlackJAX).

        Unlike :meth:`simulate`, the chains have no dynamics, but no time-step bias either:
        they sample exactly the model's density at t0 (docs/design.md D9). Start them from
        i.i.d. samples ("diffuse, then correct") or from :meth:`initial_positions`.

        Args:
          positions: starting positions (nm), shape (R, *event): R independent chains.
          n_frames: frames to record per chain.
          key: PRNG key; the same key gives the same chains.
          method: ``"mala"``, ``"hmc"``, or a configured :class:`~scoremd.dynamics.MALA` /
            :class:`~scoremd.dynamics.HMC` (fixed step size, leapfrog steps, target acceptance).
          steps_per_frame: Metropolis steps between frames (default: config, else system).
          n_warmup: steps before the first frame; the step size is adapted over them unless fixed.
          out: optional ``.npy`` file the frames (n_frames, R, *event) are streamed to.
          progress: ``True`` for a progress bar, or a callable.

        Returns:
          :class:`~scoremd.dynamics.MCMCResult`: frames (n_frames, R, *event) in nm (molecules
          centred), step size, acceptance rate, effective sample size, gradient evaluations.
        """
        if isinstance(method, str):
            if method not in MCMC_METHODS:
                raise ValueError(f"unknown MCMC method {method!r}; choose one of {', '.join(MCMC_METHODS)}")
            method = MCMC_METHODS[method]()
        positions = self._check(positions)
        spf = self.config.simulate.steps_per_frame_for(self.system, steps_per_frame)
        return mcmc(
            method, self.energy, positions, n_frames, spf, key=key, kbt=self.kbt, masses=self.masses,
            dt=self.integrator().dt, n_warmup=n_warmup, translation_invariant=self.is_molecular, out=out,
            progress=progress,
        )

    def initial_positions(self, n_replicas: int, *, seed: int) -> np.ndarray:
        """n_replicas training frames (nm) drawn at random (seeded), shape (R, *event)."""
        check_allocation(n_replicas * int(np.prod(self.event_shape)) * 4, f"{n_replicas} replicas")
        data = self.training_data()
        idx = np.random.default_rng(seed).choice(len(data), size=n_replicas, replace=n_replicas > len(data))
        return data[idx]
