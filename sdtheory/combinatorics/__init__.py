"""General combinatorics that knows nothing of set disjointness (the bottom layer of sdtheory).

Nothing here imports from the rest of sdtheory; the core and :mod:`sdtheory.profile` use it.

* :mod:`~sdtheory.combinatorics.integers`: the checked integer argument and ceil(log2 x);
* :mod:`~sdtheory.combinatorics.interval`: :class:`Bounds`, a certified interval with its proofs;
* :mod:`~sdtheory.combinatorics.bitsets`: subsets of [n] as uint64 bitmasks;
* :mod:`~sdtheory.combinatorics.graphs`: chromatic number (certified), cliques, colourings;
* :mod:`~sdtheory.combinatorics.codes`: distance graphs G(n, w, delta), partitions into
  constant-weight codes, Johnson and Baranyai bounds; stored colourings in
  :mod:`~sdtheory.combinatorics.code_certificates`;
* :mod:`~sdtheory.combinatorics.exact_cover`: Knuth's Algorithm X;
* :mod:`~sdtheory.combinatorics.packings`: Steiner triple systems, large sets, chi(9, 4, 1) = 8;
* :mod:`~sdtheory.combinatorics.quadruple_systems`: Steiner quadruple systems, chi(10, 5, 1) = 8.
"""

from sdtheory.combinatorics.interval import Bounds

__all__ = ["Bounds"]
