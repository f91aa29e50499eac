"""Streaming algorithms for SD with bit-accounted state (Def G.12), run on batches of streams.

Protocol (:class:`StreamingAlgorithm`): ``reset(layout, batch=1)``, ``feed(token)`` once per
token, ``answer()``. The state is a register of bits (``state_array()``); ``state_bits()`` is
the length of its serialisation, never a formula, and the update reads and writes only the
register. Not state (Def G.12 lets the update depend on the position): the layout, the position
counter (:func:`sdtheory.bounds.position_counter_bits` would count it), static parameters.
Algorithms: :class:`StoreFirst` (one pass), :class:`JRTTwoPass` (paper Algorithm 3, Thm G.15),
:class:`JRTIntersection` (Algorithm 3 returning A ∩ B), :class:`MultiPass` (JR-p, chunks), and
the under-budget :class:`TruncatedStoreFirst`, :class:`BloomFilter`, :class:`FingerprintSketch`.
:func:`instance_batch` builds every valid input of a layout (refused beyond
:data:`MAX_BATCH_TOKENS`); the lower-bound witness is :mod:`sdtheory.witness`. Symbols:
docs/theory/glossary.md (k = |A|, l = |B|).
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from sdtheory import bounds
from sdtheory.combinatorics.bitsets import (
    mask_to_elements,
    masks_to_sorted_elements,
    popcount,
    single_bit_index,
    subset_masks,
)
from sdtheory.combinatorics.integers import ceil_log2, check_int
from sdtheory.instances import Order, SDInstance, StreamLayout, Variant

__all__ = [
    "ALGORITHMS",
    "MAX_BATCH_N",
    "MAX_BATCH_TOKENS",
    "BloomFilter",
    "FingerprintSketch",
    "InstanceBatch",
    "JRTIntersection",
    "JRTTwoPass",
    "MemoryMeasures",
    "MultiPass",
    "SetStore",
    "StoreFirst",
    "StreamingAlgorithm",
    "TruncatedStoreFirst",
    "check_batch_size",
    "exhaustive_correct",
    "instance_batch",
    "make_algorithm",
    "measure_memory",
    "reached_states",
    "run_batch",
    "run_stream",
    "streams_from_masks",
]


# --------------------------------------------------------------------------------------------
# register helpers (little-endian unsigned integers in bit columns)
# --------------------------------------------------------------------------------------------


def _read(reg: np.ndarray, start: int, width: int) -> np.ndarray:
    if width == 0:
        return np.zeros(reg.shape[0], dtype=np.int64)
    cols = reg[:, start : start + width].astype(np.int64)
    return (cols << np.arange(width, dtype=np.int64)).sum(axis=1)


def _write(reg: np.ndarray, start: int, width: int, values: np.ndarray, rows: np.ndarray) -> None:
    if width == 0 or not rows.any():
        return
    vals = np.asarray(values, dtype=np.int64)[rows]
    bits = ((vals[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
    reg[rows, start : start + width] = bits


@dataclass(frozen=True)
class SetStore:
    """A set of at most ``capacity`` elements of [n] in register columns [base, base + bits).

    ``mode="bitmap"``: n bits, bit e set iff e is stored. ``mode="list"``: ``capacity`` slots of
    w = ceil(log2 n) bits; slot i holds the i-th stored element (how many slots are filled is
    known from the position, which is not state). ``choose`` picks the smaller (ties: bitmap).
    """

    n: int
    capacity: int
    base: int
    mode: str

    @staticmethod
    def choose(n: int, capacity: int, base: int, mode: str = "auto") -> SetStore:
        if mode not in ("auto", "bitmap", "list"):
            raise ValueError(f"encoding={mode!r}; allowed: 'auto', 'bitmap', 'list'")
        if mode == "auto":
            mode = "list" if capacity * bounds.element_bits(n) < n else "bitmap"
        return SetStore(n, capacity, base, mode)

    @property
    def w(self) -> int:
        return bounds.element_bits(self.n)

    @property
    def bits(self) -> int:
        return self.n if self.mode == "bitmap" else self.capacity * self.w

    def clear(self, reg: np.ndarray, rows: np.ndarray) -> None:
        reg[rows, self.base : self.base + self.bits] = 0

    def insert(self, reg: np.ndarray, slot: int, tokens: np.ndarray, rows: np.ndarray) -> None:
        if self.mode == "bitmap":
            idx = np.flatnonzero(rows)
            reg[idx, self.base + tokens[idx]] = 1
        else:
            if not 0 <= slot < self.capacity:
                raise IndexError(f"slot {slot} outside the {self.capacity} slots of the list")
            _write(reg, self.base + slot * self.w, self.w, tokens, rows)

    def contains(self, reg: np.ndarray, filled: int, tokens: np.ndarray) -> np.ndarray:
        """bool [B]: token stored (list mode: among the first ``filled`` slots)."""
        if self.mode == "bitmap":
            return reg[np.arange(reg.shape[0]), self.base + tokens] == 1
        if filled == 0:
            return np.zeros(reg.shape[0], dtype=bool)
        w = self.w
        block = reg[:, self.base : self.base + filled * w].reshape(reg.shape[0], filled, w)
        values = (block.astype(np.int64) << np.arange(w, dtype=np.int64)).sum(axis=2)
        return np.any(values == tokens[:, None], axis=1)

    def elements(self, reg: np.ndarray, filled: int) -> list[list[int]]:
        """Stored elements of each row (list mode: the first ``filled`` slots)."""
        if self.mode == "bitmap":
            return [np.flatnonzero(r[self.base : self.base + self.n]).tolist() for r in reg]
        w = self.w
        block = reg[:, self.base : self.base + filled * w].reshape(reg.shape[0], filled, w)
        return (block.astype(np.int64) << np.arange(w, dtype=np.int64)).sum(axis=2).tolist()

    def write_element(self, reg: np.ndarray, tokens: np.ndarray, rows: np.ndarray) -> None:
        """Overwrite the store with one element (w bits at ``base``)."""
        if rows.any() and self.bits < self.w:
            raise ValueError(f"a store of {self.bits} bits cannot hold an element of {self.w} bits")
        self.clear(reg, rows)
        _write(reg, self.base, self.w, tokens, rows)

    def read_element(self, reg: np.ndarray) -> np.ndarray:
        return _read(reg, self.base, min(self.w, self.bits))


# --------------------------------------------------------------------------------------------
# the protocol
# --------------------------------------------------------------------------------------------


class StreamingAlgorithm(ABC):
    """A deterministic streaming algorithm for SD whose whole memory is a bit register.

    Subclasses define ``_plan(layout)`` (static parameters and the register width ``_width``),
    ``_step(reg, pos, tokens)`` (update the register in place after token number ``pos``) and
    ``_output(reg)``, and ``stated_bits(layout)``, the formula the register size must match.
    """

    name: ClassVar[str] = "abstract"
    min_passes: ClassVar[int] = 1
    exact: ClassVar[bool] = True  # correct on every valid stream of every supported layout

    def __init__(self, variant: Variant | str = Variant.DECISION) -> None:
        self.variant = Variant.parse(variant)
        self._layout: StreamLayout | None = None
        self._reg: np.ndarray | None = None
        self._pos = 0
        self._width = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    def describe(self) -> str:
        return f"variant={self.variant.value!r}"

    # ---- to implement
    @abstractmethod
    def _plan(self, layout: StreamLayout) -> None: ...

    @abstractmethod
    def _step(self, reg: np.ndarray, pos: int, tokens: np.ndarray) -> None: ...

    @abstractmethod
    def _output(self, reg: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def stated_bits(self, layout: StreamLayout) -> int:
        """The register size in bits that :mod:`sdtheory.bounds` states for this layout."""

    # ---- protocol
    def reset(self, layout: StreamLayout, batch: int = 1) -> None:
        """Start ``batch`` streams of shape ``layout``; the register is all zeros."""
        if not isinstance(layout, StreamLayout):
            raise TypeError(f"layout must be a StreamLayout, got {type(layout).__name__}")
        if layout.passes < self.min_passes:
            raise ValueError(
                f"{self.name} needs passes >= {self.min_passes}; layout has passes={layout.passes}"
            )
        check_int("batch", batch, 1)
        self._layout = layout
        self._plan(layout)
        self._reg = np.zeros((batch, self._width), dtype=np.uint8)
        self._pos = 0

    def _require(self) -> tuple[StreamLayout, np.ndarray]:
        if self._layout is None or self._reg is None:
            raise RuntimeError(f"{self.name}: call reset(layout) before feeding tokens")
        return self._layout, self._reg

    @property
    def position(self) -> int:
        """Tokens fed since reset (not state: the paper's update f^i knows i)."""
        return self._pos

    def feed(self, token: int | np.ndarray) -> None:
        """Feed the next token of every stream (an int for batch 1, else int array [batch]).

        Raises ValueError if the stream is complete, a token is outside [0, n], the separator n
        appears off the layout's separator positions or is missing at one of them.
        """
        layout, reg = self._require()
        tok = np.asarray(token)
        if tok.ndim == 0:
            tok = tok.reshape(1)
        if tok.dtype.kind not in "iu":
            raise TypeError(f"tokens must be integers, got dtype {tok.dtype}")
        tok = tok.astype(np.int64)
        if tok.shape != (reg.shape[0],):
            raise ValueError(f"expected {reg.shape[0]} tokens (one per stream), got shape {tok.shape}")
        if self._pos >= layout.length:
            raise ValueError(f"the stream is complete ({layout.length} tokens); no more tokens allowed")
        n = layout.n
        bad = (tok < 0) | (tok > n)
        if bad.any():
            raise ValueError(f"token {int(tok[bad][0])} at position {self._pos} is outside [0, {n}]")
        is_sep_pos = self._pos % layout.pass_length == layout.first_size
        if is_sep_pos and np.any(tok != n):
            raise ValueError(f"position {self._pos} must hold the separator {n}; got {int(tok[tok != n][0])}")
        if not is_sep_pos and np.any(tok == n):
            raise ValueError(
                f"separator {n} at position {self._pos}; the layout allows it only at "
                f"{layout.separator_positions().tolist()}"
            )
        self._step(reg, self._pos, tok)
        self._pos += 1

    def _complete(self) -> np.ndarray:
        layout, reg = self._require()
        if self._pos != layout.length:
            raise ValueError(f"answer() after {self._pos} of {layout.length} tokens; feed the whole stream")
        return reg

    def answers(self) -> np.ndarray:
        """Outputs of all streams: bool [B] (decision) or int64 [B] (shared element)."""
        return self._output(self._complete())

    def answer(self) -> bool | int:
        """Output of a batch-1 stream: ``disjoint`` or the shared element."""
        out = self.answers()
        if out.shape[0] != 1:
            raise ValueError(f"answer() is for batch 1; this batch has {out.shape[0]} streams, use answers()")
        return bool(out[0]) if out.dtype == bool else int(out[0])

    def state_array(self) -> np.ndarray:
        """A copy of the register: uint8 0/1 array [B, W]."""
        _, reg = self._require()
        return reg.copy()

    def serialize_state(self, index: int = 0) -> str:
        """The state of stream ``index`` as a string of '0' and '1' (its length is the state size)."""
        _, reg = self._require()
        return "".join("1" if b else "0" for b in reg[index].tolist())

    def state_bits(self) -> int:
        """Size of the state in bits: the length of :meth:`serialize_state`."""
        return len(self.serialize_state(0))

    def load_state(self, bits: str, position: int) -> None:
        """Restore a batch-1 stream from a serialised state at ``position`` tokens (after reset)."""
        layout, reg = self._require()
        if reg.shape[0] != 1:
            raise ValueError("load_state needs batch 1")
        if len(bits) != reg.shape[1] or set(bits) - {"0", "1"}:
            raise ValueError(f"state must be {reg.shape[1]} characters '0'/'1'; got {bits!r}")
        if not 0 <= position <= layout.length:
            raise ValueError(f"position={position} outside [0, {layout.length}]")
        reg[0] = np.frombuffer(bits.encode(), dtype=np.uint8) - ord("0")
        self._pos = position

    # ---- shared machinery for "store a set, then look for a hit"
    def _hit(self, reg: np.ndarray, store: SetStore, flag: int, filled: int, tok: np.ndarray) -> None:
        pending = reg[:, flag] == 0
        hit = pending & store.contains(reg, filled, tok)
        if self.variant is Variant.SHARED:
            store.write_element(reg, tok, hit)
        reg[hit, flag] = 1

    def _answer_from(
        self, reg: np.ndarray, flag: int, read_element: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """The output from a register whose bit ``flag`` says "found": decision ``not found``;
        shared element ``read_element(reg)`` where found, else 0 (read only for that variant)."""
        found = reg[:, flag] == 1
        if self.variant is Variant.DECISION:
            return ~found
        return np.where(found, read_element(reg), 0)


# --------------------------------------------------------------------------------------------
# correct algorithms
# --------------------------------------------------------------------------------------------


class StoreFirst(StreamingAlgorithm):
    """One pass: store the first set (bitmap or list, whichever is smaller), then check every
    element of the second set. Register: the store plus one flag bit, = store_first_bits.
    On JR-p streams it reads pass 1 only."""

    name = "store-first"

    def __init__(self, variant: Variant | str = Variant.DECISION, encoding: str = "auto") -> None:
        super().__init__(variant)
        SetStore.choose(1, 0, 0, encoding)  # validates the name
        self.encoding = encoding

    def describe(self) -> str:
        return f"{super().describe()}, encoding={self.encoding!r}"

    def _plan(self, layout: StreamLayout) -> None:
        self._store = SetStore.choose(layout.n, layout.first_size, 0, self.encoding)
        self._flag = self._store.bits
        self._width = self._store.bits + 1

    def stated_bits(self, layout: StreamLayout) -> int:
        if self.encoding == "bitmap":
            return layout.n + 1
        if self.encoding == "list":
            return layout.first_size * bounds.element_bits(layout.n) + 1
        return bounds.store_first_bits(layout.n, layout.first_size)

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        layout = self._layout
        assert layout is not None
        f = layout.first_size
        if pos >= layout.pass_length or pos == f:
            return
        if pos < f:
            self._store.insert(reg, pos, tok, np.ones(reg.shape[0], dtype=bool))
        else:
            self._hit(reg, self._store, self._flag, f, tok)

    def _output(self, reg: np.ndarray) -> np.ndarray:
        return self._answer_from(reg, self._flag, self._store.read_element)


def _jrt_action(layout: StreamLayout, small_first: bool, pos: int) -> tuple[str | None, int]:
    """What Algorithm 3 does with the token at ``pos`` of a JR-2 stream: ("store", slot) writes
    it into the small-set store, ("match", filled) compares it against the ``filled`` stored
    elements, (None, 0) ignores it. The smaller set is stored from the copy that is followed by
    the larger one: the second pass's first set if it is the smaller, else the first pass's
    second set (then matched against the second pass's first set)."""
    f, s = layout.first_size, layout.second_size
    r, o = divmod(pos, layout.pass_length)
    if small_first:
        if r == 1 and o < f:
            return "store", o
        if r == 1 and o > f:
            return "match", f
    elif r == 0 and o > f:
        return "store", o - f - 1
    elif r == 1 and o < f:
        return "match", s
    return None, 0


class JRTTwoPass(StreamingAlgorithm):
    """Paper Algorithm 3 (Thm G.15) on JRT (two-pass) streams: stores only the smaller set.

    The layout says which set is smaller (the paper reads it off the separator's position).
    Smaller set first (ties included): ignore pass 1; in pass 2 store the first set and check
    the second. Smaller set second: in pass 1 store the second set; at the start of pass 2 check
    the first set against it. Register: min(n, min(k, l) w) + 1 = jrt_two_pass_bits, either order.
    Passes beyond the second are ignored.
    """

    name = "jrt-two-pass"
    min_passes = 2

    def _plan(self, layout: StreamLayout) -> None:
        f, s = layout.first_size, layout.second_size
        self._small_first = f <= s
        self._store = SetStore.choose(layout.n, min(f, s), 0)
        self._flag = self._store.bits
        self._width = self._store.bits + 1

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.jrt_two_pass_bits(layout.n, layout.first_size, layout.second_size)

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        assert self._layout is not None
        action, arg = _jrt_action(self._layout, self._small_first, pos)
        if action == "store":
            self._store.insert(reg, arg, tok, np.ones(reg.shape[0], dtype=bool))
        elif action == "match":
            self._hit(reg, self._store, self._flag, arg, tok)

    def _output(self, reg: np.ndarray) -> np.ndarray:
        return self._answer_from(reg, self._flag, self._store.read_element)


class JRTIntersection(StreamingAlgorithm):
    """Algorithm 3 exactly as written: outputs A ∩ B (the stored rows flagged as matched).

    Stores the smaller set and one match bit per stored element: a bitmap of [n] plus a bitmap
    of matches (2n bits) or a list of elements plus one match bit per slot, whichever is smaller
    (= jrt_intersection_bits). ``answer()`` returns a frozenset. Used as the intersection-
    returning SD routine of the GAR -> SD reduction (Prop G.26). The ``variant`` is ignored.
    """

    name = "jrt-intersection"
    min_passes = 2

    def _plan(self, layout: StreamLayout) -> None:
        f, s = layout.first_size, layout.second_size
        m = min(f, s)
        self._small_first = f <= s
        w = bounds.element_bits(layout.n)
        mode = "bitmap" if 2 * layout.n <= m * (w + 1) else "list"
        self._store = SetStore(layout.n, m, 0, mode)
        self._match = self._store.bits  # n match bits (bitmap) or m (list)
        self._width = self._store.bits + (layout.n if mode == "bitmap" else m)

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.jrt_intersection_bits(layout.n, layout.first_size, layout.second_size)

    def _mark(self, reg: np.ndarray, filled: int, tok: np.ndarray) -> None:
        rows = np.arange(reg.shape[0])
        if self._store.mode == "bitmap":
            hit = self._store.contains(reg, filled, tok)
            reg[rows[hit], self._match + tok[hit]] = 1
            return
        w = self._store.w
        block = reg[:, : filled * w].reshape(reg.shape[0], filled, w)
        values = (block.astype(np.int64) << np.arange(w, dtype=np.int64)).sum(axis=2)
        r, slot = np.nonzero(values == tok[:, None])
        reg[r, self._match + slot] = 1

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        assert self._layout is not None
        action, arg = _jrt_action(self._layout, self._small_first, pos)
        if action == "store":
            self._store.insert(reg, arg, tok, np.ones(reg.shape[0], dtype=bool))
        elif action == "match":
            self._mark(reg, arg, tok)

    def _output(self, reg: np.ndarray) -> np.ndarray:
        m = self._store.capacity
        out = np.empty(reg.shape[0], dtype=object)
        if self._store.mode == "bitmap":
            n = self._store.n
            for i, row in enumerate(reg):
                out[i] = frozenset(np.flatnonzero(row[self._match : self._match + n]).tolist())
        else:
            elems = self._store.elements(reg, m)
            for i, row in enumerate(reg):
                flags = row[self._match : self._match + m]
                out[i] = frozenset(e for e, fl in zip(elems[i], flags.tolist(), strict=True) if fl)
        return out

    def answer(self) -> frozenset[int]:  # type: ignore[override]
        out = self.answers()
        if out.shape[0] != 1:
            raise ValueError("answer() is for batch 1; use answers()")
        return out[0]


class MultiPass(StreamingAlgorithm):
    """p-pass algorithm for JR-p streams: store one chunk of a set per pass.

    Plan (static, from the layout; same as :func:`sdtheory.bounds.multi_pass_chunk`):
    * chunk the first set, c = ceil(first / p): pass r stores first-set elements r*c .. (r+1)c-1
      and checks the second set of the same pass against them;
    * chunk the second set (p >= 2), c = ceil(second / (p - 1)): pass r stores second-set
      elements r*c .. (r+1)c-1 and the first set of pass r + 1 is checked against them;
    whichever stores fewer elements (ties: the first). Register: min(n, c w) + 1 =
    multi_pass_bits. p = 1 is store-first; p = 2 stores min(ceil(first / 2), second).
    Shared element: once found, the element replaces the store and no chunk is loaded again.
    """

    name = "multi-pass"

    def _plan(self, layout: StreamLayout) -> None:
        f, s, p = layout.first_size, layout.second_size, layout.passes
        c_first = -(-f // p)
        c_second = -(-s // (p - 1)) if p >= 2 else None
        if c_second is None or c_first <= c_second:
            self._mode, self._c = "first", c_first
        else:
            self._mode, self._c = "second", c_second
        self._store = SetStore.choose(layout.n, self._c, 0)
        self._flag = self._store.bits
        self._width = self._store.bits + 1

    @property
    def plan(self) -> tuple[str, int]:
        """("first" or "second", chunk size) for the current layout."""
        return self._mode, self._c

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.multi_pass_bits(layout.n, layout.first_size, layout.second_size, layout.passes)

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        layout = self._layout
        assert layout is not None
        f, s, p = layout.first_size, layout.second_size, layout.passes
        c = self._c
        r, o = divmod(pos, layout.pass_length)
        pending = reg[:, self._flag] == 0
        if self._mode == "first":
            lo, hi = r * c, min((r + 1) * c, f)
            if o == 0 and r > 0:
                self._store.clear(reg, pending)
            if lo <= o < hi:
                self._store.insert(reg, o - lo, tok, pending)
            elif o > f and hi > lo:
                self._hit(reg, self._store, self._flag, hi - lo, tok)
            return
        if o < f and r >= 1:
            lo, hi = (r - 1) * c, min(r * c, s)
            if hi > lo:
                self._hit(reg, self._store, self._flag, hi - lo, tok)
        elif o > f and r <= p - 2:
            q = o - f - 1
            if q == 0:
                self._store.clear(reg, pending)
            lo, hi = r * c, min((r + 1) * c, s)
            if lo <= q < hi:
                self._store.insert(reg, q - lo, tok, pending)

    def _output(self, reg: np.ndarray) -> np.ndarray:
        return self._answer_from(reg, self._flag, self._store.read_element)


# --------------------------------------------------------------------------------------------
# under-budget algorithms
# --------------------------------------------------------------------------------------------


class TruncatedStoreFirst(StreamingAlgorithm):
    """One pass, stores only the first ``max_elements`` elements of the first set (a memory
    budget): wrong whenever the shared element comes later. Register: the store + 1."""

    name = "truncated-store-first"
    exact = False

    def __init__(self, max_elements: int, variant: Variant | str = Variant.DECISION) -> None:
        super().__init__(variant)
        self.max_elements = check_int("max_elements", max_elements, 0)

    def describe(self) -> str:
        return f"{super().describe()}, max_elements={self.max_elements}"

    def _plan(self, layout: StreamLayout) -> None:
        self._c = min(self.max_elements, layout.first_size)
        self._store = SetStore.choose(layout.n, self._c, 0)
        self._flag = self._store.bits
        self._width = self._store.bits + 1

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.set_encoding_bits(layout.n, min(self.max_elements, layout.first_size)) + 1

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        layout = self._layout
        assert layout is not None
        f = layout.first_size
        if pos >= layout.pass_length or pos == f:
            return
        if pos < f:
            if pos < self._c:
                self._store.insert(reg, pos, tok, np.ones(reg.shape[0], dtype=bool))
        else:
            self._hit(reg, self._store, self._flag, self._c, tok)

    def _output(self, reg: np.ndarray) -> np.ndarray:
        return self._answer_from(reg, self._flag, self._store.read_element)


def _check_seed(seed: object) -> int:
    return check_int("seed", seed, 0)


class _HashSketch(StreamingAlgorithm):
    """A one-pass hash sketch of the first set (register bits [0, S)), then the "found" flag (bit
    S) and, for the shared-element variant, the candidate element (w bits after the flag)."""

    exact = False

    def _place_flag(self, sketch_bits: int, n: int) -> None:
        """Lay the register out after a sketch of ``sketch_bits`` bits over the universe [n]."""
        self._flag = sketch_bits
        self._elem = sketch_bits + 1
        self._w = bounds.element_bits(n) if self.variant is Variant.SHARED else 0
        self._width = sketch_bits + 1 + self._w

    def _found(self, reg: np.ndarray, tok: np.ndarray, match: np.ndarray) -> None:
        """Streams still searching whose token ``tok`` [B] matches the sketch (bool [B]) raise the
        flag and keep the token as the candidate."""
        hit = (reg[:, self._flag] == 0) & match
        _write(reg, self._elem, self._w, tok, hit)
        reg[hit, self._flag] = 1

    def _output(self, reg: np.ndarray) -> np.ndarray:
        return self._answer_from(reg, self._flag, lambda r: _read(r, self._elem, self._w))


class BloomFilter(_HashSketch):
    """One pass: a Bloom filter of ``filter_bits`` bits with ``hashes`` hash functions.

    The hash functions are a table drawn once from ``numpy.random.default_rng(seed)`` for the
    universe (static parameters, not state), so the algorithm is deterministic and the witness
    applies. False positives make it answer "intersect" on disjoint sets. Register:
    filter_bits + 1 flag (+ w bits for the candidate element, shared-element variant).
    """

    name = "bloom"

    def __init__(
        self, filter_bits: int, hashes: int = 2, seed: int = 0, variant: Variant | str = Variant.DECISION
    ) -> None:
        super().__init__(variant)
        self.filter_bits = check_int("filter_bits", filter_bits, 1)
        self.hashes = check_int("hashes", hashes, 1)
        self.seed = _check_seed(seed)

    def describe(self) -> str:
        return f"{super().describe()}, filter_bits={self.filter_bits}, hashes={self.hashes}, seed={self.seed}"

    def _plan(self, layout: StreamLayout) -> None:
        rng = np.random.default_rng(self.seed)
        self._table = rng.integers(0, self.filter_bits, size=(self.hashes, layout.n))
        self._place_flag(self.filter_bits, layout.n)

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.bloom_filter_bits(self.filter_bits, layout.n, self.variant)

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        layout = self._layout
        assert layout is not None
        f = layout.first_size
        if pos >= layout.pass_length or pos == f:
            return
        cols = self._table[:, tok].T  # [B, hashes]
        rows = np.arange(reg.shape[0])[:, None]
        if pos < f:
            reg[rows, cols] = 1
            return
        self._found(reg, tok, np.all(reg[rows, cols] == 1, axis=1))


class FingerprintSketch(_HashSketch):
    """One pass: keep a ``fp_bits``-bit hash fingerprint of each first-set element (a list of
    first * fp_bits bits). Distinct elements with equal fingerprints collide (false positives).
    The fingerprint table is drawn from ``default_rng(seed)`` (static). Register:
    first * fp_bits + 1 (+ w, shared-element variant)."""

    name = "fingerprint"

    def __init__(self, fp_bits: int, seed: int = 0, variant: Variant | str = Variant.DECISION) -> None:
        super().__init__(variant)
        self.fp_bits, self.seed = check_int("fp_bits", fp_bits, 1, 30), _check_seed(seed)

    def describe(self) -> str:
        return f"{super().describe()}, fp_bits={self.fp_bits}, seed={self.seed}"

    def _plan(self, layout: StreamLayout) -> None:
        rng = np.random.default_rng(self.seed)
        self._table = rng.integers(0, 1 << self.fp_bits, size=layout.n)
        self._place_flag(layout.first_size * self.fp_bits, layout.n)

    def stated_bits(self, layout: StreamLayout) -> int:
        return bounds.fingerprint_bits(layout.first_size, self.fp_bits, layout.n, self.variant)

    def _step(self, reg: np.ndarray, pos: int, tok: np.ndarray) -> None:
        layout = self._layout
        assert layout is not None
        f, g = layout.first_size, self.fp_bits
        if pos >= layout.pass_length or pos == f:
            return
        fp = self._table[tok]
        if pos < f:
            _write(reg, pos * g, g, fp, np.ones(reg.shape[0], dtype=bool))
            return
        if f == 0:
            return
        block = reg[:, : f * g].reshape(reg.shape[0], f, g)
        values = (block.astype(np.int64) << np.arange(g, dtype=np.int64)).sum(axis=2)
        self._found(reg, tok, np.any(values == fp[:, None], axis=1))


ALGORITHMS: dict[str, type[StreamingAlgorithm]] = {
    cls.name: cls
    for cls in (
        StoreFirst,
        JRTTwoPass,
        JRTIntersection,
        MultiPass,
        TruncatedStoreFirst,
        BloomFilter,
        FingerprintSketch,
    )
}


def make_algorithm(name: str, variant: Variant | str = Variant.DECISION, **params: int) -> StreamingAlgorithm:
    """Build an algorithm by its ``name`` (keys of :data:`ALGORITHMS`) with keyword parameters."""
    if name not in ALGORITHMS:
        raise ValueError(f"algorithm={name!r} is unknown; known: {sorted(ALGORITHMS)}")
    signature = inspect.signature(ALGORITHMS[name].__init__).parameters
    allowed = [p for p in signature if p not in ("self", "variant")]
    required = [p for p in allowed if signature[p].default is inspect.Parameter.empty]
    unknown = sorted(set(params) - set(allowed))
    missing = [p for p in required if p not in params]
    if unknown or missing:
        problem = f"unknown {unknown}" if unknown else f"missing {missing}"
        raise ValueError(
            f"algorithm {name!r}: {problem}; its parameters are {allowed or 'none'} "
            f"(required: {required or 'none'}), got {params}"
        )
    return ALGORITHMS[name](variant=variant, **params)


# --------------------------------------------------------------------------------------------
# running streams
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamRun:
    """Result of :func:`run_stream`: the output, the state size (bits, from the serialisation)
    and the serialised state after every token (``states[t]`` = after t tokens)."""

    answer: bool | int | frozenset[int]
    state_bits: int
    states: tuple[str, ...]


def run_stream(
    alg: StreamingAlgorithm, tokens: Iterable[int] | np.ndarray, layout: StreamLayout
) -> StreamRun:
    """Run one stream token by token, recording the serialised state at every position."""
    arr = np.asarray(list(tokens) if not isinstance(tokens, np.ndarray) else tokens, dtype=np.int64)
    if arr.shape != (layout.length,):
        raise ValueError(f"stream has shape {arr.shape}; layout {layout} needs ({layout.length},)")
    alg.reset(layout, batch=1)
    states = [alg.serialize_state()]
    for tok in arr.tolist():
        alg.feed(tok)
        states.append(alg.serialize_state())
    return StreamRun(alg.answer(), alg.state_bits(), tuple(states))


def run_batch(
    alg: StreamingAlgorithm,
    streams: np.ndarray,
    layout: StreamLayout,
    record: Iterable[int] | None = None,
    stop: int | None = None,
) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
    """Run a batch of streams (int64 [B, L]); return (outputs [B] or None if stopped early,
    {position: register copy [B, W]} for the positions in ``record``). ``stop`` ends after that
    many tokens (a prefix), in which case no outputs are returned."""
    s = np.asarray(streams, dtype=np.int64)
    if s.ndim != 2 or s.shape[1] != layout.length:
        raise ValueError(f"streams must have shape [B, {layout.length}], got {s.shape}")
    want = set(record or ())
    end = layout.length if stop is None else stop
    alg.reset(layout, batch=s.shape[0])
    out: dict[int, np.ndarray] = {}
    if 0 in want:
        out[0] = alg.state_array()
    for pos in range(end):
        alg.feed(s[:, pos])
        if pos + 1 in want:
            out[pos + 1] = alg.state_array()
    return (alg.answers() if end == layout.length else None), out


@dataclass(frozen=True)
class InstanceBatch:
    """Every valid instance of a layout, as streams with each set in increasing order.

    ``a``, ``b``: uint64 masks [B]; ``first``, ``second``: masks in stream order; ``answers``:
    bool [B] (decision) or int64 [B] (shared element); ``streams``: int64 [B, p * N].
    """

    n: int
    k: int
    l: int
    order: Order
    passes: int
    variant: Variant
    a: np.ndarray
    b: np.ndarray
    answers: np.ndarray
    streams: np.ndarray

    @property
    def layout(self) -> StreamLayout:
        first, second = (self.k, self.l) if self.order is Order.A_FIRST else (self.l, self.k)
        return StreamLayout(self.n, first, second, self.passes)

    def instance(self, i: int) -> SDInstance:
        return SDInstance(self.n, mask_to_elements(self.a[i]), mask_to_elements(self.b[i]))


def streams_from_masks(
    n: int, first: np.ndarray, second: np.ndarray, f: int, s: int, passes: int
) -> np.ndarray:
    """Streams int64 [B, passes * (f + 1 + s)] of first / second set masks (uint64 [B], sizes f, s),
    each set in increasing order, the separator n between them, repeated ``passes`` times."""
    fe = masks_to_sorted_elements(first, n, f)
    se = masks_to_sorted_elements(second, n, s)
    sep = np.full((first.size, 1), n, dtype=np.int64)
    one = np.concatenate([fe, sep, se], axis=1)
    return np.tile(one, (1, passes))


MAX_BATCH_N = 24
"""Largest universe of :func:`instance_batch`: all 2^24 subsets are enumerated (128 MB of masks)."""
MAX_BATCH_TOKENS = 2**25
"""Largest number of tokens (instances x stream length) of :func:`instance_batch`: about 1 GB at
the peak of :func:`sdtheory.witness.find_failure` (about 3 s for 2.6 million one-pass streams)."""


def check_batch_size(n: int, k: int, l: int, passes: int = 1, first_sets: int | None = None) -> int:
    """The number of tokens :func:`instance_batch` would build (every first set with every second
    set, before the shared-element filter), or ValueError if it exceeds :data:`MAX_BATCH_TOKENS`
    or n exceeds :data:`MAX_BATCH_N`. ``first_sets``: how many first sets, if restricted."""
    n = check_int("n", n, 1, MAX_BATCH_N)
    k, l, passes = check_int("k", k, 0, n), check_int("l", l, 0, n), check_int("passes", passes, 1)
    pairs = (math.comb(n, k) if first_sets is None else first_sets) * math.comb(n, l)
    tokens = pairs * passes * (k + l + 1)
    if tokens > MAX_BATCH_TOKENS:
        raise ValueError(
            f"n={n}, |A|={k}, |B|={l}, passes={passes} has {pairs} input pairs, {tokens} stream tokens "
            f"in all, more than MAX_BATCH_TOKENS = {MAX_BATCH_TOKENS} (about 1 GB)"
        )
    return tokens


def instance_batch(
    n: int,
    k: int,
    l: int,
    order: Order | str = Order.A_FIRST,
    passes: int = 1,
    variant: Variant | str = Variant.DECISION,
    first_masks: np.ndarray | None = None,
) -> InstanceBatch:
    """All instances with |A| = k, |B| = l over [n] (shared element: only |A ∩ B| = 1), encoded
    in ``order`` with ``passes`` repeats. ``first_masks`` restricts the first set.

    Refused up front (ValueError) when the streams would hold more than :data:`MAX_BATCH_TOKENS`
    tokens (first sets x second sets x stream length), or n > :data:`MAX_BATCH_N`."""
    order = Order.parse(order)
    variant = Variant.parse(variant)
    layout = StreamLayout(n, *((k, l) if order is Order.A_FIRST else (l, k)), passes)
    f, s = layout.first_size, layout.second_size
    check_batch_size(n, k, l, passes, None if first_masks is None else len(first_masks))
    fm = subset_masks(n, f) if first_masks is None else np.asarray(first_masks, dtype=np.uint64)
    sm = subset_masks(n, s)
    first = np.repeat(fm, sm.size)
    second = np.tile(sm, fm.size)
    inter = first & second
    if variant is Variant.DECISION:
        answers = inter == 0
    else:
        keep = popcount(inter) == 1
        first, second, inter = first[keep], second[keep], inter[keep]
        answers = single_bit_index(inter)
    a, b = (first, second) if order is Order.A_FIRST else (second, first)
    streams = streams_from_masks(n, first, second, f, s, passes)
    return InstanceBatch(n, k, l, order, passes, variant, a, b, answers, streams)


def reached_states(
    alg: StreamingAlgorithm,
    n: int,
    k: int,
    l: int,
    order: Order | str = Order.A_FIRST,
    passes: int = 1,
) -> np.ndarray:
    """Number of distinct states (registers) the algorithm reaches at each position 0..p*N over
    all valid instances (sets in increasing order): int64 [p * N + 1]. log2 of it is the
    "distinct states" measure of memory, beside the register size."""
    batch = instance_batch(n, k, l, order, passes, alg.variant)
    layout = batch.layout
    if batch.streams.shape[0] == 0:
        return np.ones(layout.length + 1, dtype=np.int64)
    alg.reset(layout, batch=batch.streams.shape[0])
    counts = [_distinct_rows(alg.state_array())]
    for pos in range(layout.length):  # count as we go: one register copy at a time
        alg.feed(batch.streams[:, pos])
        counts.append(_distinct_rows(alg.state_array()))
    return np.array(counts, dtype=np.int64)


def _distinct_rows(reg: np.ndarray) -> int:
    """Distinct rows of a 0/1 register array [B, W] (rows packed into bytes, compared whole)."""
    packed = np.ascontiguousarray(np.packbits(reg, axis=1))
    if packed.shape[1] == 0:
        return 1
    return int(np.unique(packed.view(np.dtype((np.void, packed.shape[1])))).shape[0])


@dataclass(frozen=True)
class MemoryMeasures:
    """Two measures of an algorithm's memory on a layout (all valid inputs, sets sorted).

    ``register_bits``: the size of the serialised state. ``reached``: distinct states reached
    at each position (int64 [p * N + 1]); ``reached_bits`` = ceil(log2(max reached)), the
    information-theoretic size of what the algorithm actually uses (<= register_bits).
    """

    register_bits: int
    reached: np.ndarray

    @property
    def reached_bits(self) -> int:
        return ceil_log2(int(self.reached.max()))


def measure_memory(
    alg: StreamingAlgorithm, n: int, k: int, l: int, order: Order | str = Order.A_FIRST, passes: int = 1
) -> MemoryMeasures:
    """Register size and distinct states reached (see :class:`MemoryMeasures`)."""
    order = Order.parse(order)
    layout = StreamLayout(n, *((k, l) if order is Order.A_FIRST else (l, k)), passes)
    alg.reset(layout)
    bits = alg.state_bits()
    return MemoryMeasures(bits, reached_states(alg, n, k, l, order, passes))


def exhaustive_correct(
    alg: StreamingAlgorithm, n: int, k: int, l: int, order: Order | str, passes: int
) -> tuple[int, int]:
    """(instances checked, wrong answers) over every valid instance of the layout."""
    full = instance_batch(n, k, l, order, passes, alg.variant)
    if full.streams.shape[0] == 0:
        return 0, 0
    outputs, _ = run_batch(alg, full.streams, full.layout)
    assert outputs is not None
    return int(full.streams.shape[0]), int(np.count_nonzero(outputs != full.answers))
