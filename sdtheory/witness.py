"""The lower-bound witness: inputs on which an under-budget streaming algorithm must fail.

:func:`find_failure` runs an algorithm of :mod:`sdtheory.streaming` on every valid input of a
small layout. One pass: if two first sets reach the same state at the separator while some
second set separates them (fewer states than :func:`sdtheory.one_way.one_way_states`), it
returns that collision. JR-p: two inputs with the same second set and the same states at all
2p - 1 crossings of the cut end in the same state (a transcript collision). Otherwise it checks
every input directly. Sizes: as :func:`sdtheory.streaming.instance_batch` allows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdtheory.combinatorics.bitsets import mask_to_elements, single_bit_index, subset_masks
from sdtheory.instances import Order, SDInstance, StreamLayout, Variant
from sdtheory.streaming import (
    InstanceBatch,
    StreamingAlgorithm,
    instance_batch,
    run_batch,
    streams_from_masks,
)

__all__ = ["Witness", "find_failure"]


@dataclass(frozen=True)
class Witness:
    """Inputs on which an algorithm must fail (or fails).

    ``kind``:
    * "collision": two first sets reach the same state after the first set and the separator
      (``cut`` tokens); with the same second set they have different correct answers, but the
      algorithm, in the same state and reading the same tokens, answers both alike;
    * "transcript-collision" (JR-p): two inputs with the same second set have the same states at
      all 2p - 1 crossings of the cut between the sets, hence the same final state;
    * "wrong-answer": a single input answered wrongly without such a collision.
    ``instances`` are the inputs, ``correct`` their answers, ``outputs`` the algorithm's.
    """

    kind: str
    algorithm: str
    order: Order
    passes: int
    instances: tuple[SDInstance, ...]
    correct: tuple[bool | int, ...]
    outputs: tuple[bool | int, ...]
    cut: int | None = None
    state: str | None = None

    @property
    def wrong(self) -> tuple[SDInstance, ...]:
        """The instances the algorithm answers wrongly."""
        return tuple(i for i, c, o in zip(self.instances, self.correct, self.outputs, strict=True) if c != o)

    def describe(self) -> str:
        parts = [f"{self.kind} witness against {self.algorithm} ({self.order.value}, passes={self.passes})"]
        for inst, c, o in zip(self.instances, self.correct, self.outputs, strict=True):
            parts.append(f"  A={sorted(inst.a)} B={sorted(inst.b)}: correct {c}, algorithm {o}")
        if self.state is not None:
            parts.append(f"  shared state after {self.cut} tokens: {self.state} ({len(self.state)} bits)")
        return "\n".join(parts)


def _scalar(x: np.generic) -> bool | int:
    return bool(x) if isinstance(x, np.bool_ | bool) else int(x)


def find_failure(
    algorithm: StreamingAlgorithm,
    n: int,
    k: int,
    l: int,
    order: Order | str = Order.A_FIRST,
    passes: int = 1,
) -> Witness | None:
    """Search for inputs that break ``algorithm`` (|A| = k, |B| = l over [n], small n).

    One pass: run the algorithm on every first set up to and including the separator, group
    the first sets by serialised state, and inside a group look for two first sets S, S' and a
    second set T valid for both with different answers (for the decision variant any T that
    meets exactly one of them). Such a pair exists whenever the algorithm has fewer distinct
    states there than the exact bound (:func:`sdtheory.one_way.one_way_states`). JR-p: run every
    valid input, group by the states at the 2p - 1 cut crossings plus the second set (inputs with
    one transcript form a rectangle and end in the same state). If no collision is found, every
    valid input is checked directly. Returns None iff the algorithm is correct on every valid
    input of the layout (sets in increasing order inside the stream).
    """
    order = Order.parse(order)
    variant = algorithm.variant
    full = instance_batch(n, k, l, order, passes, variant)
    layout = full.layout
    f = layout.first_size
    witness = None
    if passes == 1:
        witness = _one_pass_collision(algorithm, full, layout)
    else:
        witness = _transcript_collision(algorithm, full, layout)
    if witness is not None:
        return witness
    if full.streams.shape[0] == 0:
        return None
    outputs, _ = run_batch(algorithm, full.streams, layout)
    assert outputs is not None
    wrong = np.flatnonzero(outputs != full.answers)
    if wrong.size == 0:
        return None
    i = int(wrong[0])
    return Witness(
        "wrong-answer",
        repr(algorithm),
        order,
        passes,
        (full.instance(i),),
        (_scalar(full.answers[i]),),
        (_scalar(outputs[i]),),
        cut=f + 1,
    )


def _one_pass_collision(alg: StreamingAlgorithm, full: InstanceBatch, layout: StreamLayout) -> Witness | None:
    n, f, s = layout.n, layout.first_size, layout.second_size
    cut = f + 1
    firsts = subset_masks(n, f)
    filler = np.repeat(subset_masks(n, s)[:1], firsts.size)  # any second set: only the prefix runs
    prefix = streams_from_masks(n, firsts, filler, f, s, layout.passes)
    _, regs = run_batch(alg, prefix, layout, record=[cut], stop=cut)
    states = regs[cut]
    _, inv, counts = np.unique(states, axis=0, return_inverse=True, return_counts=True)
    seconds = subset_masks(n, s)
    for g in np.flatnonzero(counts > 1).tolist():
        members = firsts[inv.ravel() == g]
        vals_inter = members[:, None] & seconds[None, :]
        if alg.variant is Variant.DECISION:
            vals = (vals_inter == 0).astype(np.int16)
        else:
            vals = single_bit_index(vals_inter).astype(np.int16)
        valid = vals >= 0
        for i in range(members.size):
            clash = valid[i][None, :] & valid & (vals != vals[i][None, :])
            js, ts = np.nonzero(clash)
            if js.size:
                j, t = int(js[0]), int(ts[0])
                return _collision_witness(
                    alg, full, layout, members[i], members[j], seconds[t], cut, states, inv
                )
    return None


def _collision_witness(
    alg: StreamingAlgorithm,
    full: InstanceBatch,
    layout: StreamLayout,
    s1: np.uint64,
    s2: np.uint64,
    t: np.uint64,
    cut: int,
    states: np.ndarray,
    inv: np.ndarray,
) -> Witness:
    n = layout.n
    order = full.order
    insts = []
    for s in (s1, s2):
        a, b = (s, t) if order is Order.A_FIRST else (t, s)
        insts.append(SDInstance(n, mask_to_elements(a), mask_to_elements(b)))
    streams = streams_from_masks(
        n,
        np.array([s1, s2], dtype=np.uint64),
        np.array([t, t], dtype=np.uint64),
        layout.first_size,
        layout.second_size,
        layout.passes,
    )
    outputs, regs = run_batch(alg, streams, layout, record=[cut])
    assert outputs is not None
    if not np.array_equal(regs[cut][0], regs[cut][1]) or outputs[0] != outputs[1]:
        raise AssertionError("the algorithm is not deterministic in its register: same state, different run")
    correct = tuple(inst.answer(alg.variant) for inst in insts)
    state = "".join(str(int(b)) for b in regs[cut][0].tolist())
    return Witness(
        "collision",
        repr(alg),
        order,
        layout.passes,
        tuple(insts),
        correct,
        (_scalar(outputs[0]), _scalar(outputs[1])),
        cut=cut,
        state=state,
    )


def _transcript_collision(
    alg: StreamingAlgorithm, full: InstanceBatch, layout: StreamLayout
) -> Witness | None:
    if full.streams.shape[0] == 0:
        return None
    N, f = layout.pass_length, layout.first_size
    crossings = [r * N + f + 1 for r in range(layout.passes)] + [r * N for r in range(1, layout.passes)]
    crossings.sort()
    outputs, regs = run_batch(alg, full.streams, layout, record=crossings)
    assert outputs is not None
    second = full.b if full.order is Order.A_FIRST else full.a
    keys = np.concatenate(
        [regs[c] for c in crossings] + [np.ascontiguousarray(second).view(np.uint8).reshape(-1, 8)], axis=1
    )
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    ans = full.answers
    order_idx = np.argsort(inv, kind="stable")
    inv_sorted, ans_sorted = inv[order_idx], ans[order_idx]
    same_group = inv_sorted[1:] == inv_sorted[:-1]
    differ = same_group & (ans_sorted[1:] != ans_sorted[:-1])
    hits = np.flatnonzero(differ)
    if hits.size == 0:
        return None
    i, j = int(order_idx[hits[0]]), int(order_idx[hits[0] + 1])
    if not np.array_equal(regs[crossings[-1]][i], regs[crossings[-1]][j]) or outputs[i] != outputs[j]:
        raise AssertionError("same transcript and second set but different final output")
    state = "".join(str(int(b)) for b in regs[crossings[-1]][i].tolist())
    return Witness(
        "transcript-collision",
        repr(alg),
        full.order,
        layout.passes,
        (full.instance(i), full.instance(j)),
        (_scalar(ans[i]), _scalar(ans[j])),
        (_scalar(outputs[i]), _scalar(outputs[j])),
        cut=crossings[-1],
        state=state,
    )
