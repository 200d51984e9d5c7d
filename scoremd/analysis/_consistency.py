"""Consistency diagnostics of a trained energy: the Fokker-Planck residual against time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..diffusion import fp_error_curves

__all__ = ["fp_error_vs_time"]


def fp_error_vs_time(emulator, data: np.ndarray, *, n: int = 512, n_times: int = 16, seed: int = 0) -> dict:
    """Fokker-Planck residual of the model at log-spaced times (docs/design.md D5, docs/metrics.md).

    Uses the training residual (exact estimator, 8 probe pairs per point) on ``n``
    training samples diffused to each time.

    Returns:
      ``t`` (times), ``value``: Var_x r / D^2, the gauge-invariant error (a consistent
      energy has 0); ``raw``: E_x r^2 / D^2, what the training loss penalises, which also
      counts an x-independent drift c'(t) of the energy's offset that no score sees.
    """
    sde = emulator.model.sde
    times = np.geomspace(max(sde.t_min, 1e-4), 1.0, n_times)
    x0 = jnp.asarray(data[np.random.default_rng(seed).choice(len(data), min(n, len(data)), replace=False)]
                     / emulator.scale)

    def energy_fn(x, t):
        return emulator.model.energy(emulator.params, x, t)

    values, raw = fp_error_curves(energy_fn, sde, jax.random.PRNGKey(seed), x0, times)
    return {"t": times.tolist(), "value": values.tolist(), "raw": raw.tolist()}
