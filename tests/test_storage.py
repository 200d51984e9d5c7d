import numpy as np
import pytest

from scoremd.storage import NpyFrameWriter, atomic_save_npy


def test_streamed_npy_is_valid_after_every_append(tmp_path):
    path = tmp_path / "t.npy"
    frames = np.random.default_rng(0).normal(size=(7, 3, 2)).astype(np.float32)
    with NpyFrameWriter(path, (3, 2)) as w:
        assert np.load(path).shape == (0, 3, 2)
        w.append(frames[:3])
        np.testing.assert_array_equal(np.load(path), frames[:3])  # readable mid-run
        w.append(frames[3:])
    np.testing.assert_array_equal(np.load(path), frames)
    np.testing.assert_array_equal(np.load(path, mmap_mode="r")[5], frames[5])
    with NpyFrameWriter(tmp_path / "u.npy", (3, 2)) as w, pytest.raises(ValueError, match="do not match"):
        w.append(frames[:, :2])


def test_atomic_save_does_not_leave_partial_file(tmp_path):
    path = tmp_path / "a.npy"
    atomic_save_npy(path, np.arange(3))

    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_save_npy(path, Boom())
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_resume_keeps_a_prefix_and_appends(tmp_path):
    path = tmp_path / "t.npy"
    frames = np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2)
    with NpyFrameWriter(path, (2, 2)) as w:
        w.append(frames)
    with NpyFrameWriter(path, (2, 2), resume_at=3) as w:  # frames 3, 4 came after the last checkpoint
        assert np.load(path).shape == (3, 2, 2)
        w.append(frames[:1] + 100)
    np.testing.assert_array_equal(np.load(path), np.concatenate([frames[:3], frames[:1] + 100]))
    with pytest.raises(ValueError, match="holds 4 frames"):
        NpyFrameWriter(path, (2, 2), resume_at=9)
    with pytest.raises(ValueError, match="not written by NpyFrameWriter"):
        NpyFrameWriter(path, (3, 2), resume_at=1)
    np.save(tmp_path / "plain.npy", frames)
    with pytest.raises(ValueError, match="not written by NpyFrameWriter"):
        NpyFrameWriter(tmp_path / "plain.npy", (2, 2), resume_at=1)
