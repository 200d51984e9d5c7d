"""The transferable dipeptide networks (MLP and graph transformer): invariance, chirality, the exact
absent slot, conditioning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd.diffusion import LossConfig, training_loss
from scoremd.geometry import random_rotations
from scoremd.models import ModelConfig, build_model
from scoremd.models._peptide import CB_SLOTS, GLYCINE, fill_absent, slot_mask
from scoremd.sde import VPSDE

ALA, LYS = 0, 8


@pytest.fixture(scope="module", params=["peptide", "peptide_transformer"])
def mixture(request):
    config = ModelConfig(kind=request.param, hidden=(32, 32), heads=2, head_dim=8, expert_boundaries=(0.1,))
    return build_model(config, (10, 3), VPSDE(), key=jax.random.PRNGKey(0))


def _x(key, b=6):
    return jax.random.normal(key, (b, 10, 3))


def test_invariant_to_rotations_and_translations_of_the_beads(mixture, request):
    """Both are exactly translation invariant; the MLP's features also rotation invariant (the
    transformer learns rotations from augmentation)."""
    model, params = mixture
    bound = model.bind((ALA, LYS))
    x = _x(jax.random.PRNGKey(1))
    rotate = request.node.callspec.params["mixture"] == "peptide"
    rot = random_rotations(jax.random.PRNGKey(2), x.shape[0]) if rotate else jnp.eye(3)[None]
    moved = jnp.einsum("bij,bnj->bni", rot, x) + jnp.array([[[0.3, -1.0, 2.0]]])
    for t in (1e-3, 0.05, 0.5):
        e, e2 = bound.energy(params, x, t), bound.energy(params, moved, t)
        np.testing.assert_allclose(e2, e, rtol=2e-5, atol=2e-4)


def test_chirality_aware(mixture):
    """The mirror image is a different molecule (docs/design.md D10)."""
    model, params = mixture
    bound = model.bind((ALA, LYS))
    x = _x(jax.random.PRNGKey(3))
    mirror = x * jnp.array([[[-1.0, 1.0, 1.0]]])
    diff = np.abs(np.asarray(bound.energy(params, x, 0.01) - bound.energy(params, mirror, 0.01)))
    assert diff.min() > 1e-3


def test_absent_slot_is_the_exact_standard_normal(mixture):
    """A glycine's CB slot: score -x exactly, and the learned part does not see it."""
    model, params = mixture
    bound = model.bind((GLYCINE, LYS))
    x = _x(jax.random.PRNGKey(4))
    for t in (1e-3, 0.5):
        s = bound.score(params, x, t)
        np.testing.assert_allclose(s[:, CB_SLOTS[0]], -x[:, CB_SLOTS[0]], atol=1e-6)
        moved = x.at[:, CB_SLOTS[0]].add(0.7)
        delta = bound.energy(params, moved, t) - bound.energy(params, x, t)
        exact = 0.5 * jnp.sum(moved[:, CB_SLOTS[0]] ** 2 - x[:, CB_SLOTS[0]] ** 2, axis=-1)
        np.testing.assert_allclose(delta, exact, rtol=1e-4, atol=1e-4)
    # a residue that is not glycine has its CB in the learned part
    s = model.bind((ALA, LYS)).score(params, x, 1e-3)
    assert np.abs(np.asarray(s[:, CB_SLOTS[0]] + x[:, CB_SLOTS[0]])).max() > 1e-3


def test_conditioning_per_sample_equals_per_peptide(mixture):
    """A training batch mixes peptides: binding (B, 2) amino acids gives each row its own peptide's energy."""
    model, params = mixture
    x = _x(jax.random.PRNGKey(5), 4)
    types = jnp.array([[ALA, LYS], [GLYCINE, LYS], [LYS, GLYCINE], [LYS, ALA]])
    t = jnp.array([1e-3, 0.05, 0.3, 0.9])  # mixed times: both experts
    batch = model.bind(types).energy(params, x, t)
    rows = [model.bind(tuple(int(v) for v in types[i])).energy(params, x[i:i + 1], t[i:i + 1])[0] for i in range(4)]
    np.testing.assert_allclose(batch, jnp.array(rows), rtol=1e-5, atol=1e-5)
    assert len({round(float(r), 3) for r in rows}) == 4  # the amino acids matter


def test_unbound_use_is_an_error(mixture):
    model, params = mixture
    with pytest.raises(TypeError, match="context"):
        model.energy(params, _x(jax.random.PRNGKey(6)), 0.1)
    plain, plain_params = build_model(ModelConfig(hidden=(8,)), (2,), VPSDE(), key=jax.random.PRNGKey(0))
    with pytest.raises(TypeError):
        plain.bind((0, 1))


def test_fill_absent_and_mask():
    types = jnp.array([[GLYCINE, ALA], [ALA, GLYCINE], [ALA, ALA]])
    mask = np.asarray(slot_mask(types))
    assert mask.sum(axis=1).tolist() == [9, 9, 10] and mask[0, 2] == 0 and mask[1, 7] == 0
    x = jnp.zeros((3, 10, 3))
    filled = np.asarray(fill_absent(jax.random.PRNGKey(0), x, types))
    assert np.all(filled[mask > 0] == 0) and np.all(filled[0, 2] != 0) and np.all(filled[1, 7] != 0)
    big = np.asarray(fill_absent(jax.random.PRNGKey(1), jnp.zeros((20000, 10, 3)), jnp.full((20000, 2), GLYCINE)))
    noise = big[:, list(CB_SLOTS)].ravel()
    assert abs(noise.std() - 1) < 5 / np.sqrt(2 * noise.size) * 3 and abs(noise.mean()) < 5 / np.sqrt(noise.size)


def test_training_loss_with_context_and_fp_subbatch(mixture):
    model, params = mixture
    x = _x(jax.random.PRNGKey(7), 8) * 0.3
    types = jnp.array([[ALA, LYS], [GLYCINE, LYS]] * 4)
    config = LossConfig(fp_weight=1e-2, fp_batch_size=3)
    expert = model.experts[0]

    def loss(p):
        return training_loss(expert, p, jax.random.PRNGKey(8), x, config, (0.0, 0.1), 0.03, True, context=types)

    value, grads = jax.value_and_grad(loss)(params["expert_0"])
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
