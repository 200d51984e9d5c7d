"""Consistency diagnostics of a trained energy: the Fokker-Planck residual against time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..diffusion import fp_error_curve

__all__ = ["fp_error_vs_time"]


def fp_error_vs_time(emulator, data: np.ndarray, *, n: int = 512, n_times: int = 16, seed: int = 0) -> dict:
    """Mean squared Fokker-Planck residual / D^2 of the model at log-spaced times (docs/design.md D5).

    Uses the training residual (exact estimator, 8 probe pairs per point) on ``n``
    training samples diffused to each time.
    """
    sde = emulator.model.sde
    times = np.geomspace(max(sde.t_min, 1e-4), 1.0, n_times)
    x0 = jnp.asarray(data[np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False)]
                     / emulator.scale)

    def energy_fn(x, t):
        return emulator.model.energy(emulator.params, x, t)

    values = fp_error_curve(energy_fn, sde, jax.random.PRNGKey(seed), x0, times)
    return {"t": times.tolist(), "value": values.tolist()}
