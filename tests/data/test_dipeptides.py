"""Dipeptides: the benchmark's peptide sets, structures from sequence and their checks, beads."""

import numpy as np
import pytest

from scoremd._errors import DataError
from scoremd.data import dipeptides as dp
from scoremd.data.peptide_frames import bead_topology, to_beads


def test_sets_are_the_benchmark_split():
    assert len(set(dp.TEST)) == 100 and len(set(dp.VALIDATION)) == 80
    assert not set(dp.TEST) & set(dp.VALIDATION)
    pool = dp.training_pool()
    assert len(pool) == 400 - 180 and not set(pool) & (set(dp.TEST) | set(dp.VALIDATION))
    assert set(dp.EVALUATION) <= set(dp.TEST) and len(dp.EVALUATION) == 18
    assert not any("G" in p for p in dp.PAPER_TEST) and all("G" in p for p in dp.GLYCINE_TEST)


def test_resolve_peptides():
    train = dp.resolve_peptides("train:100")
    assert len(train) == 100 and set(train) <= set(dp.training_pool())
    assert len({p[0] for p in train}) == 20  # a spread over amino acids, not the alphabetical head
    assert dp.resolve_peptides("ak, GP,AK") == ("AK", "GP")
    assert dp.resolve_peptides(["paper", "KG"])[-1] == "KG"
    for bad in ("AX", "AKA", "train:0", "train:999", "", "tset"):
        with pytest.raises(DataError):
            dp.resolve_peptides(bad)


def test_seeds_are_distinct_and_fixed():
    seeds = {dp.peptide_seed(p, r) for p in dp.all_dipeptides() for r in range(2)}
    assert len(seeds) == 800 and min(seeds) > 0
    assert dp.peptide_seed("AA") == 1


def _bonds_between(topology, beads):
    """Pairs (i, j), i < j, of bead numbers whose atoms share a covalent bond in the all-atom topology."""
    number = {int(a): k for k, a in enumerate(beads)}
    for bond in topology.bonds():
        i, j = number.get(bond[0].index), number.get(bond[1].index)
        if i is not None and j is not None:
            yield min(i, j), max(i, j)


def _charge(topology):
    from openmm import NonbondedForce, app

    system = app.ForceField("amber99sbildn.xml", "amber99_obc.xml").createSystem(topology)
    nb = next(f for f in system.getForces() if isinstance(f, NonbondedForce))
    return sum(nb.getParticleParameters(i)[0]._value for i in range(system.getNumParticles()))


@pytest.mark.parametrize("aa", list(dp.AMINO_ACIDS))
def test_every_amino_acid_builds_as_a_checked_zwitterion(aa):
    """Both positions: L-residues, trans bond (checked), OXT, the charge of pH 7, and the beads."""
    expected = {"K": 1, "R": 1, "D": -1, "E": -1}.get(aa, 0)
    for seq in (aa + "A", "A" + aa):
        topology, positions = dp.Dipeptide(seq).build()
        names = [a.name for a in topology.atoms()]
        assert {"OXT", "H2", "H3"} <= set(names)  # C-terminal carboxylate, N-terminal ammonium
        assert _charge(topology) == pytest.approx(expected, abs=1e-4)
        labels = dp.bead_labels(topology)
        assert len(labels) == (9 if aa == "G" else 10)
        cg = bead_topology(seq)  # the beads' own topology (files, viewers) names the same atoms in order
        assert to_beads(np.zeros((3, 10, 3)), seq).shape == (3, cg.n_atoms, 3)
        assert [(a.residue.index, a.residue.name, a.name) for a in cg.atoms] == labels
        bonded = {(a.index, b.index) for a, b in cg.bonds}
        aa_bonds = {(i, j) for i, j in _bonds_between(topology, dp.bead_indices(topology))}
        assert bonded == aa_bonds  # every bead bond is a covalent bond of the all-atom structure
        assert [name for _, _, name in labels][:3] == (["N", "CA", "C"] if seq[0] == "G" else ["N", "CA", "CB"])
        x = np.asarray(positions.value_in_unit(positions.unit))
        for k in range(2):
            if seq[k] != "G":
                from scoremd.data.structures import chirality_dihedral

                assert 100 < chirality_dihedral(topology, x, k) < 145


def test_build_is_deterministic_across_processes():
    """Bit for bit, also in another process (PDBFixer and Modeller relax new atoms on the Reference
    platform with fixed seeds; the multithreaded default platform gave load-dependent positions)."""
    import subprocess
    import sys

    code = ("import sys, numpy as np; from scoremd.data.dipeptides import build_dipeptide; "
            "_, x = build_dipeptide('HD'); sys.stdout.buffer.write(np.asarray(x._value).tobytes())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    _, a = dp.build_dipeptide("HD")
    assert np.asarray(a._value).tobytes() == other


def _rotate(x, axis_from, axis_to, atoms, angle):
    """Rotate ``atoms`` of x by ``angle`` (radians) about the axis through two points."""
    k = (axis_to - axis_from) / np.linalg.norm(axis_to - axis_from)
    out = x.copy()
    v = x[atoms] - axis_from
    out[atoms] = axis_from + v * np.cos(angle) + np.cross(k, v) * np.sin(angle) + np.outer(v @ k, k) * (1 - np.cos(angle))
    return out


def test_check_rejects_d_residues_and_cis_bonds():
    topology, positions = dp.Dipeptide("AK").build()
    x = np.asarray(positions.value_in_unit(positions.unit))
    dp.check_structure(topology, x)
    with pytest.raises(DataError, match="D-amino acid"):
        dp.check_structure(topology, x * np.array([-1.0, 1.0, 1.0]))  # the mirror image
    residues = list(topology.residues())
    c1 = next(a.index for a in residues[0].atoms() if a.name == "C")
    n2 = next(a.index for a in residues[1].atoms() if a.name == "N")
    second = [a.index for a in residues[1].atoms()]
    cis = _rotate(x, x[c1], x[n2], second, np.pi)  # omega 180 -> 0
    with pytest.raises(DataError, match="not trans"):
        dp.check_structure(topology, cis)


def test_bead_errors_name_the_missing_atom():
    from openmm.app import Topology, element

    top = Topology()
    chain = top.addChain()
    res = top.addResidue("ALA", chain)
    for name in ("N", "CA", "C"):
        top.addAtom(name, element.carbon, res)
    with pytest.raises(DataError, match="CB, O"):
        dp.bead_indices(top)


def test_published_protocol_is_amber14_obc1_with_a_2nm_cutoff():
    from openmm import CustomGBForce, NonbondedForce

    from scoremd.data.campaign import DIPEPTIDE_PROTOCOL, PUBLISHED_PROTOCOL
    from scoremd.data.openmm import create_system

    topology, _ = dp.Dipeptide("AK").build()
    published = create_system(topology, PUBLISHED_PROTOCOL)
    gb = [f for f in published.getForces() if isinstance(f, CustomGBForce)]
    assert len(gb) == 1 and gb[0].getCutoffDistance()._value == pytest.approx(2.0)
    assert published.getNumConstraints() == 0
    ours = create_system(topology, DIPEPTIDE_PROTOCOL)
    nb = next(f for f in ours.getForces() if isinstance(f, NonbondedForce))
    assert nb.getNonbondedMethod() == NonbondedForce.NoCutoff and ours.getNumConstraints() > 0
    assert not any(isinstance(f, CustomGBForce) for f in ours.getForces())  # native OBC


def test_hydrogens_do_not_depend_on_the_shared_random_generator():
    """Another thread drawing from the global `random` all the while (a Dask worker's threads do)
    must not change the structure: the hydrogens' random starts come from a private generator."""
    import random
    import sys
    import threading

    _, quiet = dp.build_dipeptide("KS")
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads often
    thread = threading.Thread(target=draw)
    thread.start()
    try:
        _, busy = dp.build_dipeptide("KS")
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert np.asarray(quiet._value).tobytes() == np.asarray(busy._value).tobytes()
