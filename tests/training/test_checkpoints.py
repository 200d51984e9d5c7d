"""Checkpoint integrity: damage is detected (bit flips, truncation, missing manifest), never loaded
silently; training falls back to the intact checkpoint, loading names it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scoremd import CheckpointError
from scoremd.training import Checkpoints
from scoremd.training._checkpoints import MANIFEST

TREE = {"w": jnp.arange(4096, dtype=jnp.float32), "b": jnp.ones((3, 3), jnp.float32), "step": jnp.int32(7)}


def _two_checkpoints(path):
    with Checkpoints(path) as ckpt:
        ckpt.save(10, TREE)
        ckpt.save(20, jax.tree.map(lambda a: a + 1, TREE))
    return path


def _largest_file(step_dir):
    return max((p for p in step_dir.rglob("*") if p.is_file() and p.name != MANIFEST), key=lambda p: p.stat().st_size)


def _flip_bits(step_dir):
    target = _largest_file(step_dir)
    data = bytearray(target.read_bytes())
    for i in (len(data) // 3, len(data) // 2, 2 * len(data) // 3):
        data[i] ^= 0x10
    target.write_bytes(bytes(data))


def _truncate(step_dir):
    target = _largest_file(step_dir)
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])


def _drop_manifest(step_dir):
    (step_dir / MANIFEST).unlink()


DAMAGE = {"bit flips": (_flip_bits, "do not match their checksums"),
          "truncation": (_truncate, "do not match their checksums"),
          "missing manifest": (_drop_manifest, "no checksum manifest")}


def test_intact_checkpoints_restore_exactly(tmp_path):
    with Checkpoints(_two_checkpoints(tmp_path / "c")) as ckpt:
        assert ckpt.steps() == [20, 10] and ckpt.damage(20) is None and ckpt.damage(10) is None
        out = ckpt.restore(TREE)
        np.testing.assert_array_equal(out["w"], np.asarray(TREE["w"]) + 1)
        np.testing.assert_array_equal(ckpt.restore(TREE, 10)["b"], np.asarray(TREE["b"]))


@pytest.mark.parametrize("kind", DAMAGE)
def test_damaged_newest_checkpoint_is_refused_and_names_the_intact_one(tmp_path, kind):
    damage, reason = DAMAGE[kind]
    path = _two_checkpoints(tmp_path / "c")
    damage(path / "20")
    with Checkpoints(path) as ckpt:
        assert reason in ckpt.damage(20)
        with pytest.raises(CheckpointError, match=rf"checkpoint .*20 is damaged: .*{reason}.*step 10 is intact: "
                                                  r"load it with `--step 10`"):
            ckpt.restore(TREE)
        # The intact one loads when asked for by step.
        np.testing.assert_array_equal(ckpt.restore(TREE, 10)["w"], np.asarray(TREE["w"]))


@pytest.mark.parametrize("kind", DAMAGE)
def test_training_falls_back_to_the_intact_checkpoint_and_keeps_the_damaged_one(tmp_path, kind, capsys):
    damage, _ = DAMAGE[kind]
    path = _two_checkpoints(tmp_path / "c")
    damage(path / "20")
    with Checkpoints(path) as ckpt:
        out = ckpt.restore(TREE, fall_back=True)
        assert ckpt.steps() == [10]
    np.testing.assert_array_equal(out["w"], np.asarray(TREE["w"]))
    assert (path / "damaged_20").is_dir()
    assert "resuming from the intact checkpoint at step 10" in capsys.readouterr().err


def test_no_intact_checkpoint_left(tmp_path):
    path = _two_checkpoints(tmp_path / "c")
    _flip_bits(path / "20")
    _truncate(path / "10")
    with Checkpoints(path) as ckpt, pytest.raises(CheckpointError, match="No intact checkpoint is left"):
        ckpt.restore(TREE, fall_back=True)
