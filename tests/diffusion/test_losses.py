"""The training objective: the two-piece time density and its importance weights, and the two
ways of placing the Fokker-Planck term (its own uniform times, or the score-matching samples)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import LossConfig, dsm_loss, fp_loss, sample_times, time_weights, training_loss
from scoremd.models import ModelConfig, build_model
from scoremd.sde import VPSDE

SDE = VPSDE()


def test_time_weights_turn_the_two_piece_density_into_the_uniform_one():
    lo, mid, hi, n = 1e-3, 0.03, 0.1, 400_000
    t = sample_times(jax.random.key(0), n, lo, mid, hi)
    w = time_weights(t, lo, mid, hi)
    assert float(jnp.mean(t < mid)) == pytest.approx(0.5, abs=5 * 0.5 / np.sqrt(n))
    for f, exact in [(jnp.ones_like, 1.0), (lambda s: s, (lo + hi) / 2), (lambda s: s**2, (hi**3 - lo**3) / (3 * (hi - lo)))]:
        v = w * f(t)
        assert float(jnp.mean(v)) == pytest.approx(exact, abs=5 * float(jnp.std(v)) / np.sqrt(n))
    # a midpoint outside the range means uniform draws, weight 1
    assert np.all(np.asarray(time_weights(t, lo, 0.5, hi)) == 1.0)


def _model():
    model, params = build_model(ModelConfig(hidden=(16, 16)), (2,), SDE, key=jax.random.key(0))
    return model, params


DATA = 0.5 * jax.random.normal(jax.random.key(5), (128, 2)) + jnp.array([[1.0, -0.5]])


def test_fp_on_its_own_times_is_unchanged():
    """fp_times = "own" is the score-matching loss plus alpha times fp_loss on a fresh diffusion of the
    first fp_batch_size samples, with the keys split as before the option existed."""
    model, params = _model()
    config = LossConfig(t_midpoint=0.3, fp_weight=1e-2, fp_t_max=0.1, fp_batch_size=64)
    key = jax.random.key(3)
    key_dsm, key_fp = jax.random.split(key)

    def energy_fn(x, t):
        return model.energy(params, x, t)

    expected = dsm_loss(model, params, key_dsm, DATA, config) + 1e-2 * fp_loss(
        energy_fn, SDE, key_fp, DATA[:64], (SDE.t_min, 0.1), config.fp_estimator)
    np.testing.assert_allclose(training_loss(model, params, key, DATA, config), expected, rtol=1e-6)


def test_fp_at_the_score_matching_times_estimates_the_same_mean_square():
    """Both placements estimate E_{t ~ U} E_{x_t} r^2 / D^2 on the same time range; compared over many
    keys with a tolerance from the spread of the single-batch estimates."""
    model, params = _model()
    n_keys = 400
    keys = jax.random.split(jax.random.key(9), n_keys)
    out = {}
    for times in ("own", "dsm"):
        with_fp = LossConfig(t_midpoint=0.05, fp_weight=1.0, fp_t_max=1.0, fp_times=times)
        without = LossConfig(t_midpoint=0.05, fp_weight=0.0, fp_times=times)

        @jax.jit
        @jax.vmap
        def fp_term(k, with_fp=with_fp, without=without):
            return training_loss(model, params, k, DATA, with_fp) - training_loss(model, params, k, DATA, without)

        out[times] = np.asarray(fp_term(keys), np.float64)
    own, dsm = out["own"], out["dsm"]
    se = np.sqrt(own.var() / n_keys + dsm.var() / n_keys)
    assert own.mean() > 10 * own.std() / np.sqrt(n_keys)  # an untrained network: clearly inconsistent
    assert abs(own.mean() - dsm.mean()) < 5 * se


def test_fp_at_the_score_matching_times_respects_fp_t_max():
    model, params = _model()
    key = jax.random.key(1)
    plain = training_loss(model, params, key, DATA, LossConfig(t_midpoint=0.3))
    # the stage's range lies above fp_t_max: no FP term at all
    above = LossConfig(t_midpoint=0.3, fp_weight=1.0, fp_t_max=0.1, fp_times="dsm")
    assert training_loss(model, params, key, DATA, above, t_range=(0.2, 1.0)) == pytest.approx(
        float(training_loss(model, params, key, DATA, LossConfig(t_midpoint=0.3), t_range=(0.2, 1.0))))
    # inside the range: only samples with t <= fp_t_max count, the rest weigh 0
    low = LossConfig(t_midpoint=0.3, fp_weight=1.0, fp_t_max=0.1, fp_times="dsm")
    assert float(training_loss(model, params, key, DATA, low)) != pytest.approx(float(plain))


def test_bad_fp_times_is_a_clear_error():
    with pytest.raises(ValueError, match="fp_times must be one of 'own', 'dsm'"):
        LossConfig(fp_times="uniform")
