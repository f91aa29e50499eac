"""Exact cover by Knuth's Algorithm X (columns as dictionaries of row sets).

Used to enumerate Steiner triple and quadruple systems and the large sets of
:mod:`sdtheory.combinatorics.packings` and :mod:`sdtheory.combinatorics.quadruple_systems`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Sequence

__all__ = ["exact_covers"]


def exact_covers(
    columns: Sequence[Hashable], rows: Sequence[Sequence[Hashable]], limit: int | None = None
) -> Iterator[list[int]]:
    """All exact covers: sets of row indices whose rows contain every column exactly once
    (each solution sorted); at most ``limit`` of them if given. Rows may only use the given
    columns. Knuth's Algorithm X, branching on a column with the fewest remaining rows."""
    cols: dict[Hashable, set[int]] = {c: set() for c in columns}
    row_cols = [tuple(r) for r in rows]
    for i, r in enumerate(row_cols):
        if len(set(r)) != len(r):
            raise ValueError(f"row {i} repeats a column")
        for c in r:
            if c not in cols:
                raise ValueError(f"row {i} uses unknown column {c!r}")
            cols[c].add(i)
    found = 0
    chosen: list[int] = []

    def select(i: int) -> list[set[int]]:
        removed = []
        for c in row_cols[i]:
            for j in cols[c]:
                for d in row_cols[j]:
                    if d != c:
                        cols[d].discard(j)
            removed.append(cols.pop(c))
        return removed

    def deselect(i: int, removed: list[set[int]]) -> None:
        for c in reversed(row_cols[i]):
            cols[c] = removed.pop()
            for j in cols[c]:
                for d in row_cols[j]:
                    if d != c:
                        cols[d].add(j)

    def search() -> Iterator[list[int]]:
        nonlocal found
        if not cols:
            found += 1
            yield sorted(chosen)
            return
        c = min(cols, key=lambda k: len(cols[k]))
        for i in sorted(cols[c]):
            chosen.append(i)
            removed = select(i)
            yield from search()
            deselect(i, removed)
            chosen.pop()
            if limit is not None and found >= limit:
                return

    if limit is not None and limit <= 0:
        return
    yield from search()
