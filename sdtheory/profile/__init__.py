"""The per-position memory profile of SD streams and its region bounds (built on the core).

:func:`memory_profile` gives the least number of states of any correct streaming algorithm at
every position, as certified intervals; the modules hold one region each:

* :mod:`~sdtheory.profile.memory`: the profile itself, region by region, and its table;
* :mod:`~sdtheory.profile.point`: :class:`ProfilePoint`, the search budget, phase names;
* :mod:`~sdtheory.profile.cuts`: the set-level cut matrix and the colouring of its graph;
* :mod:`~sdtheory.profile.first_set`: inside the first set and at the separator;
* :mod:`~sdtheory.profile.decision_second`: decision, inside the second set (sandwich families,
  link charging, the last-element set cover);
* :mod:`~sdtheory.profile.shared_second`: shared element, inside the second set (chains, cliques);
* :mod:`~sdtheory.profile.multi_pass`: JR-p streams;
* :mod:`~sdtheory.profile.sequences`: ground truth on token sequences for tiny universes.

It imports from the core (:mod:`sdtheory.matrices`, :mod:`sdtheory.instances`) and
:mod:`sdtheory.combinatorics`; the core never imports it. Proofs: docs/theory/.
"""

from sdtheory.profile.memory import memory_profile, profile_frame
from sdtheory.profile.point import ProfileBudget, ProfilePoint
from sdtheory.profile.sequences import memory_profile_sequences

__all__ = ["ProfileBudget", "ProfilePoint", "memory_profile", "memory_profile_sequences", "profile_frame"]
