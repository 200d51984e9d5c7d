"""Users' own trajectories (e.g. D. E. Shaw Research DCD + PDB) as a molecular reference: bead
selection, split by file, atom-count checks before any reading, clear errors."""

from pathlib import Path

import mdtraj
import numpy as np
import pytest

from scoremd import DataError
from scoremd.data import DataConfig, load_molecular_data
from scoremd.data.go_model import GoModel, simulate_go
from scoremd.data.trajectories import load_trajectory_files
from scoremd.geometry import center
from scoremd.systems import ALANINE_DIPEPTIDE, CHIGNOLIN

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def aldp_files(tmp_path_factory):
    """Four DCD files of 20 all-atom alanine-dipeptide frames each (from the shipped reference) and their PDB."""
    folder = tmp_path_factory.mktemp("desres")
    source = mdtraj.load(str(ROOT / "data" / "alanine_dipeptide" / "run_00" / "topology.pdb"))
    xyz = np.load(ROOT / "data" / "alanine_dipeptide" / "run_00" / "positions.npy", mmap_mode="r")[:80]
    source.save_pdb(str(folder / "system.pdb"))
    for k in range(4):
        mdtraj.Trajectory(np.asarray(xyz[20 * k : 20 * (k + 1)]), source.topology).save_dcd(str(folder / f"part-{k}.dcd"))
    return folder, np.asarray(xyz)


def test_dcd_files_are_coarse_grained_and_split_by_file(aldp_files):
    folder, xyz = aldp_files
    data = load_molecular_data(ALANINE_DIPEPTIDE, "unused", trajectories=[str(folder / "part-*.dcd")],
                               topology=folder / "system.pdb")
    atoms = load_molecular_data(ALANINE_DIPEPTIDE, ROOT / "data", runs=(0,)).atom_indices  # the shipped loader's beads
    np.testing.assert_array_equal(data.atom_indices, atoms)
    np.testing.assert_allclose(data.positions, center(xyz[:, atoms]), atol=2e-6)  # DCD: float32 Angstrom
    np.testing.assert_array_equal(data.run_index, np.repeat(np.arange(4), 20))
    assert set(data.run_index[data.validation]) == {2, 3} and set(data.run_index[data.train]) == {0, 1}
    np.testing.assert_allclose(data.masses, [12.011, 14.007, 12.011, 12.011, 14.007], rtol=1e-3)
    strided = load_molecular_data(ALANINE_DIPEPTIDE, "unused", trajectories=[str(folder / "part-0.dcd")],
                                  topology=folder / "system.pdb", stride=5)
    assert strided.positions.shape == (4, 5, 3)


def test_atom_count_mismatch_is_refused_before_reading(aldp_files, tmp_path):
    folder, _ = aldp_files
    mdtraj.load(str(folder / "system.pdb")).atom_slice(range(20)).save_pdb(str(tmp_path / "wrong.pdb"))
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(DataError, match=r"part-0.dcd has 22 atoms per frame but the topology .*wrong.pdb has 20"):
        load_trajectory_files([folder / "part-0.dcd"], tmp_path / "wrong.pdb", ALANINE_DIPEPTIDE.cg_map)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, nothing moved
    with pytest.raises(DataError, match="does not exist"):
        load_trajectory_files([folder / "nope-*.dcd"], folder / "system.pdb", ALANINE_DIPEPTIDE.cg_map)
    with pytest.raises(DataError, match="topology file .* does not exist"):
        load_trajectory_files([folder / "part-0.dcd"], tmp_path / "none.pdb", ALANINE_DIPEPTIDE.cg_map)
    (tmp_path / "junk.dcd").write_bytes(b"not a trajectory")
    with pytest.raises(DataError, match="not a trajectory mdtraj can read"):
        load_trajectory_files([tmp_path / "junk.dcd"], folder / "system.pdb", ALANINE_DIPEPTIDE.cg_map)


def test_calpha_protein_with_repeated_residue_names(tmp_path):
    """Chignolin's two tyrosines at the start: one bead each, in order; residue masses."""
    model = GoModel(ROOT / "data" / "folded" / "CLN025_ca.pdb", epsilon=2.75)
    x, _ = simulate_go(model, 340.0, 30, steps_per_frame=20)
    top = mdtraj.load(str(model.native)).topology
    mdtraj.Trajectory(x, top).save_xtc(str(tmp_path / "cln.xtc"))
    positions, runs, masses, atoms = load_trajectory_files([tmp_path / "cln.xtc"], model.native, CHIGNOLIN.cg_map,
                                                           residue_masses=True)
    np.testing.assert_array_equal(atoms, np.arange(10))
    np.testing.assert_allclose(positions, center(x.astype(np.float64)), atol=2e-3)  # XTC: 1e-3 nm precision
    np.testing.assert_allclose(masses[[0, 1, 6]], [163.18, 163.18, 57.05])


def test_config_needs_a_topology_with_trajectories():
    with pytest.raises(ValueError, match="data.topology"):
        DataConfig(trajectories=("a.dcd",))
    with pytest.raises(ValueError, match="stride"):
        DataConfig(stride=0)
    assert DataConfig(trajectories=["a.dcd"], topology="a.pdb").reference_source()["trajectories"] == ("a.dcd",)
    assert DataConfig(trajectories="run-*.dcd", topology="a.pdb").trajectories == ("run-*.dcd",)  # one pattern
    # settings of trajectories without trajectories would be ignored silently: refused
    for settings in ({"topology": "a.pdb"}, {"stride": 10}, {"frame_ps": 200.0}):
        with pytest.raises(ValueError, match="set data.trajectories too"):
            DataConfig(**settings)
    with pytest.raises(ValueError, match="two sources"):
        DataConfig(trajectories=["a.dcd"], topology="a.pdb", path="x.npy")


def test_damaged_files_and_empty_selections_are_named(aldp_files, tmp_path):
    folder, xyz = aldp_files
    top = folder / "system.pdb"
    source = mdtraj.load(str(top))
    # a truncated XTC fails mid-read in mdtraj: the file and the frame are named
    mdtraj.Trajectory(np.asarray(xyz), source.topology).save_xtc(str(tmp_path / "whole.xtc"))
    data = (tmp_path / "whole.xtc").read_bytes()
    (tmp_path / "cut.xtc").write_bytes(data[: 2 * len(data) // 3])
    with pytest.raises(DataError, match=r"cut.xtc could not be read past frame \d+ .*truncated"):
        load_trajectory_files([tmp_path / "cut.xtc"], top, ALANINE_DIPEPTIDE.cg_map)
    # a DCD cut mid-frame reads silently short in mdtraj; its header's frame count gives it away
    mdtraj.Trajectory(np.asarray(xyz[:20]), source.topology).save_dcd(str(tmp_path / "whole.dcd"))
    data = (tmp_path / "whole.dcd").read_bytes()
    (tmp_path / "cut.dcd").write_bytes(data[: len(data) - 50])
    with pytest.raises(DataError, match=r"cut.dcd holds 19 whole frames but its header states 20.*truncated"):
        load_trajectory_files([tmp_path / "cut.dcd"], top, ALANINE_DIPEPTIDE.cg_map)
    assert len(load_trajectory_files([tmp_path / "whole.dcd"], top, ALANINE_DIPEPTIDE.cg_map)[0]) == 20
    # NaN frames: how many and where
    bad = np.array(xyz[:20])
    bad[[3, 7]] = np.nan
    mdtraj.Trajectory(bad, source.topology).save_dcd(str(tmp_path / "nan.dcd"))
    with pytest.raises(DataError, match="2 of 20 frames .* the first at frame 3"):
        load_trajectory_files([tmp_path / "nan.dcd"], top, ALANINE_DIPEPTIDE.cg_map)
    # a topology of another molecule names the topology file
    with pytest.raises(DataError, match=r"the topology .*system.pdb does not hold this system's beads"):
        load_trajectory_files([folder / "part-0.dcd"], top, CHIGNOLIN.cg_map)
    with pytest.raises(DataError, match="no trajectory files"):
        load_trajectory_files([], top, ALANINE_DIPEPTIDE.cg_map)
    with pytest.raises(DataError, match=r"runs \[7\] select none of the 4 files"):
        load_molecular_data(ALANINE_DIPEPTIDE, "unused", trajectories=[str(folder / "part-*.dcd")], topology=top,
                            runs=(7,))


def test_multi_model_pdb_is_a_trajectory(aldp_files, tmp_path):
    folder, xyz = aldp_files
    source = mdtraj.load(str(folder / "system.pdb"))
    mdtraj.Trajectory(np.asarray(xyz[:5]), source.topology).save_pdb(str(tmp_path / "models.pdb"))
    positions, runs, _, atoms = load_trajectory_files([tmp_path / "models.pdb"], folder / "system.pdb",
                                                      ALANINE_DIPEPTIDE.cg_map)
    assert positions.shape == (5, 5, 3) and set(runs) == {0}
    np.testing.assert_allclose(positions, center(np.asarray(xyz[:5])[:, atoms]), atol=1e-3)  # PDB: 1e-4 nm
