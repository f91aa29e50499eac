"""Certified intervals: :class:`Bounds`, a proven lower <= x <= upper with how each end was proven.

Every exact-but-hard quantity in sdtheory (a chromatic number, a least number of states) is
reported as a :class:`Bounds`. Results from several arguments are combined with
:meth:`Bounds.tighten`, which keeps the better end of each and the name of the argument behind it,
so no caller has to carry (lower, upper, method) tuples or parse method names.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bounds"]


@dataclass(frozen=True)
class Bounds:
    """lower <= x <= upper for an integer x, certified.

    ``lower_proof`` / ``upper_proof``: short names of the arguments behind each end (a theorem,
    a construction, a search; "" for a trivial end that needs no name). ``summary``: one phrase
    for a single argument that gave both ends at once (e.g. a colouring search); when set it is
    the :attr:`method`. Raises ValueError if lower > upper: two proofs contradict each other.
    """

    lower: int
    upper: int
    lower_proof: str
    upper_proof: str
    summary: str | None = None

    def __post_init__(self) -> None:
        if self.lower > self.upper:
            raise ValueError(
                f"contradictory bounds: lower {self.lower} ({self.lower_proof}) > "
                f"upper {self.upper} ({self.upper_proof})"
            )

    @classmethod
    def exactly(cls, value: int, proof: str) -> Bounds:
        """x = value, by one argument."""
        return cls(value, value, proof, proof)

    @classmethod
    def of(cls, lower: int, upper: int, proof: str) -> Bounds:
        """lower <= x <= upper, both ends by the same argument (named ``proof``)."""
        return cls(lower, upper, proof, proof)

    @property
    def is_exact(self) -> bool:
        """Whether the ends meet (x is determined)."""
        return self.lower == self.upper

    @property
    def method(self) -> str:
        """How the interval was obtained, in words: the summary or shared proof name when one
        argument gave both ends, else "closed form: <lower> = <upper>" when the ends meet, else
        "bounds: <lower> below, <upper> above"."""
        if self.summary is not None:
            return self.summary
        if self.lower_proof == self.upper_proof:
            return self.lower_proof
        if self.is_exact:
            return f"closed form: {self.lower_proof} = {self.upper_proof}"
        below = f"{self.lower_proof} below, " if self.lower_proof else ""
        return f"bounds: {below}{self.upper_proof} above"

    def tighten(self, other: Bounds) -> Bounds:
        """The intersection with another certified interval for the same x.

        Each end is taken from whichever interval is strictly better there, with its proof; on a
        tie this one's end is kept. Returns ``self`` (or ``other``) unchanged, summary included,
        when it gives both ends. Raises ValueError if the intervals are disjoint (one of the two
        proofs is wrong).
        """
        lo = other if other.lower > self.lower else self
        up = other if other.upper < self.upper else self
        if lo is up:
            return lo
        return Bounds(lo.lower, up.upper, lo.lower_proof, up.upper_proof)

    def tighten_lower(self, value: int, proof: str) -> Bounds:
        """The interval with ``value`` (proved by ``proof``) as lower end if it is larger."""
        if value <= self.lower:
            return self
        return Bounds(value, self.upper, proof, self.upper_proof)

    def tighten_upper(self, value: int, proof: str) -> Bounds:
        """The interval with ``value`` (proved by ``proof``) as upper end if it is smaller."""
        if value >= self.upper:
            return self
        return Bounds(self.lower, value, self.lower_proof, proof)
