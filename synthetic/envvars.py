"""Integer settings read from environment variables, checked the same way everywhere.

A setting that is unset or blank means "the caller's default" (None here); anything else must be an
integer at least ``minimum``, or a ValueError names the variable, its value, what it allows and
what it is for. Used by the sweep workers of ``make figures`` (``READTWICE_WORKERS``), the copy
intervention's token budget (``READTWICE_ANALYSIS_TOKENS``) and the engine's candidate count
(``READTWICE_MAX_CANDIDATES``).
"""

from __future__ import annotations

import os

__all__ = ["int_from_env"]


def int_from_env(name: str, *, minimum: int, meaning: str) -> int | None:
    """The integer in the environment variable ``name`` (surrounding spaces allowed); None when it
    is unset or blank. ValueError ``"NAME='value' must be an integer >= minimum: meaning"`` for
    anything else (a float, a word, a number below ``minimum``)."""
    value = os.environ.get(name, "")
    text = value.strip()
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}: {meaning}")
    return number
