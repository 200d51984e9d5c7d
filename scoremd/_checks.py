"""Argument checks shared by the library and the command line (one message for both).

Each returns the value converted (``int`` / ``float``) or raises ``ValueError``
naming the argument and the allowed range.
"""

from __future__ import annotations

import math
import operator

__all__ = ["non_negative_float", "non_negative_int", "positive_float", "positive_int"]


def _integer(value, name: str, minimum: int, allowed: str) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if isinstance(value, bool) or n < minimum:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(n)


def positive_int(value, name: str) -> int:
    """A count >= 1 (Python or numpy integer; not a bool or a float)."""
    return _integer(value, name, 1, "a positive integer")


def non_negative_int(value, name: str) -> int:
    """A count or seed >= 0 (Python or numpy integer; not a bool or a float)."""
    return _integer(value, name, 0, "an integer >= 0")


def _real(value, name: str, allowed: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return x


def positive_float(value, name: str, unit: str = "") -> float:
    """A finite number > 0."""
    allowed = "a finite number > 0" + (f" ({unit})" if unit else "")
    x = _real(value, name, allowed)
    if not x > 0:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return x


def non_negative_float(value, name: str, unit: str = "") -> float:
    """A finite number >= 0."""
    allowed = "a finite number >= 0" + (f" ({unit})" if unit else "")
    x = _real(value, name, allowed)
    if not x >= 0:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return x
