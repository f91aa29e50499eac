"""Exact, executable theory of set disjointness (SD) under different input orders.

Layers, each importing only the ones below it (checked by tests/test_layers.py):

* :mod:`sdtheory.combinatorics`: general combinatorics that knows nothing of SD: bitsets,
  graphs and the chromatic number, constant-weight codes, packings, quadruple systems, exact
  cover, certified intervals (``Bounds``), integer helpers;
* the core: instances and streams (:mod:`~sdtheory.instances`), streaming algorithms
  (:mod:`~sdtheory.streaming`, Thm G.15's two-pass algorithm), the lower-bound witness
  (:mod:`~sdtheory.witness`), closed-form bounds (:mod:`~sdtheory.bounds`), communication
  matrices (:mod:`~sdtheory.matrices`), one-way counts (:mod:`~sdtheory.one_way`), two-way rank
  (:mod:`~sdtheory.rank`), the memory table (:mod:`~sdtheory.table`), IP kernels and
  linear-attention constructions (:mod:`~sdtheory.ipkernels`, :mod:`~sdtheory.constructions`),
  hypothesis strategies (:mod:`~sdtheory.strategies`);
* :mod:`sdtheory.profile`: the least number of states at every stream position;
* ``python -m sdtheory``: the command line.

Symbols: docs/theory/glossary.md; proofs: docs/theory/. numpy/scipy only; nothing here imports
torch at module level.
"""

__version__ = "0.1.0"
