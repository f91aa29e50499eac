"""How many bits about the first set a decoder recovers, beside the one-pass bound.

Setting: the first set A is a uniform ``a``-subset of a universe of ``n`` set tokens (the SD
generators draw it so), so ``H(A) = log2 C(n, a)`` bits. A probe reads the recurrent state and
returns its best ``a``-subset Â (the ``a`` highest-scoring tokens). Let ``J = |Â \\ A|`` be its
misses. Given Â and J, A is one of ``C(a, J) * C(n - a, J)`` sets (drop J of Â's members, add J
of the others), so

    H(A | Â) <= H(J) + E[log2(C(a, J) * C(n - a, J))]

and, by the data-processing inequality, the state carries at least

    I(A; state) >= I(A; Â) >= log2 C(n, a) - H(J) - E[log2(C(a, J) * C(n - a, J))]   bits.

:func:`decoded_set_bits` estimates this lower bound with plug-in frequencies of J over held-out
examples (clipped at 0). A perfect decoder (J = 0 always) gives the whole ``log2 C(n, a)``; a
decoder that guesses at random gives about 0. The plug-in entropy of J is biased low by about
``(distinct J values - 1) / (2 n_ex ln 2)`` bits for n_ex examples, so the estimate is that much high.

:func:`first_set_bits` (``log2 C(n, a)``, a real number) and :func:`one_pass_bound_bits` (the exact
one-pass bound of :mod:`sdtheory.bounds` for the shared-element task at the same sizes, whole
bits) are what it is drawn beside.
"""

from __future__ import annotations

import math

import numpy as np

from sdtheory.bounds import binomial, one_pass_exact_bits
from sdtheory.instances import Variant
from synthetic.tasks._checks import check_int

__all__ = ["decoded_set_bits", "first_set_bits", "log2_binomial", "one_pass_bound_bits"]


def log2_binomial(n: int, m: int) -> float:
    """log2 C(n, m) for 0 <= m <= n, from sdtheory's exact integer C(n, m)
    (:func:`sdtheory.bounds.binomial`, which refuses coefficients of more than 2^17 bits)."""
    n = check_int("n", n, 0)
    m = check_int("m", m, 0)
    if m > n:
        raise ValueError(f"m={m} must be <= n={n}")
    return math.log2(binomial(n, m))


def first_set_bits(universe: int, size: int) -> float:
    """log2 C(universe, size): the bits of a uniform ``size``-subset, what storing the first set
    holds (the issue's "log2 C(|U|, |A|)")."""
    return log2_binomial(universe, size)


def one_pass_bound_bits(universe: int, first: int, second: int) -> int:
    """The exact one-pass lower bound (bits, at the separator) of the shared-element SD task with
    sets of ``first`` and ``second`` elements over ``universe`` tokens:
    :func:`sdtheory.bounds.one_pass_exact_bits` (``ceil(log2 C(n, first))`` at the sizes of this
    package's tasks). For the distractor task it is the bound of plain SD at the same sizes."""
    return one_pass_exact_bits(universe, first, second, Variant.SHARED)


def decoded_set_bits(universe: int, size: int, misses: np.ndarray) -> float:
    """The plug-in lower bound on I(A; state) of the module docstring, in bits, from the misses
    ``J`` (int ``[n_ex]``, each in ``[0, min(size, universe - size)]``) of a decoder's top-``size``
    sets on n_ex held-out examples."""
    n = check_int("universe", universe)
    a = check_int("size", size, 0)
    if a > n:
        raise ValueError(f"size={a} must be <= universe={n}")
    j = np.asarray(misses)
    if j.ndim != 1 or j.size == 0 or not np.issubdtype(j.dtype, np.integer):
        raise ValueError(
            f"misses must be a non-empty 1-D integer array; got shape {j.shape}, dtype {j.dtype}"
        )
    top = min(a, n - a)
    if int(j.min()) < 0 or int(j.max()) > top:
        raise ValueError(
            f"misses must lie in [0, min(size, universe - size)] = [0, {top}]; got {j.min()}..{j.max()}"
        )
    values, counts = np.unique(j, return_counts=True)
    p = counts / j.size
    entropy = float(-(p * np.log2(p)).sum())
    spread = sum(
        float(pk) * (log2_binomial(a, int(v)) + log2_binomial(n - a, int(v)))
        for v, pk in zip(values, p, strict=True)
    )
    return max(0.0, first_set_bits(n, a) - entropy - spread)
