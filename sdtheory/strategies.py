"""Hypothesis strategies for SD instances, layouts and streams (used by the tests; importable).

Every strategy draws valid objects only: sets without repeats inside the universe, sizes within
it, and (for the shared-element variant) exactly one shared element. Elements are drawn in a
random order, because a stream presents each set in any order.

Example::

    from hypothesis import given
    from sdtheory import strategies as sds

    @given(sds.sd_instances(max_n=32), sds.orders(), sds.passes())
    def test_something(inst, order, p): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from sdtheory.instances import GARInstance, Order, SDInstance, StreamLayout, Variant, encode_stream

__all__ = [
    "gar_instances",
    "layouts",
    "orders",
    "passes",
    "sd_instances",
    "set_sizes",
    "shared_instances",
    "streams",
    "universes",
    "variants",
]


def universes(min_n: int = 1, max_n: int = 64) -> st.SearchStrategy[int]:
    """Universe sizes n in [min_n, max_n]."""
    if not 1 <= min_n <= max_n:
        raise ValueError(f"need 1 <= min_n <= max_n (min_n={min_n}, max_n={max_n})")
    return st.integers(min_n, max_n)


def set_sizes(n: int, min_size: int = 0) -> st.SearchStrategy[int]:
    """Set sizes in [min_size, n]."""
    if not 0 <= min_size <= n:
        raise ValueError(f"need 0 <= min_size <= n (min_size={min_size}, n={n})")
    return st.integers(min_size, n)


def orders() -> st.SearchStrategy[Order]:
    """A-first or B-first."""
    return st.sampled_from(list(Order))


def variants() -> st.SearchStrategy[Variant]:
    """decision or shared element."""
    return st.sampled_from(list(Variant))


def passes(max_passes: int = 4) -> st.SearchStrategy[int]:
    """Number of passes p in [1, max_passes] (p = 2 is JRT)."""
    if max_passes < 1:
        raise ValueError(f"max_passes={max_passes} must be >= 1")
    return st.integers(1, max_passes)


def _subset(draw: st.DrawFn, pool: list[int], size: int) -> list[int]:
    return draw(st.permutations(pool))[:size]


@st.composite
def sd_instances(
    draw: st.DrawFn,
    min_n: int = 1,
    max_n: int = 32,
    k: int | None = None,
    l: int | None = None,
    disjoint: bool | None = None,
) -> SDInstance:
    """SD instances over [n], n in [min_n, max_n]; |A| = k and |B| = l when given, else drawn.

    ``disjoint=True`` / ``False`` forces the answer (draws that cannot satisfy it are rejected
    by drawing sizes that can: k + l <= n for disjoint, k, l >= 1 for intersecting).
    """
    n = draw(universes(max(min_n, 1 if k is None else k, 1 if l is None else l), max_n))
    if disjoint is True:
        k_ = k if k is not None else draw(st.integers(0, n))
        l_ = l if l is not None else draw(st.integers(0, n - k_))
        if k_ + l_ > n:
            raise ValueError(f"disjoint sets need k + l <= n (k={k_}, l={l_}, n={n})")
        perm = draw(st.permutations(range(n)))
        return SDInstance(n, tuple(perm[:k_]), tuple(perm[k_ : k_ + l_]))
    k_ = k if k is not None else draw(st.integers(1 if disjoint is False else 0, n))
    l_ = l if l is not None else draw(st.integers(1 if disjoint is False else 0, n))
    a = _subset(draw, list(range(n)), k_)
    if disjoint is False:
        shared = draw(st.sampled_from(a))
        rest = [e for e in range(n) if e != shared]
        b = [shared, *_subset(draw, rest, l_ - 1)]
        b = draw(st.permutations(b))
    else:
        b = _subset(draw, list(range(n)), l_)
    return SDInstance(n, tuple(a), tuple(b))


@st.composite
def shared_instances(draw: st.DrawFn, min_n: int = 1, max_n: int = 32) -> SDInstance:
    """Instances with |A ∩ B| = 1 exactly (the promise of the shared-element variant)."""
    n = draw(universes(min_n, max_n))
    k = draw(st.integers(1, n))
    l = draw(st.integers(1, n - k + 1))
    perm = draw(st.permutations(range(n)))
    a = list(perm[:k])
    shared = draw(st.sampled_from(a))
    b = draw(st.permutations([shared, *perm[k : k + l - 1]]))
    return SDInstance(n, tuple(a), tuple(b))


@st.composite
def layouts(draw: st.DrawFn, min_n: int = 1, max_n: int = 32, max_passes: int = 4) -> StreamLayout:
    """Stream layouts (n, first size, second size, passes)."""
    n = draw(universes(min_n, max_n))
    return StreamLayout(n, draw(set_sizes(n)), draw(set_sizes(n)), draw(passes(max_passes)))


@st.composite
def streams(
    draw: st.DrawFn, max_n: int = 32, max_passes: int = 4, variant: Variant | str = Variant.DECISION
) -> tuple[SDInstance, Order, int]:
    """(instance, order, passes) for a valid stream; encode with
    :func:`sdtheory.instances.encode_stream`. The shared-element variant draws |A ∩ B| = 1."""
    if Variant.parse(variant) is Variant.SHARED:
        inst = draw(shared_instances(max_n=max_n))
    else:
        inst = draw(sd_instances(max_n=max_n))
    order = draw(orders())
    p = draw(passes(max_passes))
    encode_stream(inst, order, p)  # validates
    return inst, order, p


@st.composite
def gar_instances(draw: st.DrawFn, max_c: int = 32, max_queries: int = 12) -> GARInstance:
    """GAR inputs over a vocabulary [c]: distinct keys, any values, queries (keys or not)."""
    c = draw(st.integers(1, max_c))
    n_pairs = draw(st.integers(0, c))
    keys = draw(st.permutations(range(c)))[:n_pairs]
    values = draw(st.lists(st.integers(0, c - 1), min_size=n_pairs, max_size=n_pairs))
    queries = draw(st.lists(st.integers(0, c - 1), max_size=max_queries))
    return GARInstance(c, tuple(keys), tuple(values), tuple(queries))
