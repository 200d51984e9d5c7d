"""Metropolis-adjusted sampling of an energy with BlackJAX: MALA and HMC (docs/design.md D9).

Langevin MD with a finite time step samples a slightly wrong distribution; a
Metropolis-Hastings test on the same energy removes that bias. The kernels and
the step-size adaptation are BlackJAX's (``blackjax.mala``, ``blackjax.hmc``,
dual averaging); this module batches them over independent chains with
``vmap``, adapts one step size shared by all chains during a warm-up, and
records frames like :func:`~scoremd.dynamics.simulate`.

The target is the Boltzmann density p(x) ~ exp(-U(x)/k_BT) of a batched energy
U (kJ/mol) of positions x (nm). Step sizes:

* :class:`MALA`: eps in nm^2; the proposal is x' = x - (eps/k_BT) grad U + sqrt(2 eps) xi,
  i.e. one Euler step of overdamped Langevin dynamics with D dt = eps.
* :class:`HMC`: the leapfrog time step in ps, with momenta of the particle masses
  (inverse mass matrix k_BT/m per coordinate), so it compares directly with an MD time step.

Cost is counted in gradient evaluations of U: one per MALA step, ``n_leapfrog`` per HMC step
(one per Langevin MD step), so samplers can be compared at equal cost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._cache import CompileCache
from .._checks import non_negative_int, positive_float, positive_int
from .._progress import Progress, progress_bar
from ..geometry import center
from ..storage import NpyFrameWriter, check_allocation

__all__ = ["HMC", "MALA", "MCMC_METHODS", "AbstractMCMC", "MCMCResult", "effective_sample_size", "mcmc"]

EnergyFn = Callable[[jax.Array], jax.Array]


class AbstractMCMC:
    """A Metropolis-adjusted kernel of BlackJAX and its settings (frozen dataclass subclasses)."""

    name: ClassVar[str]
    step_size: float | None
    target_acceptance: float

    @property
    def gradients_per_step(self) -> int:
        """Gradient evaluations of U per step (the cost unit shared with Langevin MD)."""
        raise NotImplementedError

    def initial_step_size(self, kbt: float, masses: np.ndarray, dt: float) -> float:
        """A starting guess for the adaptation from an MD time step ``dt`` (ps)."""
        raise NotImplementedError

    def build(self, logdensity_fn: Callable, inverse_mass: jax.Array):
        """(init(position) -> state, step(key, state, step_size) -> (state, acceptance rate)) for one chain."""
        raise NotImplementedError


def _check_settings(method: AbstractMCMC) -> None:
    if method.step_size is not None:
        positive_float(method.step_size, f"the {method.name} step size")
    if not 0.0 < method.target_acceptance < 1.0:
        raise ValueError(f"target_acceptance must lie in (0, 1), got {method.target_acceptance}")


@dataclasses.dataclass(frozen=True)
class MALA(AbstractMCMC):
    """Metropolis-adjusted Langevin algorithm (``blackjax.mala``).

    Attributes:
      step_size: eps in nm^2 (proposal x' = x - (eps/k_BT) grad U + sqrt(2 eps) xi); None: adapted
        during the warm-up so that the mean acceptance reaches ``target_acceptance``.
      target_acceptance: acceptance rate the adaptation aims for (0.574 is optimal for MALA
        in high dimension; Roberts & Rosenthal 1998).
    """

    step_size: float | None = None
    target_acceptance: float = 0.574
    name: ClassVar[str] = "mala"

    def __post_init__(self):
        _check_settings(self)

    @property
    def gradients_per_step(self) -> int:
        return 1

    def initial_step_size(self, kbt, masses, dt):
        # The MD move per step is about v dt with v^2 ~ k_BT/m: match sqrt(2 eps) to it.
        return float(kbt / np.min(masses) * dt**2 / 2)

    def build(self, logdensity_fn, inverse_mass):
        import blackjax

        kernel = blackjax.mala.build_kernel()

        def step(key, state, step_size):
            state, info = kernel(key, state, logdensity_fn, step_size)
            return state, info.acceptance_rate

        return (lambda x: blackjax.mala.init(x, logdensity_fn)), step


@dataclasses.dataclass(frozen=True)
class HMC(AbstractMCMC):
    """Hamiltonian Monte Carlo with a fixed number of leapfrog steps (``blackjax.hmc``).

    Attributes:
      step_size: leapfrog time step (ps) with momenta of the particle masses; None: adapted
        during the warm-up to ``target_acceptance``.
      n_leapfrog: leapfrog steps per proposal (gradient evaluations per step), > 0.
      target_acceptance: 0.8 by default (Hoffman & Gelman 2014 use 0.8 for NUTS; 0.65 is optimal
        for HMC in high dimension).
    """

    step_size: float | None = None
    n_leapfrog: int = 10
    target_acceptance: float = 0.8
    name: ClassVar[str] = "hmc"

    def __post_init__(self):
        _check_settings(self)
        positive_int(self.n_leapfrog, "n_leapfrog")

    @property
    def gradients_per_step(self) -> int:
        return self.n_leapfrog

    def initial_step_size(self, kbt, masses, dt):
        return float(dt)

    def build(self, logdensity_fn, inverse_mass):
        import blackjax

        kernel = blackjax.hmc.build_kernel()

        def step(key, state, step_size):
            state, info = kernel(key, state, logdensity_fn, step_size, inverse_mass, self.n_leapfrog)
            return state, info.acceptance_rate

        return (lambda x: blackjax.hmc.init(x, logdensity_fn)), step


MCMC_METHODS: dict[str, type[AbstractMCMC]] = {"mala": MALA, "hmc": HMC}


class MCMCResult(NamedTuple):
    """The result of :func:`mcmc`.

    Attributes:
      frames: (n_frames, R, *event), nm, numpy float32 (centred when ``translation_invariant``).
      step_size: the step size used after the warm-up (MALA nm^2, HMC ps).
      acceptance_rate: mean Metropolis acceptance probability over the recorded steps and chains.
      ess: effective sample size of the recorded frames (all chains together; BlackJAX's
        estimator), the median over coordinates; NaN with fewer than 2 chains or 4 frames.
      gradient_evaluations: gradient evaluations of U per chain, warm-up included.
    """

    frames: np.ndarray
    step_size: float
    acceptance_rate: float
    ess: float
    gradient_evaluations: int


def effective_sample_size(frames: Float[np.ndarray, " F R *event"]) -> float:
    """Median over coordinates of BlackJAX's effective sample size of frames (F, R, *event) (R chains)."""
    import blackjax.diagnostics

    frames = np.asarray(frames)
    if frames.shape[1] < 2 or frames.shape[0] < 4:
        return float("nan")
    chains = np.moveaxis(frames.reshape(frames.shape[0], frames.shape[1], -1), 1, 0)
    return float(np.median(np.asarray(blackjax.diagnostics.effective_sample_size(chains))))


def _batched(method: AbstractMCMC, energy_fn: EnergyFn, kbt: float, masses: np.ndarray, event_shape):
    """(init, step) over a batch of chains sharing one step size."""

    def logdensity(x):
        return -energy_fn(x[None])[0] / kbt

    m = np.broadcast_to(np.asarray(masses, np.float32)[..., None], event_shape) if len(event_shape) > 1 \
        else np.broadcast_to(np.asarray(masses, np.float32), event_shape)
    inverse_mass = jnp.asarray((kbt / m).reshape(-1), jnp.float32)
    init, step = method.build(logdensity, inverse_mass)

    def batch_step(key, state, step_size):
        keys = jax.random.split(key, state.position.shape[0])
        return jax.vmap(step, in_axes=(0, 0, None))(keys, state, step_size)

    return jax.vmap(init), batch_step


_COMPILED = CompileCache(maxsize=8)


def _compiled(method, energy_fn, kbt, masses, event_shape, n_warmup, steps_per_frame, frames_per_chunk,
              translation_invariant):
    m = np.asarray(masses, np.float64)

    def build():
        import blackjax.adaptation.step_size as bss

        init, step = _batched(method, energy_fn, kbt, m, event_shape)
        da_init, da_update, da_final = bss.dual_averaging_adaptation(method.target_acceptance)

        def warmup(state, key, step_size):
            def body(carry, key):
                state, da = carry
                eps = jnp.exp(da.log_step_size) if method.step_size is None else step_size
                state, acc = step(key, state, eps)
                acc = jnp.mean(jnp.nan_to_num(acc))
                return (state, da if method.step_size is not None else da_update(da, acc)), None

            (state, da), _ = jax.lax.scan(body, (state, da_init(step_size)), jax.random.split(key, n_warmup))
            final = da_final(da) if (method.step_size is None and n_warmup > 0) else step_size
            return state, jnp.asarray(final, jnp.float32)

        def chunk(state, key, step_size):
            def frame(carry, key):
                state, acc_sum = carry

                def body(c, key):
                    s, a = c
                    s, acc = step(key, s, step_size)
                    return (s, a + jnp.sum(jnp.nan_to_num(acc))), None

                (state, acc_sum), _ = jax.lax.scan(body, (state, acc_sum), jax.random.split(key, steps_per_frame))
                x = state.position
                return (state, acc_sum), (center(x) if translation_invariant else x)

            (state, acc_sum), frames = jax.lax.scan(frame, (state, jnp.zeros((), jnp.float32)),
                                                    jax.random.split(key, frames_per_chunk))
            return state, frames, acc_sum

        return jax.jit(init), jax.jit(warmup), jax.jit(chunk)

    return _COMPILED.get((method, energy_fn, float(kbt), m.shape, m.tobytes(), tuple(event_shape), n_warmup,
                          steps_per_frame, frames_per_chunk, translation_invariant), build)


def mcmc(
    method: AbstractMCMC,
    energy_fn: EnergyFn,
    positions: Float[Array, " R *event"],
    n_frames: int,
    steps_per_frame: int,
    *,
    key: jax.Array,
    kbt: float,
    masses,
    dt: float,
    n_warmup: int = 500,
    translation_invariant: bool = False,
    out: str | Path | None = None,
    frames_per_chunk: int = 100,
    progress: Progress = False,
) -> MCMCResult:
    """Run R independent Metropolis-adjusted chains on exp(-U/k_BT) and record ``n_frames`` frames.

    Args:
      method: :class:`MALA` or :class:`HMC` and its settings.
      energy_fn: batched potential U (kJ/mol), x (B, *event) -> (B,).
      positions: starting positions (nm), shape (R, *event); each needs a finite energy.
      n_frames: frames to record per chain, > 0.
      steps_per_frame: Metropolis steps between frames, > 0.
      key: PRNG key; the same key gives the same chains.
      kbt: k_BT (kJ/mol).
      masses: particle masses (amu), shape ``event[:-1]`` (molecules) or a scalar (toys); HMC momenta.
      dt: an MD time step (ps) from which the adaptation starts (and HMC's step when not adapting).
      n_warmup: steps before the first frame (not recorded); with ``method.step_size`` None the
        step size is adapted over them by BlackJAX's dual averaging on the mean acceptance.
      translation_invariant: record centred frames (molecules: U does not fix the centre,
        so the chains' centres wander; centring does not change any internal coordinate).
      out: optional ``.npy`` path the frames (frames_so_far, R, *event) are streamed to.
      frames_per_chunk: frames per compiled call (bounded memory).
      progress: ``True`` for a progress bar, or a callable.

    Returns:
      :class:`MCMCResult` with frames, step size, acceptance rate, ESS and cost.

    Raises:
      ValueError: bad shapes or counts, non-finite starting positions or energies.
    """
    positions = jnp.asarray(positions, jnp.float32)
    if positions.ndim < 2:
        raise ValueError(f"positions must have shape (chains, *event), got {positions.shape}")
    if not bool(jnp.all(jnp.isfinite(positions))):
        raise ValueError("starting positions contain NaN or inf")
    u0 = np.asarray(energy_fn(positions))
    if not np.all(np.isfinite(u0)):
        raise ValueError(f"the energy is not finite at {int(np.sum(~np.isfinite(u0)))} starting positions; "
                         "start from training frames or i.i.d. samples")
    n_frames = positive_int(n_frames, "the number of frames")
    steps_per_frame = positive_int(steps_per_frame, "steps_per_frame")
    n_warmup = non_negative_int(n_warmup, "n_warmup")
    kbt = positive_float(kbt, "kbt", "kJ/mol")
    dt = positive_float(dt, "dt", "ps")
    check_allocation(n_frames * positions.size * 4, f"{n_frames} frames of {positions.shape[0]} chains")
    event_shape = positions.shape[1:]
    masses = np.asarray(masses, np.float64)
    start = method.step_size if method.step_size is not None else method.initial_step_size(kbt, masses, dt)

    per_chunk = min(positive_int(frames_per_chunk, "frames_per_chunk"), n_frames)
    args = (method, energy_fn, kbt, masses, event_shape, n_warmup, steps_per_frame)
    init, warmup, chunk = _compiled(*args, per_chunk, translation_invariant)
    key, key_warm = jax.random.split(key)
    state, step_size = warmup(init(positions), key_warm, jnp.asarray(start, jnp.float32))
    frames_out = np.empty((n_frames, *positions.shape), np.float32)
    writer = NpyFrameWriter(out, positions.shape) if out is not None else None
    accepted, done = 0.0, 0
    bar = progress_bar(progress, n_frames, method.name, unit="frame")
    try:
        while done < n_frames:
            take = min(per_chunk, n_frames - done)
            run = chunk if take == per_chunk else _compiled(*args, take, translation_invariant)[2]
            key, sub = jax.random.split(key)
            state, frames, acc = run(state, sub, step_size)
            frames = np.asarray(frames)
            frames_out[done : done + take] = frames
            if writer is not None:
                writer.append(frames)
            accepted += float(acc)
            done += take
            bar.update(take)
            bar.set_postfix(acceptance=f"{accepted / (done * steps_per_frame * positions.shape[0]):.2f}")
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    n_steps = n_warmup + n_frames * steps_per_frame
    return MCMCResult(
        frames=frames_out,
        step_size=float(step_size),
        acceptance_rate=accepted / (n_frames * steps_per_frame * positions.shape[0]),
        ess=effective_sample_size(frames_out),
        gradient_evaluations=n_steps * method.gradients_per_step,
    )
