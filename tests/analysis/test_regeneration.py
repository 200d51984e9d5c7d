"""Regeneration profiles: the basin share of frames regenerated from each diffusion time."""

import dataclasses

import jax
import numpy as np
import pytest

from scoremd.analysis import phi_positive
from scoremd.analysis._regeneration import basin_statistic, regeneration_profile
from scoremd.systems import ALANINE_DIPEPTIDE, CHIGNOLIN, get_system


class _Fake:
    """An emulator-like object whose regenerate maps frames by ``fn`` (t0 ignored), counting calls."""

    def __init__(self, system, fn):
        self.system, self.fn, self.calls = system, fn, []

    def regenerate(self, positions, t0, *, key):
        self.calls.append((len(positions), t0))
        return self.fn(np.asarray(positions))


def _chains(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 5, 3))


def test_a_score_that_keeps_the_frames_keeps_the_share_and_a_mirror_flips_it():
    x = _chains(1000)
    start = phi_positive(ALANINE_DIPEPTIDE, x)
    keep = regeneration_profile(_Fake(ALANINE_DIPEPTIDE, lambda f: f), x, (0.1, 1.0), key=jax.random.PRNGKey(0))
    assert keep["statistic"] == "share at phi > 0" and keep["n"] == 1000 and keep["start"] == start
    assert [r["share"] for r in keep["profile"]] == [start, start] and [r["t0"] for r in keep["profile"]] == [0.1, 1.0]
    assert keep["start_se"] == pytest.approx(np.sqrt(start * (1 - start) / 1000))
    # The mirror image (x -> -x) turns every dihedral's sign: the share becomes 1 - start.
    fake = _Fake(ALANINE_DIPEPTIDE, lambda f: -f)
    done = []
    flip = regeneration_profile(fake, x, (0.5,), key=jax.random.PRNGKey(0), batch=300, progress=done.append)
    assert flip["profile"][0]["share"] == pytest.approx(1 - start)
    assert fake.calls == [(300, 0.5), (300, 0.5), (300, 0.5), (100, 0.5)] and sum(done) == 1000


def test_the_js_profile_measures_blurred_basins_against_the_reference():
    """Frames kept as they are score their own JS against the reference (the floor of that many
    frames); frames blurred by noise score above it, more the more they are blurred."""
    base = 0.15 * _chains(1, seed=0)  # one conformation (nm); frames scatter 0.01 nm around it
    reference, x = base + 0.01 * _chains(20_000, seed=1), base + 0.01 * _chains(4000, seed=2)
    rng = np.random.default_rng(3)
    widths = {0.1: 0.0, 0.5: 0.01, 1.0: 0.03}
    fake = _Fake(ALANINE_DIPEPTIDE, lambda f: f)
    fake.regenerate = lambda p, t0, key: np.asarray(p) + widths[t0] * rng.normal(size=np.shape(p))
    result = regeneration_profile(fake, x, tuple(widths), key=jax.random.PRNGKey(0), reference=reference)
    js = [r["js"] for r in result["profile"]]
    assert js[0] == pytest.approx(result["start_js"]) and 0 < result["start_js"] < js[1] < js[2]
    assert result["reference_n"] == 20_000 and result["js_angles"] == "phi/psi"
    assert "start_js" not in regeneration_profile(fake, x, (0.1,), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="the frames' shape"):
        regeneration_profile(fake, x, (0.1,), key=jax.random.PRNGKey(0), reference=reference[:, :4])


def test_proteins_count_folded_frames_and_systems_without_a_basin_are_refused():
    import mdtraj

    label, folded = basin_statistic(CHIGNOLIN)
    native = mdtraj.load(CHIGNOLIN.structure).xyz[0]
    assert label == "folded share (Q > 0.8)"
    assert folded(native[None]).tolist() == [True] and folded(3 * native[None]).tolist() == [False]
    with pytest.raises(ValueError, match="no basin statistic"):
        basin_statistic(dataclasses.replace(ALANINE_DIPEPTIDE, dihedrals=()))
    with pytest.raises(ValueError, match="no basin statistic"):
        basin_statistic(get_system("mueller_brown"))


def test_bad_frames_are_refused():
    fake = _Fake(ALANINE_DIPEPTIDE, lambda f: f)
    with pytest.raises(ValueError, match=r"shape \(N, n_beads, 3\)"):
        regeneration_profile(fake, np.zeros((0, 5, 3)), key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="batch"):
        regeneration_profile(fake, _chains(10), key=jax.random.PRNGKey(0), batch=0)
