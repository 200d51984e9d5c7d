import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.models import ModelConfig, build_model, closest_distances, distance_statistics, time_features
from scoremd.sde import VPSDE


def _model(event_shape=(2,), key=0, kind="mlp", features="cartesian"):
    return build_model(ModelConfig(kind=kind, features=features, hidden=(32, 32), heads=2, head_dim=8),
                       event_shape, VPSDE(), key=jax.random.PRNGKey(key))


MOLECULAR = [("mlp", (5, 3)), ("transformer", (5, 3)), ("invariant", (5, 3)), ("whitened", (5, 3)),
             ("bonded", (5, 3)), ("walled", (5, 3)), ("log_time", (5, 3))]


def _molecular_model(kind, event_shape):
    if kind == "invariant":
        return _model(event_shape, kind="mlp", features="invariant")
    if kind in ("whitened", "bonded", "walled", "log_time"):
        data = jax.random.normal(jax.random.PRNGKey(1), (64, *event_shape))
        config = ModelConfig(features="invariant", whiten_distances=True, bond_prior=kind != "whitened",
                             excluded_volume=kind == "walled", hidden=(32, 32),
                             time_embedding="log" if kind == "log_time" else "linear")
        return build_model(config, event_shape, VPSDE(), key=jax.random.PRNGKey(0),
                           distance_stats=distance_statistics(data), closest=closest_distances(data))
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
    # Flax's LayerNorm keeps float32 internals, so float64 needs standard promotion here.
    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
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
                np.asarray(model.energy(params, x + e[None], t)) - np.asarray(model.energy(params, x - e[None], t))
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


def test_log_time_features_spread_the_decades_of_small_t():
    sde = VPSDE()
    t = jnp.array([sde.t_min, 1e-4, 1e-3, 1e-2, 0.1])
    lin = np.asarray(time_features(t, 2, (0.0, 0.1)))
    f = np.asarray(time_features(t, 2, (0.0, 0.1), log_floor=sde.t_min))
    assert lin.shape == (5, 5) and f.shape == (5, 6)
    np.testing.assert_allclose(f[:, 0], lin[:, 0])  # the linear time stays a feature
    # log t from t_min to the range's end on [0, 1], one quarter per decade from 1e-5 to 1e-1
    np.testing.assert_allclose(f[:, 1], [0.0, 0.25, 0.5, 0.75, 1.0], atol=1e-6)
    # a linear embedding hardly tells 1e-5 from 1e-3; the log one does
    assert np.abs(lin[0] - lin[2]).max() < 0.15
    assert np.abs(f[0] - f[2]).max() > 0.5
    # log features of times below the floor are those of the floor (the samplers never go there)
    below = np.asarray(time_features(jnp.array([0.0]), 2, (0.0, 0.1), log_floor=sde.t_min))
    np.testing.assert_allclose(below[:, 1:], f[:1, 1:])


def test_log_time_embedding_is_for_the_mlp():
    with pytest.raises(ValueError, match='time_embedding = "log" is implemented for kind = "mlp"'):
        ModelConfig(kind="transformer", time_embedding="log")
    with pytest.raises(ValueError, match="unknown model.time_embedding"):
        ModelConfig(time_embedding="sqrt")


def test_same_key_same_parameters_different_key_differs():
    _, p1 = _model(key=3)
    _, p2 = _model(key=3)
    _, p3 = _model(key=4)
    l1, l2, l3 = (jax.tree.leaves(p) for p in (p1, p2, p3))
    assert all(np.array_equal(a, b) for a, b in zip(l1, l2))
    assert not all(np.array_equal(a, b) for a, b in zip(l1, l3))


def test_unknown_model_kind():
    with pytest.raises(ValueError, match="unknown model.kind"):
        ModelConfig(kind="resnet")


@pytest.mark.parametrize("kind,event_shape", MOLECULAR)
def test_models_tell_a_molecule_from_its_mirror_image(kind, event_shape, getkey):
    """docs/design.md D10: a reflection-invariant energy would force p(phi, psi) = p(-phi, -psi)."""
    model, params = _molecular_model(kind, event_shape)
    x = jax.random.normal(getkey(), (16, *event_shape))
    mirror = x * jnp.array([1.0, 1.0, -1.0])[None, None, :]
    e, e_mirror = model.energy(params, x, 0.01), model.energy(params, mirror, 0.01)
    assert np.min(np.abs(np.asarray(e - e_mirror))) > 1e-6


@pytest.mark.parametrize("kind", ["mlp", "transformer", "invariant", "whitened", "bonded", "walled"])
def test_molecular_models_are_translation_invariant_with_zero_net_force(kind, getkey):
    """Translation invariance: E(x + c) = E(x), hence the scores (forces) of the beads sum to zero."""
    model, params = _molecular_model(kind, (6, 3))
    x = jax.random.normal(getkey(), (8, 6, 3))
    shifted = x + jnp.array([0.3, -1.0, 2.0])[None, None, :]
    np.testing.assert_allclose(np.asarray(model.energy(params, shifted, 0.1)),
                               np.asarray(model.energy(params, x, 0.1)), rtol=1e-5, atol=1e-5)
    net = np.asarray(model.score(params, x, 0.1).sum(axis=1))
    assert np.abs(net).max() < 1e-5 * np.abs(np.asarray(model.score(params, x, 0.1))).max()


@pytest.mark.parametrize("kind", ["invariant", "whitened", "bonded", "walled"])
def test_invariant_mlp_is_exactly_rotation_invariant_and_equivariant(kind, getkey):
    """E(xR^T) = E(x) for proper rotations, and the score rotates with the molecule."""
    from scoremd.geometry import random_rotations

    model, params = _molecular_model(kind, (5, 3))
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


def test_whitened_distances_are_standard_scores_of_the_diffused_data(getkey):
    """At t -> 0 the whitened distances of the data have mean 0 and unit variance; at t = 1
    (m_t = 0.0066) they are d / sqrt(2 sigma_t^2) up to m_t mu / d, under 1 % here."""
    from scoremd.models._mlp import pair_distances, whitened_distances

    sde = VPSDE()
    x = jnp.array([[[0.0, 0, 0], [1.5, 0, 0], [2.0, 1.2, 0], [3.4, 1.0, 0.8]]]) + 0.05 * jax.random.normal(
        getkey(), (4096, 4, 3))
    mean, std = distance_statistics(x)
    z = whitened_distances(pair_distances(x), jnp.full(len(x), sde.t_min), sde, mean, std)
    # tolerances: a few standard errors of a mean (1/sqrt(n)) and of a variance (sqrt(2/n)) of n = 4096
    np.testing.assert_allclose(np.asarray(z.mean(0)), 0.0, atol=5 / np.sqrt(len(x)))
    np.testing.assert_allclose(np.asarray(z.std(0)), 1.0, atol=5 * np.sqrt(2 / len(x)))
    d = pair_distances(x)
    z1 = whitened_distances(d, jnp.ones(len(x)), sde, mean, std)
    np.testing.assert_allclose(np.asarray(z1), np.asarray(d / (np.sqrt(2) * sde.std(1.0))), rtol=0.01)


def test_whitened_distances_need_statistics():
    with pytest.raises(ValueError, match="distance_stats"):
        build_model(ModelConfig(features="invariant", whiten_distances=True), (5, 3), VPSDE(),
                    key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="invariant"):
        ModelConfig(whiten_distances=True)
    with pytest.raises(ValueError, match="vary"):
        distance_statistics(np.zeros((10, 5, 3)))


def test_bond_prior_is_a_harmonic_bond_of_the_data_at_small_t(getkey):
    """With the network's output switched off, E(x, t_min) = Gaussian baseline + 1/2 sum_b
    ((d_b - mu_b) / s_b)^2 (mu_b, s_b: the data's bond lengths; 1 % for m_t and sigma_t at
    t_min), and a bond stretched far outside the data is pulled back along its direction."""
    from scoremd.models._mlp import pair_distances

    sde = VPSDE()
    chain = jnp.array([[0.0, 0, 0], [1.0, 0, 0], [1.5, 0.9, 0], [2.4, 1.1, 0.4], [2.6, 2.0, 1.0]])
    data = chain[None] + 0.03 * jax.random.normal(getkey(), (2048, 5, 3))
    stats = distance_statistics(data)
    config = ModelConfig(features="invariant", whiten_distances=True, bond_prior=True, hidden=(16,))
    model, params = build_model(config, (5, 3), sde, key=jax.random.PRNGKey(0), distance_stats=stats)
    params = jax.tree.map(jnp.zeros_like, params)  # f = 0: only the baseline and the prior remain
    x = data[:64]
    d = pair_distances(x)
    bonds = [0, 4, 7, 9]  # (0, 1), (1, 2), (2, 3), (3, 4) among the 10 pairs i < j
    mu, s = np.asarray(stats[0])[bonds], np.asarray(stats[1])[bonds]
    prior = 0.5 * np.sum(((np.asarray(d)[:, bonds] - mu) / s) ** 2, axis=-1)
    baseline = 0.5 * np.sum(np.asarray(x - x.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))
    np.testing.assert_allclose(np.asarray(model.energy(params, x, sde.t_min)), baseline + prior, rtol=0.01)

    stretched = x.at[:, 4].add(jnp.array([[0.0, 3.0, 0.0]]))  # bond (3, 4) ~4x its length
    score = np.asarray(model.score(params, stretched, sde.t_min))
    along = np.array(stretched[:, 3] - stretched[:, 4])
    along /= np.linalg.norm(along, axis=-1, keepdims=True)
    # The score on the last bead points back to its neighbour and is the prior's (d - mu) / s^2.
    pull = np.sum(score[:, 4] * along, axis=-1)
    d34 = np.linalg.norm(np.asarray(stretched[:, 4] - stretched[:, 3]), axis=-1)
    assert np.all(pull > 0.9 * (d34 - mu[3]) / s[3] ** 2)


def test_bond_prior_needs_whitened_distances():
    with pytest.raises(ValueError, match="bond_prior needs model.whiten_distances"):
        ModelConfig(features="invariant", bond_prior=True)


def test_excluded_volume_is_zero_on_the_data_and_a_wall_below_it(getkey):
    """With the network's output switched off, E(x, t_min) is the Gaussian baseline on the data
    (no pair closer than it ever was), and pushing two non-bonded beads through each other costs
    1/2 ((r - d) / w)^2 with w = 5 % of their closest approach; bonded pairs feel no wall."""
    from scoremd.models import closest_distances
    from scoremd.models._mlp import EXCLUDED_VOLUME_WIDTH, pair_distances

    sde = VPSDE()
    chain = jnp.array([[0.0, 0, 0], [1.0, 0, 0], [1.5, 0.9, 0], [2.4, 1.1, 0.4], [2.6, 2.0, 1.0]])
    data = chain[None] + 0.03 * jax.random.normal(getkey(), (2048, 5, 3))
    closest = closest_distances(data)
    np.testing.assert_allclose(closest, np.asarray(pair_distances(data)).min(0), rtol=1e-6)
    config = ModelConfig(features="invariant", excluded_volume=True, hidden=(16,))
    model, params = build_model(config, (5, 3), sde, key=jax.random.PRNGKey(0), closest=closest)
    params = jax.tree.map(jnp.zeros_like, params)  # f = 0: only the baseline and the wall remain
    x = data[:64]

    def baseline(y):
        return 0.5 * np.sum(np.asarray(y - y.mean(axis=1, keepdims=True)) ** 2, axis=(1, 2))

    np.testing.assert_allclose(np.asarray(model.energy(params, x, sde.t_min)), baseline(x), rtol=1e-5)
    # bead 4 moved onto bead 1 (pair (1, 4), non-bonded): the wall's energy, 1 % for m_t, sigma_t
    pushed = x.at[:, 4].set(x[:, 1] + jnp.array([[0.05, 0.0, 0.0]]))
    d = np.asarray(pair_distances(pushed))
    nonbonded = [1, 2, 3, 5, 6, 8]  # pairs (0,2) (0,3) (0,4) (1,3) (1,4) (2,4) among the 10 i < j
    r = np.asarray(closest)[nonbonded]
    wall = 0.5 * np.sum((np.maximum(r - d[:, nonbonded], 0) / (EXCLUDED_VOLUME_WIDTH * r)) ** 2, axis=-1)
    assert np.all(wall > 100)  # hundreds of k_BT: beads do not pass through each other
    np.testing.assert_allclose(np.asarray(model.energy(params, pushed, sde.t_min)), baseline(pushed) + wall,
                               rtol=0.01)
    # a bond squeezed below its closest approach is the bond prior's business, not the wall's
    squeezed = x.at[:, 1].set(x[:, 0] + 0.3 * (x[:, 1] - x[:, 0]))
    d = np.asarray(pair_distances(squeezed))
    assert np.any(d[:, 0] < closest[0])
    wall = 0.5 * np.sum((np.maximum(r - d[:, nonbonded], 0) / (EXCLUDED_VOLUME_WIDTH * r)) ** 2, axis=-1)
    np.testing.assert_allclose(np.asarray(model.energy(params, squeezed, sde.t_min)), baseline(squeezed) + wall,
                               rtol=0.01)
    with pytest.raises(ValueError, match="closest pair distances"):
        build_model(config, (5, 3), sde, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="excluded_volume needs"):
        ModelConfig(excluded_volume=True)
