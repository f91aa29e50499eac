"""Integer helpers used everywhere in sdtheory: a checked integer argument and ceil(log2 x).

* :func:`check_int`: an ``int`` (or numpy integer) argument, never a ``bool``, within bounds;
  raises TypeError / ValueError naming the argument, the value and what is allowed.
* :func:`ceil_log2`: ``lg x`` = ceil(log2 x) for integers, exactly (no floating point); 0 for x <= 1.
  It is the number of bits that name one of x values ("lg" in docs/theory/glossary.md).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ceil_log2", "check_int"]


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int, checked: an integer that is not a bool, with minimum <= value <= maximum
    (either bound may be None). TypeError for a non-integer, ValueError outside the bounds."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}={value!r} must be an integer (got {type(value).__name__})")
    v = int(value)
    if minimum is not None and maximum is not None and not minimum <= v <= maximum:
        raise ValueError(f"{name}={v} must satisfy {minimum} <= {name} <= {maximum}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}={v} must be >= {minimum}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name}={v} must be <= {maximum}")
    return v


def ceil_log2(x: int) -> int:
    """ceil(log2 x) for an integer x >= 1, computed exactly as (x - 1).bit_length(); 0 for x <= 1.

    The bits needed to tell x values apart (x states, x answers, x codewords)."""
    x = int(x)
    return 0 if x <= 1 else (x - 1).bit_length()
