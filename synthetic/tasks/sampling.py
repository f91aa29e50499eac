"""Vectorised sampling primitives: many rows at once, no per-row Python loop.

* :func:`sample_distinct` — each row an ordered sample without replacement (a uniformly random
  k-permutation of ``[0, population)``), independently per row.
* :func:`powerlaw_slots` — each row ``m`` distinct slots out of ``num_slots``, drawn successively
  without replacement with probability proportional to ``(g + 1) ** (power_a - 1)`` for slot ``g``
  (Zoology's MQAR gap law), returned in increasing order.

Both take an explicit ``numpy.random.Generator`` and consume it deterministically: the same
generator state and arguments give the same arrays.
"""

from __future__ import annotations

import math

import numpy as np

from synthetic.tasks._checks import check_int, check_rng

__all__ = ["powerlaw_slots", "sample_distinct"]

# Working-set budget (elements) of one Fisher-Yates chunk: rows * population. Part of the
# generator's definition (it fixes how the random stream is consumed), so changing it changes the
# data; bump ``GENERATOR_VERSION`` in ``synthetic.tasks.data`` if you do.
_FY_CHUNK_ELEMENTS = 1 << 21
# Elements per block of the exponential race in powerlaw_slots (memory only; does not change data).
_RACE_BLOCK_ELEMENTS = 1 << 20
# "auto" uses whole-row rejection when a row of i.i.d. draws is all-distinct with probability
# >= exp(_AUTO_REJECTION_LOG_ACCEPT); an explicit "rejection" refuses below exp(_MIN_LOG_ACCEPT).
_AUTO_REJECTION_LOG_ACCEPT = -1.0
_MIN_LOG_ACCEPT = -8.0


def _log_accept(population: int, k: int) -> float:
    """log P(k i.i.d. uniform draws from [0, population) are all distinct)."""
    return math.lgamma(population + 1) - math.lgamma(population - k + 1) - k * math.log(population)


def _index_dtype(population: int) -> type[np.signedinteger]:
    return np.int16 if population <= np.iinfo(np.int16).max else np.int32


def _fisher_yates(rng: np.random.Generator, num_rows: int, population: int, k: int) -> np.ndarray:
    """Partial Fisher-Yates on all rows of a chunk at once: k swap steps, each vectorised.

    Working array ``w`` is ``[population, rows]``: step i swaps the contiguous row ``w[i]`` with
    ``w[j_r, r]`` for ``j_r`` uniform in ``[i, population)``. The chunk's ``j`` are drawn in one
    call as ``i + floor(u * (population - i))`` with ``u`` uniform float64 in [0, 1) (53 random
    bits; the relative deviation from exact uniformity is below ``population / 2**53``, about
    1e-12 here, and ``floor`` never reaches ``population``).
    """
    dtype = _index_dtype(population)
    out = np.empty((num_rows, k), dtype=dtype)
    chunk = max(1, _FY_CHUNK_ELEMENTS // population)
    ramp = np.arange(population, dtype=dtype)[:, None]
    steps = np.arange(k, dtype=np.intp)[:, None]
    span = population - np.arange(k, dtype=np.float64)[:, None]
    for start in range(0, num_rows, chunk):
        c = min(chunk, num_rows - start)
        w = np.repeat(ramp, c, axis=1)  # [population, c]
        flat = w.reshape(-1)
        u = rng.random((k, c))
        u *= span
        flat_idx = u.astype(np.intp)  # j - i
        flat_idx += steps  # j
        flat_idx *= c
        flat_idx += np.arange(c, dtype=np.intp)  # position of w[j_r, r] in flat
        for i in range(k):  # loop over swap steps, vectorised over rows
            idx = flat_idx[i]
            picked = flat[idx]
            flat[idx] = w[i]
            w[i] = picked
        out[start : start + c] = w[:k].T
    return out


def _rejection(rng: np.random.Generator, num_rows: int, population: int, k: int) -> np.ndarray:
    """Draw each row i.i.d. uniform and redraw whole rows that contain a repeat.

    Conditioning i.i.d. draws on "all distinct" gives exactly the uniform k-permutation. Loops
    over rounds (expected at most about e of them), never over rows.
    """
    dtype = _index_dtype(population)
    out = rng.integers(0, population, size=(num_rows, k), dtype=dtype)
    todo = np.arange(num_rows)
    while True:
        srt = np.sort(out[todo], axis=1)
        bad = np.any(srt[:, 1:] == srt[:, :-1], axis=1)
        todo = todo[bad]
        if todo.size == 0:
            return out
        out[todo] = rng.integers(0, population, size=(todo.size, k), dtype=dtype)


def sample_distinct(
    rng: np.random.Generator, num_rows: int, population: int, k: int, method: str = "auto"
) -> np.ndarray:
    """Per row, ``k`` distinct values from ``[0, population)`` in uniformly random order.

    Returns an integer array ``[num_rows, k]`` (int16 when ``population <= 32767``, else int32).
    Rows are independent; every ordered k-tuple of distinct values is equally likely (exactly
    for rejection; for Fisher-Yates up to a relative deviation below ``population / 2**53`` from
    scaling 53-bit uniform floats).

    ``method``: ``"fisher_yates"`` (partial shuffle, cost ``num_rows * (population + 6 k)``),
    ``"rejection"`` (redraw rows with a repeat; fast when ``k * k << population``; refused when a
    row would be accepted with probability below ``e^-8``) or ``"auto"`` (rejection when a row is
    accepted with probability >= ``e^-1``, about ``k^2 <= 2 population``). The two consume the
    generator differently, so ``auto``'s rule is part of the data's definition.
    """
    check_rng(rng)
    num_rows = check_int("num_rows", num_rows, 0)
    population = check_int("population", population)
    k = check_int("k", k, 0)
    if k > population:
        raise ValueError(f"k={k} distinct values cannot come from population={population} (need k <= it)")
    log_accept = _log_accept(population, k)
    if method == "auto":
        method = "rejection" if log_accept >= _AUTO_REJECTION_LOG_ACCEPT else "fisher_yates"
    if method == "fisher_yates":
        return _fisher_yates(rng, num_rows, population, k)
    if method == "rejection":
        if log_accept < _MIN_LOG_ACCEPT:
            raise ValueError(
                f"method='rejection' with k={k}, population={population} accepts a row with probability "
                f"{math.exp(log_accept):.1e} < e^{_MIN_LOG_ACCEPT:g}; use 'fisher_yates' or 'auto'"
            )
        return _rejection(rng, num_rows, population, k)
    raise ValueError(f"method={method!r} is not one of 'auto', 'fisher_yates', 'rejection'")


def powerlaw_slots(
    rng: np.random.Generator, num_rows: int, num_slots: int, m: int, power_a: float
) -> np.ndarray:
    """Per row, ``m`` distinct slots of ``[0, num_slots)``, sorted increasingly: int64 ``[num_rows, m]``.

    Slots are drawn one after another without replacement, each time with probability
    proportional to ``w_g = (g + 1) ** (power_a - 1)`` among the slots left (``power_a < 1``
    favours early slots; ``power_a = 1`` is uniform). Implemented as an exponential race
    (Efraimidis-Spirakis): the ``m`` smallest ``E_g / w_g`` with ``E_g ~ Exp(1)`` i.i.d. have
    exactly that successive-sampling law.
    """
    check_rng(rng)
    num_rows = check_int("num_rows", num_rows, 0)
    num_slots = check_int("num_slots", num_slots)
    m = check_int("m", m, 0)
    if m > num_slots:
        raise ValueError(f"m={m} distinct slots cannot come from num_slots={num_slots} (need m <= it)")
    if not (isinstance(power_a, int | float | np.floating) and np.isfinite(power_a) and power_a > 0):
        raise ValueError(f"power_a={power_a!r} must be a finite number > 0")
    if m == num_slots:
        return np.broadcast_to(np.arange(num_slots, dtype=np.int64), (num_rows, m)).copy()
    if m == 0:
        return np.empty((num_rows, 0), dtype=np.int64)
    inv_w = np.arange(1, num_slots + 1, dtype=np.float64) ** (1.0 - float(power_a))
    out = np.empty((num_rows, m), dtype=np.int64)
    # Row blocks keep the temporaries small; the generator fills values in order, so the draws
    # are the same as one [num_rows, num_slots] call.
    block = max(1, _RACE_BLOCK_ELEMENTS // num_slots)
    for start in range(0, num_rows, block):
        stop = min(num_rows, start + block)
        race = rng.standard_exponential(size=(stop - start, num_slots))
        race *= inv_w
        chosen = np.argpartition(race, m - 1, axis=1)[:, :m]
        chosen.sort(axis=1)
        out[start:stop] = chosen
    return out
