"""Training / held-out splits by whole runs and by time blocks."""

import numpy as np
import pytest

from scoremd.data import run_split, split_frames, time_block_split


def test_time_block_split():
    run = np.repeat([0, 1], [10, 20])
    train, val = time_block_split(run, 0.1)
    assert val.tolist() == [9, 28, 29]
    assert sorted(train.tolist() + val.tolist()) == list(range(30))


def test_run_split_holds_out_whole_runs():
    run = np.repeat([0, 1, 2, 3], [3, 2, 4, 1])
    train, val = run_split(run, 0.5)
    assert train.tolist() == [0, 1, 2, 3, 4] and val.tolist() == [5, 6, 7, 8, 9]
    # At least one run and at least one training run, whatever the fraction.
    assert run_split(run, 0.01)[1].tolist() == [9]
    assert run_split(run, 0.99)[0].tolist() == [0, 1, 2]
    # Nothing held out at fraction 0; a single run is split in time.
    assert run_split(run, 0.0)[1].tolist() == []
    one = np.zeros(10, int)
    assert run_split(one, 0.2)[1].tolist() == time_block_split(one, 0.2)[1].tolist() == [8, 9]
    with pytest.raises(ValueError, match="validation_fraction"):
        run_split(run, 1.0)
    assert split_frames(run, 0.5, "time")[1].tolist() == time_block_split(run, 0.5)[1].tolist()
    with pytest.raises(ValueError, match="held_out"):
        split_frames(run, 0.5, "frames")
