"""One point of a memory profile (:class:`ProfilePoint`), the search budget, and phase names."""

from __future__ import annotations

from dataclasses import dataclass

from sdtheory.combinatorics.integers import ceil_log2
from sdtheory.combinatorics.interval import Bounds

__all__ = ["ProfileBudget", "ProfilePoint", "phase_name"]


@dataclass(frozen=True)
class ProfilePoint:
    """Least number of states of any correct deterministic streaming algorithm after
    ``position`` tokens (0 = before the first token), as a certified interval.

    ``configurations``: distinct prefix contents at this cut (the sets read so far, with the
    part of the current set) over valid streams; ``lower`` / ``upper``: bounds on the chromatic
    number of their incompatibility graph; ``method``: how they were obtained.
    """

    position: int
    pass_index: int
    offset: int
    phase: str
    configurations: int
    lower: int
    upper: int
    exact: bool
    method: str

    @classmethod
    def from_bounds(
        cls, position: int, pass_index: int, offset: int, phase: str, configurations: int, bounds: Bounds
    ) -> ProfilePoint:
        """The point at a position with a certified interval."""
        return cls(
            position,
            pass_index,
            offset,
            phase,
            configurations,
            bounds.lower,
            bounds.upper,
            bounds.is_exact,
            bounds.method,
        )

    @property
    def bits(self) -> int:
        """lg lower: bits any correct algorithm needs here (exact when ``bits_exact``)."""
        return ceil_log2(self.lower)

    @property
    def bits_upper(self) -> int:
        """lg upper: bits that suffice here."""
        return ceil_log2(self.upper)

    @property
    def bits_exact(self) -> bool:
        """Whether the memory in bits is determined, lg lower == lg upper, even where the state
        count itself is only bounded."""
        return self.bits == self.bits_upper


@dataclass(frozen=True)
class ProfileBudget:
    """How much search a profile may spend. Every interval is a proof whatever the budget; a
    larger budget only closes more of them. Searches are bounded by counts (nodes, moves,
    entries), never by time, so results do not depend on the machine or its load."""

    max_vertices: int = 400  # largest cut graph (after merging identical rows) sent to colouring
    node_budget: int = 20_000  # branch-and-bound nodes per colouring
    max_triples: int = 3_000_000  # largest set-level cut matrix: input pairs x prefix choices
    tabu_iters: int = 3000  # tabu colouring moves per code-partition attempt
    max_cover_n: int = 7  # largest n for the last-element set-cover integer programme
    max_window: int = 6  # largest window of the link-charging programmes


def phase_name(offset: int, first: int) -> str:
    """Where ``offset`` tokens into one pass lie: "start", "first set", "separator", "second set"."""
    if offset == 0:
        return "start"
    if offset <= first:
        return "first set"
    if offset == first + 1:
        return "separator"
    return "second set"
