"""Former home of the matrices, one-way counts, memory profile and rank (now split up).

Kept only for the name the rest of the repository still imports from here
(``synthetic/plots/theory.py``: ``comm.one_way_states``). New code imports from
:mod:`sdtheory.matrices`, :mod:`sdtheory.one_way`, :mod:`sdtheory.rank` and :mod:`sdtheory.profile`.
"""

from sdtheory.one_way import one_way_states

__all__ = ["one_way_states"]
