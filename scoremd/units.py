"""Physical units and constants.

scoremd uses OpenMM's unit system throughout its public API (docs/design.md D1):
positions in nm, time in ps, energy in kJ/mol, mass in amu (g/mol), friction in
1/ps and temperature in K. Toy systems are dimensionless but use the same
formulas, so k_BT there is simply a number in "energy units".
"""

from __future__ import annotations

MOLAR_GAS_CONSTANT = 0.0083144626  # kJ/(mol K)


def kbt(temperature: float) -> float:
    """Thermal energy k_BT = R*T in kJ/mol for a temperature in K."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive (K), got {temperature}")
    return MOLAR_GAS_CONSTANT * temperature
