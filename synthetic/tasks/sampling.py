"""Vectorised sampling primitives: many rows at once, no per-row Python loop.

* :func:`sample_distinct` — each row an ordered sample without replacement (a uniformly random
  k-permutation of ``[0, population)``), independently per row. Three methods, each vectorised
  over rows: whole-row rejection (small k), a partial Fisher-Yates shuffle over blocks of rows
  (populations up to :data:`FISHER_YATES_MAX_POPULATION`, so that a block holds >= 32 rows), and
  for larger populations i.i.d. draws with repeats discarded (``k <= population / 2``) or random
  sort keys (larger k): no Python loop over elements or rows at any size.
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
from synthetic.tasks.limits import MAX_SEGMENT_TOKENS, MAX_VOCAB_SIZE

__all__ = ["FISHER_YATES_MAX_POPULATION", "powerlaw_slots", "sample_distinct"]

# Working-set budget (elements) of one Fisher-Yates chunk: rows * population. Part of the
# generator's definition (it fixes how the random stream is consumed), so changing it changes the
# data; bump ``GENERATOR_VERSION`` in ``synthetic.tasks.data`` if you do.
_FY_CHUNK_ELEMENTS = 1 << 21
# Fisher-Yates loops over the k swap steps of a block of _FY_CHUNK_ELEMENTS // population rows;
# above this population a block would hold fewer than 32 rows and the loop would crawl (a million
# Python steps per row at population 2**21), so "auto" sorts random keys instead. Part of the
# data's definition, like the chunk size.
FISHER_YATES_MAX_POPULATION = _FY_CHUNK_ELEMENTS // 32
# Elements (int64 keys) per block of rows of the sort-keys method (memory only; does not change data).
_SORT_BLOCK_ELEMENTS = 1 << 22
# Draws per block of rows of the "sequential" method. Part of the data's definition (failed rows
# of a block are redrawn before the next block is drawn).
_SEQ_BLOCK_ELEMENTS = 1 << 21
# Largest population any method indexes (int32 indices).
_MAX_POPULATION = np.iinfo(np.int32).max
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


def _sort_keys(rng: np.random.Generator, num_rows: int, population: int, k: int) -> np.ndarray:
    """Per row, the indices of the ``k`` smallest of ``population`` i.i.d. uniform int64 keys, in
    increasing key order: a uniformly random k-permutation (exact up to ties between keys, which
    have probability below ``population**2 / 2**65`` per row).

    Vectorised over blocks of rows (:data:`_SORT_BLOCK_ELEMENTS` keys each, at least one row);
    cost ``population`` keys + a partition + a sort of ``k`` per row.
    """
    dtype = _index_dtype(population)
    out = np.empty((num_rows, k), dtype=dtype)
    if k == 0:
        return out
    block = max(1, _SORT_BLOCK_ELEMENTS // population)
    info = np.iinfo(np.int64)
    for start in range(0, num_rows, block):
        c = min(block, num_rows - start)
        keys = rng.integers(info.min, info.max, size=(c, population), dtype=np.int64, endpoint=True)
        if k < population:
            idx = np.argpartition(keys, k - 1, axis=1)[:, :k]
            idx = np.take_along_axis(idx, np.argsort(np.take_along_axis(keys, idx, axis=1), axis=1), axis=1)
        else:
            idx = np.argsort(keys, axis=1)
        out[start : start + c] = idx
    return out


def _draws_needed(population: int, k: int) -> int:
    """Draws per row after which a row holds ``k`` distinct values except with tiny probability:
    mean + 8 standard deviations (bounded) + 16 of the number of i.i.d. draws that the first
    ``k`` distinct values take (``k <= population / 2``)."""
    mean = population * (math.log(population + 0.5) - math.log(population - k + 0.5))
    sd = 2.0 * k / math.sqrt(population)  # sum of i p / (p - i)^2 over i < k is <= 4 k^2 / p
    return math.ceil(mean + 8.0 * sd + 16.0)


def _first_occurrences(draws: np.ndarray) -> np.ndarray:
    """bool ``[rows, m]``: True where a value appears in its row for the first time."""
    order = np.argsort(draws, axis=1, kind="stable")  # equal values keep their position order
    srt = np.take_along_axis(draws, order, axis=1)
    head = np.ones(draws.shape, dtype=bool)
    head[:, 1:] = srt[:, 1:] != srt[:, :-1]
    first = np.empty_like(head)
    np.put_along_axis(first, order, head, axis=1)
    return first


def _sequential(rng: np.random.Generator, num_rows: int, population: int, k: int) -> np.ndarray:
    """Per row, the first ``k`` distinct values of a sequence of i.i.d. uniform draws.

    Discarding repeats of i.i.d. uniform draws is sampling without replacement, so the k values
    in order of first appearance are a uniformly random k-permutation; a row whose
    :func:`_draws_needed` draws hold fewer than ``k`` distinct values (a rare event invariant
    under relabelling the values, so conditioning on its absence keeps the law) is drawn again.
    Vectorised over blocks of rows; cost about ``num_rows * m log m`` for ``m`` draws per row.
    """
    dtype = _index_dtype(population)
    out = np.empty((num_rows, k), dtype=dtype)
    if k == 0 or num_rows == 0:
        return out
    m = _draws_needed(population, k)
    block = max(1, _SEQ_BLOCK_ELEMENTS // m)
    for start in range(0, num_rows, block):
        todo = np.arange(start, min(num_rows, start + block))
        while todo.size:  # rounds: almost always one
            draws = rng.integers(0, population, size=(todo.size, m), dtype=np.int64)
            first = _first_occurrences(draws)
            ok = first.sum(axis=1) >= k
            keep = first[ok] & (np.cumsum(first[ok], axis=1) <= k)
            out[todo[ok]] = draws[ok][keep].reshape(-1, k)  # row-major: in order of appearance
            todo = todo[~ok]
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

    ``method``: ``"fisher_yates"`` (partial shuffle, cost ``num_rows * (population + 6 k)``;
    refused above :data:`FISHER_YATES_MAX_POPULATION`, where its loop over swap steps would cover
    too few rows at a time), ``"sequential"`` (i.i.d. draws, repeats discarded; cost about
    ``num_rows * m log m`` with ``m`` about ``population * ln(population / (population - k))``
    draws; refused for ``k > population / 2``), ``"sort"`` (random sort keys, cost
    ``num_rows * population`` keys and a sort of ``k`` per row), ``"rejection"`` (redraw rows
    with a repeat; fast when ``k * k << population``; refused when a row would be accepted with
    probability below ``e^-8``) or ``"auto"``: rejection when a row is accepted with probability
    >= ``e^-1`` (about ``k^2 <= 2 population``), else Fisher-Yates up to
    :data:`FISHER_YATES_MAX_POPULATION`, else sequential for ``k <= population / 2``, else sort.
    The methods consume the generator differently, so ``auto``'s rule is part of the data's
    definition.

    Refused up front (ValueError naming the value and the limit): ``num_rows * k`` above
    :data:`~synthetic.tasks.limits.MAX_SEGMENT_TOKENS`, a population above ``2**31 - 1``, and
    for Fisher-Yates / sort a population above :data:`~synthetic.tasks.limits.MAX_VOCAB_SIZE`
    (each row works on ``population`` values).
    """
    check_rng(rng)
    num_rows = check_int("num_rows", num_rows, 0)
    population = check_int("population", population)
    k = check_int("k", k, 0)
    if k > population:
        raise ValueError(f"k={k} distinct values cannot come from population={population} (need k <= it)")
    if population > _MAX_POPULATION:
        raise ValueError(f"population={population:,} is larger than 2**31 - 1 (int32 indices)")
    if num_rows * k > MAX_SEGMENT_TOKENS:
        raise ValueError(
            f"num_rows={num_rows:,} x k={k:,} = {num_rows * k:,} values is more than MAX_SEGMENT_TOKENS = "
            f"{MAX_SEGMENT_TOKENS:,} (synthetic.tasks.limits)"
        )
    log_accept = _log_accept(population, k)
    if method == "auto":
        if log_accept >= _AUTO_REJECTION_LOG_ACCEPT:
            method = "rejection"
        else:
            if population <= FISHER_YATES_MAX_POPULATION:
                method = "fisher_yates"
            else:
                method = "sequential" if 2 * k <= population else "sort"
    if method in ("fisher_yates", "sort") and population > MAX_VOCAB_SIZE:
        raise ValueError(
            f"method={method!r} with population={population:,} works on population values per row; "
            f"allowed up to MAX_VOCAB_SIZE = {MAX_VOCAB_SIZE:,} (synthetic.tasks.limits)"
        )
    if method == "fisher_yates":
        if population > FISHER_YATES_MAX_POPULATION:
            raise ValueError(
                f"method='fisher_yates' with population={population:,} > FISHER_YATES_MAX_POPULATION = "
                f"{FISHER_YATES_MAX_POPULATION:,} would loop over k={k:,} swap steps for very few rows at a "
                "time; use 'sort' or 'auto'"
            )
        return _fisher_yates(rng, num_rows, population, k)
    if method == "sort":
        return _sort_keys(rng, num_rows, population, k)
    if method == "sequential":
        if 2 * k > population:
            raise ValueError(
                f"method='sequential' with k={k:,} > population / 2 = {population / 2:,g} would draw many "
                "repeats; use 'sort' or 'auto'"
            )
        return _sequential(rng, num_rows, population, k)
    if method == "rejection":
        if log_accept < _MIN_LOG_ACCEPT:
            raise ValueError(
                f"method='rejection' with k={k}, population={population} accepts a row with probability "
                f"{math.exp(log_accept):.1e} < e^{_MIN_LOG_ACCEPT:g}; use 'fisher_yates' or 'auto'"
            )
        return _rejection(rng, num_rows, population, k)
    raise ValueError(
        f"method={method!r} is not one of 'auto', 'fisher_yates', 'sequential', 'sort', 'rejection'"
    )


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
    for name, size in (("num_rows x m", num_rows * m), ("num_slots", num_slots)):
        if size > MAX_SEGMENT_TOKENS:
            raise ValueError(
                f"{name} = {size:,} is more than MAX_SEGMENT_TOKENS = {MAX_SEGMENT_TOKENS:,} "
                "(synthetic.tasks.limits)"
            )
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
