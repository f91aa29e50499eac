"""Benchmark: exhaustive exact SD quantities for every n <= 16 and |first|, |second| <= 6, one core.

For every universe size n = 1..16 and every first / second set size k, l <= min(6, n) (both
orders are covered: B-first is the row with k and l swapped) it computes, by brute force:

* decision SD: the distinct rows of the C(n, k) x C(n, l) communication matrix (the exact least
  number of states after the first set) and checks them against the closed form;
* shared-element SD: the incompatible distances of the matrix (checked against the lemma of
  :func:`sdtheory.bounds.one_way_states_closed_form`) and the exact state count (closed form,
  Baranyai, or graph colouring; intervals where the colouring does not finish);
* the memory profile of both variants at every stream position
  (:func:`sdtheory.profile.memory_profile`: closed forms, brute force plus colouring within the
  budgets below, or certified bounds), and the number of positions where it is exact.

Prints a per-n table, writes one CSV row per (n, k, l) to figures/data/sdtheory_exact.csv and
reports the total seconds. BLAS is pinned to one thread (nothing here needs it).

    python bench/sdtheory_exact.py [--max-n 16] [--max-size 6] [--thorough] [--out figures/data]

Inside the first set and at the separator the graphs are partitions of w-sets into
constant-weight codes (:mod:`sdtheory.combinatorics.codes`; stored colourings from
:mod:`sdtheory.combinatorics.code_certificates` are checked proper and used as upper bounds there);
``--thorough`` spends 10x the tabu colouring moves there, solves the last-element decision set
cover up to n = 8 instead of 7 and the link-cost window programmes of
:mod:`sdtheory.profile.decision_second` on up to 8 points instead of 6 (the bounds are proofs either way;
only how many intervals close changes). Every integer programme runs under a node limit, not a
time limit, so the counts do not depend on the machine's load.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402

from sdtheory.bounds import one_way_states_closed_form  # noqa: E402
from sdtheory.combinatorics.integers import ceil_log2  # noqa: E402
from sdtheory.instances import Variant  # noqa: E402
from sdtheory.matrices import distinct_rows, sd_matrix  # noqa: E402
from sdtheory.one_way import one_way_states, shared_incompatible_distances  # noqa: E402
from sdtheory.profile import memory_profile  # noqa: E402


def run(
    max_n: int,
    max_size: int,
    node_budget: int,
    max_triples: int,
    max_vertices: int,
    tabu_iters: int,
    max_cover_n: int = 7,
    max_window: int = 6,
) -> pd.DataFrame:
    rows = []
    for n in range(1, max_n + 1):
        for k in range(min(max_size, n) + 1):
            for l in range(min(max_size, n) + 1):
                t0 = time.perf_counter()
                dec_rows = distinct_rows(sd_matrix(n, k, l))
                dec_closed = one_way_states_closed_form(n, k, l)
                t1 = time.perf_counter()
                shared_closed = one_way_states_closed_form(n, k, l, Variant.SHARED)
                lemma_ok = True
                if k and l and k + l - 1 <= n:
                    inc = shared_incompatible_distances(n, k, l)
                    delta, m = n - k - l + 2, min(k, n - k)
                    lemma_ok = inc[: m + 1].tolist() == [l >= 2 and 1 <= d <= delta for d in range(m + 1)]
                shared = one_way_states(
                    n, k, l, Variant.SHARED, node_budget=node_budget, max_vertices=500, tabu_iters=tabu_iters
                )
                t2 = time.perf_counter()
                budget: dict[str, Any] = dict(
                    node_budget=node_budget,
                    max_triples=max_triples,
                    max_vertices=max_vertices,
                    tabu_iters=tabu_iters,
                    max_cover_n=max_cover_n,
                    max_window=max_window,
                )
                profile = memory_profile(n, k, l, **budget)
                t3 = time.perf_counter()
                shared_profile = memory_profile(n, k, l, Variant.SHARED, **budget)
                t4 = time.perf_counter()
                rows.append(
                    dict(
                        n=n,
                        first=k,
                        second=l,
                        decision_rows=dec_rows,
                        decision_closed_form=dec_closed,
                        decision_bits=ceil_log2(dec_rows),
                        shared_states_lower=shared.lower,
                        shared_states_upper=shared.upper,
                        shared_exact=shared.exact,
                        shared_closed_form=shared_closed if shared_closed is not None else -1,
                        shared_lemma_ok=lemma_ok,
                        profile_positions=len(profile),
                        profile_exact_positions=sum(p.exact for p in profile),
                        profile_max_states_lower=max(p.lower for p in profile),
                        profile_max_states_upper=max(p.upper for p in profile),
                        profile_bits_exact_positions=sum(p.bits_exact for p in profile),
                        shared_profile_exact_positions=sum(p.exact for p in shared_profile),
                        shared_profile_bits_exact_positions=sum(p.bits_exact for p in shared_profile),
                        shared_profile_max_states_lower=max(p.lower for p in shared_profile),
                        shared_profile_max_states_upper=max(p.upper for p in shared_profile),
                        seconds_rows=t1 - t0,
                        seconds_shared=t2 - t1,
                        seconds_profile=t3 - t2,
                        seconds_shared_profile=t4 - t3,
                    )
                )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max-n", type=int, default=16)
    parser.add_argument("--max-size", type=int, default=6)
    parser.add_argument("--node-budget", type=int, default=1000, help="colouring search nodes per graph")
    parser.add_argument(
        "--max-triples", type=int, default=300_000, help="largest brute-force cut enumeration"
    )
    parser.add_argument("--max-vertices", type=int, default=250, help="largest graph sent to the colouring")
    parser.add_argument(
        "--tabu-iters", type=int, default=3000, help="tabu colouring moves per code-partition attempt"
    )
    parser.add_argument(
        "--thorough", action="store_true", help="more colouring search (tabu moves x 10): slower"
    )
    parser.add_argument("--out", type=Path, default=Path("figures/data"))
    args = parser.parse_args(argv)
    max_cover_n, max_window = 7, 6
    if args.thorough:
        args.tabu_iters *= 10
        max_cover_n, max_window = 8, 8

    t0 = time.perf_counter()
    df = run(
        args.max_n,
        args.max_size,
        args.node_budget,
        args.max_triples,
        args.max_vertices,
        args.tabu_iters,
        max_cover_n,
        max_window,
    )
    total = time.perf_counter() - t0

    mismatch = df[(df.decision_rows != df.decision_closed_form) | ~df.shared_lemma_ok]
    closed = df[df.shared_closed_form >= 0]
    shared_bad = closed[(closed.shared_states_lower != closed.shared_closed_form) | ~closed.shared_exact]
    per_n = df.groupby("n").agg(
        size_pairs=("first", "size"),
        max_decision_rows=("decision_rows", "max"),
        shared_exact=("shared_exact", "sum"),
        profile_positions=("profile_positions", "sum"),
        profile_exact=("profile_exact_positions", "sum"),
        shared_profile_exact=("shared_profile_exact_positions", "sum"),
        seconds_rows=("seconds_rows", "sum"),
        seconds_shared=("seconds_shared", "sum"),
        seconds_profile=("seconds_profile", "sum"),
        seconds_shared_profile=("seconds_shared_profile", "sum"),
    )
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(per_n.to_string())
    ok = "all" if mismatch.empty else f"{len(mismatch)} MISMATCHES"
    print(f"\n(n, first, second) triples: {len(df)}; decision rows == closed form and shared lemma: {ok}")
    print(
        f"shared-element closed forms confirmed by brute force: {len(closed) - len(shared_bad)}/{len(closed)}"
    )
    print(f"shared-element state count exact: {int(df.shared_exact.sum())}/{len(df)}")
    exact, positions = int(df.profile_exact_positions.sum()), int(df.profile_positions.sum())
    shared_exact = int(df.shared_profile_exact_positions.sum())
    print(f"profile positions exact: decision {exact}/{positions}, shared element {shared_exact}/{positions}")
    bits_exact = int(df.profile_bits_exact_positions.sum())
    shared_bits_exact = int(df.shared_profile_bits_exact_positions.sum())
    print(
        f"profile positions exact in bits: decision {bits_exact}/{positions}, "
        f"shared element {shared_bits_exact}/{positions}"
    )
    parts = f"rows {df.seconds_rows.sum():.1f} s, shared states {df.seconds_shared.sum():.1f} s"
    parts += f", profiles {df.seconds_profile.sum():.1f} s + {df.seconds_shared_profile.sum():.1f} s"
    print(f"total: {total:.1f} s on one core ({parts})")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "sdtheory_exact.csv"
    df.to_csv(path, index=False)
    print(f"wrote {path}")
    return 0 if mismatch.empty and shared_bad.empty else 1


if __name__ == "__main__":
    raise SystemExit(main())
