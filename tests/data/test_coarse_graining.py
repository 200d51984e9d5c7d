"""Coarse-graining maps by atom name: bead selection and masses."""

import numpy as np
import pytest

from scoremd import DataError
from scoremd.data import bead_masses, select_beads
from scoremd.systems._molecular import ALANINE_DIPEPTIDE_BACKBONE


def test_backbone_map_and_masses(aldp):
    top, _ = aldp
    idx = select_beads(top, ALANINE_DIPEPTIDE_BACKBONE)
    atoms = list(top.atoms())
    assert [(atoms[i].residue.name, atoms[i].name) for i in idx] == list(ALANINE_DIPEPTIDE_BACKBONE)
    np.testing.assert_allclose(bead_masses(top, idx), [12.01, 14.007, 12.01, 12.01, 14.007], atol=0.01)
    with pytest.raises(DataError, match="ALA:CG matches 0 atoms"):
        select_beads(top, [("ALA", "CG")])
