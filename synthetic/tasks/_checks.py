"""Argument checks shared by the generators (messages name the field, the value and the rule)."""

from __future__ import annotations

import numpy as np


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int; TypeError if it is not an integer, ValueError if < ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}={value!r} must be an integer (got {type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}={value} must be >= {minimum}")
    return int(value)


def check_rng(rng: object) -> np.random.Generator:
    """Require an explicitly seeded ``numpy.random.Generator`` (no global RNG, no int seeds)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng={rng!r} must be a numpy.random.Generator (got {type(rng).__name__})")
    return rng
