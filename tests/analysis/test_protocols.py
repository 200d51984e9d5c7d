"""The paper's 50 000-frame protocol and the large-sample protocol, with their floors."""

import numpy as np
import pytest

from scoremd.analysis._protocols import large_sample, paper_protocol, protocol_lines, protocols
from scoremd.systems import ALANINE_DIPEPTIDE


def _frames(n, seed, squash=1.0):
    """Random 5-bead chains; ``squash`` < 1 narrows the dihedral distribution."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5, 3))
    x[:, :, 2] *= squash
    return x


def test_paper_protocol_draws_equal_sizes_and_reports_the_spread():
    a, b = _frames(6000, 0), _frames(9000, 1)
    m = paper_protocol(ALANINE_DIPEPTIDE, a, b, n=4000, draws=5)
    assert m["n"] == 4000 and m["draws"] == 5 and m["js_sd"] > 0 and m["pmf_sd"] > 0
    assert paper_protocol(ALANINE_DIPEPTIDE, a, b, n=50_000)["n"] == 6000  # capped at the smaller set
    assert paper_protocol(ALANINE_DIPEPTIDE, a, b, n=4000, draws=5) == m  # fixed seed
    # A different distribution scores well above two samples of the same one.
    other = paper_protocol(ALANINE_DIPEPTIDE, _frames(6000, 2, squash=0.02), b, n=4000)
    assert other["js"] > 2 * m["js"]
    with pytest.raises(ValueError, match="draws"):
        paper_protocol(ALANINE_DIPEPTIDE, a, b, draws=0)


def test_plug_in_js_falls_with_sample_size_so_floors_match_sizes():
    a, b = _frames(20_000, 0), _frames(20_000, 1)
    small = large_sample(ALANINE_DIPEPTIDE, a[:2000], b)
    large = large_sample(ALANINE_DIPEPTIDE, a, b)
    assert small["n"] == 2000 and large["n"] == 20_000 and small["js"] > 2 * large["js"]


def test_protocols_put_each_set_next_to_a_floor_of_its_own_size():
    reference, independent = _frames(8000, 0), _frames(8000, 1)
    result = protocols(ALANINE_DIPEPTIDE, {"i.i.d.": _frames(3000, 2), "MD": _frames(5000, 3)}, reference,
                       independent, n=2500, draws=3)
    for name, size in (("i.i.d.", 3000), ("MD", 5000)):
        assert result["paper"][name]["n"] == result["paper"][f"floor {name}"]["n"] == 2500
        assert result["large"][name]["n"] == result["large"][f"floor {name}"]["n"] == size
    # A set larger than the independent reference (long MD) is scored at the floor's size.
    big = protocols(ALANINE_DIPEPTIDE, {"MD": _frames(12_000, 4)}, reference, independent[:4000], n=5000, draws=2)
    for key in ("paper", "large"):
        assert big[key]["MD"]["n"] == big[key]["floor MD"]["n"] == 4000
    lines = protocol_lines({"reference": "test runs [4]", **result})
    assert "against the test runs [4]" in lines[1] and sum(line.startswith("| paper") for line in lines) == 2
    assert not any("training-data rows" in line for line in lines)


def test_training_frames_scored_like_a_model_show_what_the_training_split_allows():
    """Training frames from another distribution than the scored runs sit above the floor: the
    row says so, and no model of those frames can be read below it."""
    reference, independent = _frames(8000, 0), _frames(8000, 1)
    shifted = _frames(3000, 4, squash=0.02)
    result = protocols(ALANINE_DIPEPTIDE, {"i.i.d.": _frames(3000, 2), "training data": shifted}, reference,
                       independent, n=2500, draws=3)
    assert result["large"]["training data"]["js"] > 1.5 * result["large"]["floor training data"]["js"]
    lines = protocol_lines({"reference": "test runs [4]", **result})
    assert sum("| training data |" in line for line in lines) == 2
    assert any("training-data rows are frames the model was fitted to" in line for line in lines)


def test_phi_positive_per_block_of_md_time():
    from scoremd.analysis import phi_positive, phi_positive_blocks

    traj = np.stack([_frames(4, k) for k in range(10)])  # (10 frames, 4 replicas, 5, 3)
    blocks = phi_positive_blocks(ALANINE_DIPEPTIDE, traj, frame_ps=250.0)  # 4 frames per ns
    assert blocks["block_ps"] == 1000.0 and len(blocks["share"]) == 2  # the last 2 frames make no full block
    assert blocks["share"][0] == phi_positive(ALANINE_DIPEPTIDE, traj[:4].reshape(-1, 5, 3))
    short = phi_positive_blocks(ALANINE_DIPEPTIDE, traj, frame_ps=1.0)  # 10 ps: one block of it all
    assert short["block_ps"] == 10.0 and short["share"] == [phi_positive(ALANINE_DIPEPTIDE, traj.reshape(-1, 5, 3))]


def test_phi_positive_by_run_gives_each_runs_share_and_the_standard_error_over_runs():
    from scoremd.analysis import phi_positive, phi_positive_by_run

    x = np.concatenate([_frames(300, k) for k in range(3)])
    runs = np.repeat([4, 5, 7], 300)
    result = phi_positive_by_run(ALANINE_DIPEPTIDE, x, runs)
    shares = [phi_positive(ALANINE_DIPEPTIDE, x[runs == r]) for r in (4, 5, 7)]
    assert result["runs"] == dict(zip((4, 5, 7), shares))
    assert result["mean"] == pytest.approx(np.mean(shares))
    assert result["se"] == pytest.approx(np.std(shares, ddof=1) / np.sqrt(3))
    assert phi_positive_by_run(ALANINE_DIPEPTIDE, x[:300], runs[:300])["se"] is None  # one run: no spread
    with pytest.raises(ValueError, match="run_index has 2 entries for 900 frames"):
        phi_positive_by_run(ALANINE_DIPEPTIDE, x, runs[:2])


def test_the_report_reads_model_shares_in_units_of_the_runs_standard_error():
    from scoremd.analysis._molecular import _share_by_run_lines

    shares = {"training data": 0.03, "i.i.d.": 0.05, "MD": 0.02}
    runs = {"reference": "test runs [4, 5]", "runs": {4: 0.01, 5: 0.03}, "mean": 0.02, "se": 0.01}
    text = _share_by_run_lines({"phi_positive_runs": runs, "phi_positive": shares})[1]
    assert "run 4 1.00%, run 5 3.00%; mean 2.00% ± 1.00%" in text
    assert "training data 3.00% (+1.0 se), i.i.d. 5.00% (+3.0 se), MD 2.00% (+0.0 se)" in text
    same = _share_by_run_lines({"phi_positive_runs": {**runs, "se": 0.0}, "phi_positive": shares})[1]
    assert "no spread over runs" in same  # e.g. every short run at 0 %: no division by zero
    one = _share_by_run_lines({"phi_positive_runs": {**runs, "se": None}, "phi_positive": shares})[1]
    assert "one run" in one
    # The training runs' own spread widens the uncertainty a fitted model is read against.
    train = {"runs": {0: 0.02, 1: 0.04}, "mean": 0.03, "se": 0.01}
    both = _share_by_run_lines({"phi_positive_runs": runs, "phi_positive": shares,
                                "phi_positive_training_runs": train})[1]
    assert "training runs hold 3.00% ± 1.00% (standard error over its 2 runs)" in both
    assert "(± 1.41%): training data +0.7, i.i.d. +2.1, MD +0.0 combined standard errors" in both
