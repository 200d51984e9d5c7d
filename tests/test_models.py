import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.models import ModelConfig, build_model, time_features
from scoremd.sde import VPSDE


def _model(event_shape=(2,), key=0, kind="mlp", features="cartesian"):
    return build_model(ModelConfig(kind=kind, features=features, hidden=(32, 32), heads=2, head_dim=8),
                       event_shape, VPSDE(), key=jax.random.PRNGKey(key))


MOLECULAR = [("mlp", (5, 3)), ("transformer", (5, 3)), ("invariant", (5, 3))]


def _molecular_model(kind, event_shape):
    if kind == "invariant":
        return _model(event_shape, kind="mlp", features="invariant")
    return _model(event_shape, kind=kind)


@pytest.mark.parametrize("kind,event_shape", [("mlp", (1,)), ("mlp", (2,)), *MOLECULAR])
def test_shapes(kind, event_shape, getkey):
    model, params = _molecular_model(kind, event_shape)
    x = jax.random.normal(getkey(), (7, *event_shape))
    t = jnp.linspace(0.01, 1.0, 7)
    assert model.energy(params, x, t).shape == (7,)
    assert model.score(params, x, t).shape == x.shape
    # A scalar time broadcasts over the batch.
    np.testing.assert_allclose(model.energy(params, x, 0.5), model.energy(params, x, jnp.full(7, 0.5)))


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_score_is_minus_gradient_of_energy_f64(kind, getkey):
    with jax.enable_x64(True):
        model, params = _model((3, 3), kind=kind)
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
        x = jax.random.normal(getkey(), (4, 3, 3), jnp.float64)
        t = jnp.array([1e-5, 0.01, 0.3, 1.0], jnp.float64)
        score = np.asarray(model.score(params, x, t))
        h = 1e-6
        fd = np.zeros_like(score)
        for idx in np.ndindex(3, 3):
            e = np.zeros((3, 3))
            e[idx] = h
            fd[(slice(None), *idx)] = -(
                np.asarray(model.energy(params, x + e, t)) - np.asarray(model.energy(params, x - e, t))
            ) / (2 * h)
        np.testing.assert_allclose(score, fd, rtol=1e-6, atol=1e-6 * np.abs(score).max())
        e2, s2 = model.energy_and_score(params, x, t)
        np.testing.assert_allclose(np.asarray(s2), score, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(e2), np.asarray(model.energy(params, x, t)), rtol=1e-12)


def test_samples_are_independent_in_a_batch(getkey):
    """The batched energy has no cross-talk: perturbing one sample changes only its energy."""
    model, params = _model()
    x = jax.random.normal(getkey(), (5, 2))
    e = model.energy(params, x, 0.2)
    e2 = model.energy(params, x.at[3].add(1.0), 0.2)
    changed = np.flatnonzero(np.asarray(e != e2))
    assert changed.tolist() == [3]


def test_time_features_relative_to_range():
    t = jnp.array([0.1, 0.6])
    f = time_features(t, 2, (0.1, 0.6))
    np.testing.assert_allclose(np.asarray(f[:, 0]), [0.0, 1.0], atol=1e-6)
    assert f.shape == (2, 5)


def test_same_key_same_parameters_different_key_differs():
    _, p1 = _model(key=3)
    _, p2 = _model(key=3)
    _, p3 = _model(key=4)
    l1, l2, l3 = (jax.tree.leaves(p) for p in (p1, p2, p3))
    assert all(np.array_equal(a, b) for a, b in zip(l1, l2))
    assert not all(np.array_equal(a, b) for a, b in zip(l1, l3))


def test_unknown_model_kind():
    with pytest.raises(ValueError, match="unknown model kind"):
        ModelConfig(kind="resnet")


@pytest.mark.parametrize("kind,event_shape", MOLECULAR)
def test_models_tell_a_molecule_from_its_mirror_image(kind, event_shape, getkey):
    """DESIGN D10: a reflection-invariant energy would force p(phi, psi) = p(-phi, -psi)."""
    model, params = _molecular_model(kind, event_shape)
    x = jax.random.normal(getkey(), (16, *event_shape))
    mirror = x * jnp.array([1.0, 1.0, -1.0])
    e, e_mirror = model.energy(params, x, 0.01), model.energy(params, mirror, 0.01)
    assert np.min(np.abs(np.asarray(e - e_mirror))) > 1e-6


@pytest.mark.parametrize("kind", ["mlp", "transformer", "invariant"])
def test_molecular_models_are_translation_invariant_with_zero_net_force(kind, getkey):
    """Translation invariance: E(x + c) = E(x), hence the scores (forces) of the beads sum to zero."""
    model, params = _molecular_model(kind, (6, 3))
    x = jax.random.normal(getkey(), (8, 6, 3))
    shifted = x + jnp.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(np.asarray(model.energy(params, shifted, 0.1)),
                               np.asarray(model.energy(params, x, 0.1)), rtol=1e-5, atol=1e-5)
    net = np.asarray(model.score(params, x, 0.1).sum(axis=1))
    assert np.abs(net).max() < 1e-5 * np.abs(np.asarray(model.score(params, x, 0.1))).max()


def test_invariant_mlp_is_exactly_rotation_invariant_and_equivariant(getkey):
    """E(xR^T) = E(x) for proper rotations, and the score rotates with the molecule."""
    from scoremd.systems._molecule import random_rotations

    model, params = _molecular_model("invariant", (5, 3))
    x = jax.random.normal(getkey(), (16, 5, 3))
    rot = random_rotations(getkey(), 16)
    xr = jnp.einsum("bij,bnj->bni", rot, x)
    np.testing.assert_allclose(np.asarray(model.energy(params, xr, 0.05)), np.asarray(model.energy(params, x, 0.05)),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(model.score(params, xr, 0.05)),
                               np.asarray(jnp.einsum("bij,bnj->bni", rot, model.score(params, x, 0.05))),
                               rtol=1e-4, atol=1e-4)


def test_invariant_features_need_molecules():
    with pytest.raises(ValueError, match="invariant"):
        _model((2,), kind="mlp", features="invariant")
    with pytest.raises(ValueError, match='kind = "mlp" only'):
        ModelConfig(kind="transformer", features="invariant")


def test_transformer_needs_molecular_events():
    with pytest.raises(ValueError, match="n_beads, 3"):
        _model((2,), kind="transformer")
