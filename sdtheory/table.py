"""The memory table: every bound and algorithm register of SD over a grid of n, k, l, order, passes.

One tidy DataFrame (:func:`memory_table`) built from the closed forms of :mod:`sdtheory.bounds`;
where the shared-element one-pass bound has no closed form it comes from the brute force of
:mod:`sdtheory.one_way` (n <= 16). Symbols as in docs/theory/glossary.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pandas as pd

from sdtheory import bounds
from sdtheory.instances import Order, Variant
from sdtheory.one_way import one_pass_states

__all__ = ["memory_table"]


def _one_pass_entry(n: int, first: int, second: int, variant: Variant) -> tuple[float, str]:
    res = one_pass_states(n, first, second, variant)
    if res.exact:
        return float(res.bits), "Myhill-Nerode (exact)"
    return float(res.bits), f"graph colouring: lower bound, exact in [{res.bits}, {res.bits_upper}]"


def _first_second(k: int, l: int, order: Order) -> tuple[int, int]:
    return (k, l) if order is Order.A_FIRST else (l, k)


def memory_table(
    ns: Iterable[int],
    ks: Iterable[int],
    ls: Iterable[int],
    orders: Iterable[Order | str] = (Order.A_FIRST, Order.B_FIRST),
    passes: Iterable[int] = (1, 2),
    variant: Variant | str = Variant.DECISION,
) -> pd.DataFrame:
    """Tidy table of every bound over a grid of n, k = |A|, l = |B|, order and passes.

    One row per (n, k, l, order, passes, quantity). Columns: n, k, l, order, first, second,
    passes, variant, quantity, kind ("lower" / "upper"), measure ("state": bits of streaming
    state; "communication": bits exchanged by a two-way protocol, a bound on D(SD) and not on
    state when p >= 2; "counter": the position counter, which is not state), bits (float),
    reference (the result the number rests on). Quantities: one-pass exact bound (passes = 1
    only), two-way log-rank and fooling-set bounds, JR-p bounds (paper form and rank form), the
    algorithms' register sizes (store-first for p = 1, JRT two-pass for p = 2, p-pass for every
    p), the position counter.
    Grid points with k or l > n are skipped. Lower bounds other than the one-pass one are for the
    decision variant (NaN for the shared-element variant).
    """
    variant = Variant.parse(variant)
    order_list = [Order.parse(o) for o in orders]
    rows = []
    for n, k, l, order, p in itertools.product(ns, ks, ls, order_list, passes):
        if k > n or l > n:
            continue
        first, second = _first_second(k, l, order)
        base = dict(n=n, k=k, l=l, order=order.value, first=first, second=second, passes=p)
        decision = variant is Variant.DECISION
        entries: list[tuple[str, str, str, float, str]] = []  # quantity, kind, measure, bits, ref
        if p == 1:
            entries += [
                ("one-pass exact", "lower", "state", *_one_pass_entry(n, first, second, variant)),
                ("store-first", "upper", "state", bounds.store_first_bits(n, first), "store the first set"),
            ]
        two_way = [
            (
                "two-way log-rank",
                "communication",
                bounds.two_way_log_rank_bits(n, k, l),
                "Mehlhorn-Schmidt, Gottlieb-Kantor",
            ),
            (
                "two-way fooling set",
                "communication",
                bounds.two_way_fooling_set_bits(n, k, l),
                "fooling set C(2m, m)",
            ),
            ("JR-p paper (D/2p)", "state", bounds.jrp_lower_bound_paper_bits(n, k, l, p), "Prop G.29"),
            (
                "JR-p rank (log rank/(2p-1))",
                "state",
                bounds.jrp_lower_bound_rank_bits(n, k, l, p),
                "simulation + rank",
            ),
        ]
        entries += [(q, "lower", meas, b if decision else float("nan"), ref) for q, meas, b, ref in two_way]
        if p == 2:
            entries.append(
                ("JRT two-pass (Alg. 3)", "upper", "state", bounds.jrt_two_pass_bits(n, k, l), "Thm G.15")
            )
        entries += [
            (
                "p-pass algorithm",
                "upper",
                "state",
                bounds.multi_pass_bits(n, first, second, p),
                "chunked store",
            ),
            (
                "position counter",
                "upper",
                "counter",
                bounds.position_counter_bits(p * (first + second + 1)),
                "Def G.12",
            ),
        ]
        for quantity, kind, measure, bits, reference in entries:
            rows.append(
                {**base, "variant": variant.value, "quantity": quantity, "kind": kind, "measure": measure}
                | {"bits": float(bits), "reference": reference}
            )
    return pd.DataFrame(rows)
