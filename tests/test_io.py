import numpy as np
import pytest

from scoremd.io import NpyFrameWriter, atomic_save_npy


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
