"""Token ids shared by every synthetic task, and the vocabulary ranges each task draws from.

Ids 0-3 are special in every task:

====  ==============  ==========================================================================
 id   name            role
====  ==============  ==========================================================================
 0    ``PAD``         blank position in the MQAR query region (when ``filler="pad"``)
 1    ``START``       first token of every sequence (and of every JR-p copy of the context)
 2    ``SEP``         SD: between A and B; MQAR queries-first: between the announced keys and
                      the key-value context
 3    ``ANSWER``      opens the answer / query region; in SD it is the last input position and
                      carries the label
====  ==============  ==========================================================================

SD ("output the shared element") draws set tokens from ``[4, V)``.
SD decision (YES/NO) answers with ``YES = 4`` ("A and B share an element") or ``NO = 5``
("A and B are disjoint") and draws set tokens from ``[6, V)``, so the answers never appear in a
set. MQAR splits the non-special tokens ``[4, V)`` into keys ``[4, 4 + H)`` and values
``[4 + H, V)`` with ``H = (V - 4) // 2`` (values get the extra token when ``V - 4`` is odd).
"""

from __future__ import annotations

__all__ = [
    "ANSWER",
    "IGNORE_INDEX",
    "NO",
    "NUM_SPECIAL",
    "PAD",
    "SEP",
    "START",
    "YES",
    "mqar_key_range",
    "mqar_value_range",
    "sd_set_range",
]

PAD = 0
START = 1
SEP = 2
ANSWER = 3
NUM_SPECIAL = 4

YES = 4
NO = 5

IGNORE_INDEX = -100
"""Label value of positions that carry no label (torch's cross-entropy default ``ignore_index``)."""


def sd_set_range(vocab_size: int, decision: bool = False) -> tuple[int, int]:
    """Half-open range ``[lo, hi)`` of set tokens: ``[4, V)``, or ``[6, V)`` for the decision task."""
    return (NO + 1 if decision else NUM_SPECIAL), vocab_size


def mqar_key_range(vocab_size: int) -> tuple[int, int]:
    """Half-open range of MQAR keys: the lower half ``[4, 4 + (V - 4) // 2)``."""
    return NUM_SPECIAL, NUM_SPECIAL + (vocab_size - NUM_SPECIAL) // 2


def mqar_value_range(vocab_size: int) -> tuple[int, int]:
    """Half-open range of MQAR values: the upper half ``[4 + (V - 4) // 2, V)``."""
    return NUM_SPECIAL + (vocab_size - NUM_SPECIAL) // 2, vocab_size
