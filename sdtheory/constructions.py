"""Linear-attention constructions that solve set disjointness: causal (Prop G.18), JRT, prefix.

Each construction is a small network of real tensor operations: an IP-kernel feature map φ
(:mod:`sdtheory.ipkernels`), a linear-attention key-value state kv of shape [f, d_v], gates from
counters with ReLUs, the paper's ReLU MLP and a readout; each has a recurrent form
(:meth:`SDConstruction.run`) and a parallel form (:meth:`SDConstruction.forward`) that the tests
compare. :class:`CausalSD` stores the FIRST set (m = |S|), :class:`JRTSD` and :class:`PrefixSD`
the smaller one (m = min(k, l)) in either order: the order effect. :class:`StateSize` counts the
tensors held between tokens in values and bits. Correctness and state accounting:
docs/theory/constructions.md; symbols (S, T, M, f, d_v, θ): docs/theory/glossary.md.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from sdtheory.combinatorics.integers import ceil_log2, check_int
from sdtheory.instances import Order, SDInstance, StreamLayout, decode_stream, encode_stream
from sdtheory.ipkernels import (
    THRESHOLD,
    DataDependentSpec,
    IPKernel,
    KernelSpec,
    RandomSignKernel,
    random_failure_bound,
)

__all__ = [
    "FIRE_TOL",
    "JRTSD",
    "AccuracyEstimate",
    "AccuracyProbe",
    "CausalSD",
    "PrefixSD",
    "SDAnswer",
    "SDConstruction",
    "StateSize",
    "TensorSpec",
    "Trace",
    "causal_linear_attention",
    "is_correct",
    "needed_feature_dim",
]

#: The state of a construction: tensor name -> array (shapes in :meth:`SDConstruction.state_size`).
State = dict[str, np.ndarray]
Num = np.ndarray | float

PRECISION_BITS: dict[str, int] = {"fp64": 64, "fp32": 32, "bf16": 16, "fp16": 16}

#: A position "fires" when its MLP output y exceeds FIRE_TOL rather than 0. With a sign kernel ρ is
#: a multiple of 1/f, so the tie ρ = θ (noise exactly ±1/2, which the failure bounds already count
#: as an error) occurs; in exact arithmetic it gives y = 0 (no fire), while float rounding would
#: decide it by summation order. 1e-9 is far below the 1/f granularity for every f < 10^9.
FIRE_TOL = 1e-9


class SDAnswer(NamedTuple):
    """What a construction answers: whether A ∩ B = ∅ and, if not, one shared element."""

    disjoint: bool
    shared: int | None


def is_correct(answer: SDAnswer, inst: SDInstance) -> bool:
    """True iff ``answer`` has the right decision and, for intersecting sets, a shared element."""
    if inst.disjoint:
        return answer.disjoint and answer.shared is None
    return (not answer.disjoint) and answer.shared in inst.intersection


@dataclass(frozen=True)
class TensorSpec:
    """One state tensor: its shape, the bits per value that hold it exactly, and its role."""

    shape: tuple[int, ...]
    exact_bits: int
    role: str

    @property
    def values(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class StateSize:
    """Sizes of the state tensors a construction holds between tokens (name -> :class:`TensorSpec`)."""

    tensors: Mapping[str, TensorSpec] = field(default_factory=dict)

    @property
    def values(self) -> int:
        """Number of values held (all tensors)."""
        return sum(t.values for t in self.tensors.values())

    @property
    def kv_values(self) -> int:
        """Values of the key-value state kv alone (f · d_v): the part that scales with the sets."""
        return self.tensors["kv"].values

    def bits(self, precision: str = "fp32") -> int:
        """State in bits: ``values · w`` for a float format (w = 64/32/16 for fp64/fp32/bf16/fp16),
        or ``"exact"``: Σ over tensors of values · (bits that hold that tensor's values exactly)."""
        if precision == "exact":
            return sum(t.values * t.exact_bits for t in self.tensors.values())
        if precision not in PRECISION_BITS:
            allowed = ", ".join(repr(p) for p in [*PRECISION_BITS, "exact"])
            raise ValueError(f"precision={precision!r} is not known; allowed: {allowed}")
        return self.values * PRECISION_BITS[precision]

    @property
    def bits_fp32(self) -> int:
        return self.bits("fp32")

    @property
    def bits_exact(self) -> int:
        return self.bits("exact")


@dataclass
class Trace:
    """Record of a recurrent run over one stream.

    ``outputs`` [L, d_v] are the MLP outputs y_t, ``write`` / ``query`` [L] the gates, ``state``
    the tensors held after the last token (name -> array), ``answer`` the readout.
    """

    layout: StreamLayout
    tokens: np.ndarray
    outputs: np.ndarray
    write: np.ndarray
    query: np.ndarray
    state: dict[str, np.ndarray]
    answer: SDAnswer
    kernel: IPKernel


# ---------------------------------------------------------------------------------------------
# tensor helpers


def _relu(x: np.ndarray | float) -> np.ndarray:
    return np.maximum(x, 0.0)


def _ge(x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
    """1.0 where x >= y else 0.0, for integer-valued x, y: ReLU(x - y + 1) - ReLU(x - y)."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return _relu(d + 1.0) - _relu(d)


def causal_linear_attention(phi: np.ndarray, v: np.ndarray, chunk: int = 32) -> np.ndarray:
    """y_t = Σ_{j <= t} ⟨φ_t, φ_j⟩ v_j (Q = K = φ, no normaliser), chunked.

    phi [B, L, f], v [B, L, d_v] -> y [B, L, d_v]. Within a chunk the quadratic form, across
    chunks the state kv [B, f, d_v]; equal to the token-by-token recurrence up to rounding.
    """
    if phi.ndim != 3 or v.ndim != 3 or phi.shape[:2] != v.shape[:2]:
        raise ValueError(f"phi {phi.shape} and v {v.shape} must be [B, L, f] and [B, L, d_v]")
    b, length, f = phi.shape
    kv = np.zeros((b, f, v.shape[2]), dtype=np.result_type(phi, v))
    y = np.empty((b, length, v.shape[2]), dtype=kv.dtype)
    for s in range(0, length, chunk):
        e = min(length, s + chunk)
        pc, vc = phi[:, s:e], v[:, s:e]
        scores = np.tril(pc @ pc.transpose(0, 2, 1))
        y[:, s:e] = scores @ vc + pc @ kv
        kv += pc.transpose(0, 2, 1) @ vc
    return y


def _stream_features(kernel: IPKernel, tokens: np.ndarray, sep: int) -> np.ndarray:
    """φ of each token of ``tokens`` [...], zeros at separators: [..., f]."""
    flat = tokens.reshape(-1)
    out = np.zeros((flat.size, kernel.f))
    keep = np.flatnonzero(flat != sep)
    if keep.size:
        out[keep] = kernel.features(flat[keep])
    return out.reshape(*tokens.shape, kernel.f)


def _readout(tokens: np.ndarray, y: np.ndarray) -> list[SDAnswer]:
    """Answers from a batch: tokens [B, L], outputs y [B, L, d_v]."""
    fire = y[..., 0] > FIRE_TOL
    out = []
    for row, fr in zip(tokens, fire, strict=True):
        hits = np.flatnonzero(fr)
        out.append(SDAnswer(True, None) if hits.size == 0 else SDAnswer(False, int(row[hits[0]])))
    return out


# ---------------------------------------------------------------------------------------------
# constructions


class SDConstruction(ABC):
    """Common machinery: kernel choice, recurrent loop, readout, state accounting.

    ``kernel`` says how the kernel is obtained for an instance (default: the exact data-dependent
    one); ``value_dim`` is d_v (V = w_t · 1_{d_v}, w_t the write gate).
    """

    name: str = "construction"
    #: passes of the one-pass stream the construction reads (1, or 2 for JRT)
    passes: int = 1

    def __init__(self, kernel: KernelSpec | None = None, value_dim: int = 1) -> None:
        if kernel is None:
            kernel = DataDependentSpec()
        if not isinstance(kernel, KernelSpec):
            raise TypeError(f"kernel={kernel!r} must be a KernelSpec")
        self.kernel = kernel
        self.value_dim = check_int("value_dim", value_dim, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kernel={self.kernel!r}, value_dim={self.value_dim})"

    # -- what is stored ------------------------------------------------------------------------

    def _check_layout(self, layout: StreamLayout) -> StreamLayout:
        if not isinstance(layout, StreamLayout):
            raise TypeError(f"layout={layout!r} must be a StreamLayout")
        if layout.passes != self.passes:
            raise ValueError(
                f"layout.passes={layout.passes} but {self.name} reads streams of passes={self.passes}"
            )
        return layout

    def layout(self, inst: SDInstance, order: Order | str) -> StreamLayout:
        """The stream layout this construction reads for ``inst`` in ``order``."""
        return inst.layout(order, self.passes)

    @abstractmethod
    def stores_first(self, layout: StreamLayout) -> bool:
        """Whether the construction stores the first set of the stream (else the second)."""

    def stored_size(self, layout: StreamLayout) -> int:
        """m: size of the set the construction writes into kv."""
        layout = self._check_layout(layout)
        return layout.first_size if self.stores_first(layout) else layout.second_size

    def query_size(self, layout: StreamLayout) -> int:
        """q: number of query tokens (the other set's size)."""
        layout = self._check_layout(layout)
        return layout.second_size if self.stores_first(layout) else layout.first_size

    def stored_set(self, inst: SDInstance, order: Order | str) -> tuple[int, ...]:
        """The elements the construction writes into kv for ``inst`` in ``order``."""
        first, second = inst.first_second(order)
        return first if self.stores_first(self.layout(inst, order)) else second

    def feature_dim(self, layout: StreamLayout) -> int:
        """f of the kernel the construction's kernel spec uses on this layout."""
        return self.kernel.dim(layout.n, self.stored_size(layout), self.query_size(layout))

    def kernel_for(self, inst: SDInstance, order: Order | str) -> IPKernel:
        """The kernel used on ``inst`` (a data-dependent spec reads the stored set's elements)."""
        layout = self.layout(inst, order)
        return self.kernel.build(inst.n, self.stored_set(inst, order), self.query_size(layout))

    def failure_bound(self, layout: StreamLayout) -> float:
        """Upper bound on P(wrong answer) for any fixed instance with this layout, over the
        kernel's randomness (0 for the data-dependent and code kernels)."""
        return self.kernel.failure_bound(layout.n, self.stored_size(layout), self.query_size(layout))

    # -- state ---------------------------------------------------------------------------------

    def state_size(self, layout: StreamLayout, f: int | None = None) -> StateSize:
        """The state held on streams of ``layout``, with the spec's f (or ``f`` if given)."""
        layout = self._check_layout(layout)
        f = self.feature_dim(layout) if f is None else f
        m, q = self.stored_size(layout), self.query_size(layout)
        tensors = {
            "kv": TensorSpec((f, self.value_dim), ceil_log2(2 * m + 1), "key-value state Σ φ(k) v^T"),
            **self._counter_specs(layout),
            "hits": TensorSpec((), ceil_log2(q + 1), "readout: number of query positions that fired"),
            "shared": TensorSpec((), ceil_log2(layout.n + 1), "readout: 1 + first firing token, 0 if none"),
        }
        return StateSize(tensors)

    @abstractmethod
    def _counter_specs(self, layout: StreamLayout) -> dict[str, TensorSpec]: ...

    def init_state(self, layout: StreamLayout, f: int) -> dict[str, np.ndarray]:
        """Zero state for streams of ``layout`` and kernel dimension ``f``."""
        return {name: np.zeros(spec.shape) for name, spec in self.state_size(layout, f).tensors.items()}

    # -- recurrent form ------------------------------------------------------------------------

    @abstractmethod
    def _prepare(self, state: State, phi: np.ndarray, tokens: np.ndarray, layout: StreamLayout) -> None:
        """Work done before the first recurrent step (the prefix encoder; nothing for causal ones)."""

    @abstractmethod
    def _step(
        self, state: State, t: int, is_sep: float, phi_t: np.ndarray, layout: StreamLayout
    ) -> tuple[float, float]:
        """Update ``state`` in place for token t; return the (write, query) gates. The base loop
        applies the kv write, the attention read, the MLP and the readout."""

    def run_tokens(self, tokens: Sequence[int] | np.ndarray, layout: StreamLayout, kernel: IPKernel) -> Trace:
        """Run the recurrent form on one stream (validated against ``layout``)."""
        layout = self._check_layout(layout)
        decode_stream(tokens, layout)
        if kernel.c != layout.n:
            raise ValueError(f"kernel.c={kernel.c} but the stream's universe is n={layout.n}")
        toks = np.asarray(tokens, dtype=np.int64)
        sep = layout.separator
        phi = _stream_features(kernel, toks, sep)  # φ is per token: no state involved
        state = self.init_state(layout, kernel.f)
        self._prepare(state, phi, toks, layout)
        ones = np.ones(self.value_dim)
        ys = np.zeros((toks.size, self.value_dim))
        writes = np.zeros(toks.size)
        queries = np.zeros(toks.size)
        for t, tok in enumerate(toks.tolist()):
            is_sep = float(tok == sep)
            w, qg = self._step(state, t, is_sep, phi[t], layout)
            state["kv"] += np.outer(phi[t], w * ones)  # kv += φ(k_t) v_t^T
            rho = state["kv"].T @ phi[t]  # [d_v]
            y = qg * _relu(rho - THRESHOLD)  # MLP: W1 = I, b1 = -θ, W2 = I
            fire = float(y[0] > FIRE_TOL)
            state["shared"] += fire * float(state["hits"] == 0) * (tok + 1)
            state["hits"] += fire
            ys[t], writes[t], queries[t] = y, w, qg
        hits, shared = int(state["hits"]), int(state["shared"])
        answer = SDAnswer(True, None) if hits == 0 else SDAnswer(False, shared - 1)
        return Trace(layout, toks, ys, writes, queries, state, answer, kernel)

    def run(self, inst: SDInstance, order: Order | str, kernel: IPKernel | None = None) -> Trace:
        """Recurrent run on ``inst``'s stream in ``order`` (kernel from the spec unless given)."""
        order = Order.parse(order)
        kernel = self.kernel_for(inst, order) if kernel is None else kernel
        return self.run_tokens(encode_stream(inst, order, self.passes), self.layout(inst, order), kernel)

    def solve(self, inst: SDInstance, order: Order | str = Order.A_FIRST) -> SDAnswer:
        """(disjoint, shared element or None) for ``inst`` read in ``order`` (recurrent form)."""
        return self.run(inst, order).answer

    # -- parallel form -------------------------------------------------------------------------

    def _check_batch(self, tokens: np.ndarray, layout: StreamLayout, kernel: IPKernel) -> np.ndarray:
        layout = self._check_layout(layout)
        toks = np.asarray(tokens)
        if toks.ndim != 2 or toks.shape[1] != layout.length:
            raise ValueError(f"tokens have shape {toks.shape}; layout needs [B, {layout.length}]")
        if toks.size and not np.issubdtype(toks.dtype, np.integer):
            raise TypeError(f"tokens must be integers, got dtype {toks.dtype}")
        toks = toks.astype(np.int64)
        if kernel.c != layout.n:
            raise ValueError(f"kernel.c={kernel.c} but the stream's universe is n={layout.n}")
        if toks.size and (toks.min() < 0 or toks.max() > layout.separator):
            raise ValueError(f"tokens must be in [0, {layout.separator}]")
        sep_mask = np.zeros(layout.length, dtype=bool)
        sep_mask[layout.separator_positions()] = True
        if not np.array_equal(toks == layout.separator, np.broadcast_to(sep_mask, toks.shape)):
            raise ValueError(
                f"separators must be exactly at positions {layout.separator_positions().tolist()}"
            )
        n1 = layout.pass_length
        for p in range(1, layout.passes):
            if not np.array_equal(toks[:, p * n1 : (p + 1) * n1], toks[:, :n1]):
                raise ValueError(f"pass {p} differs from pass 0 in some stream")
        return toks

    @abstractmethod
    def _forward(
        self, toks: np.ndarray, phi: np.ndarray, layout: StreamLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parallel form: (y [B, L, d_v], write [B, L], query [B, L])."""

    def forward(
        self, tokens: np.ndarray, layout: StreamLayout, kernel: IPKernel
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parallel form over a batch of streams with one layout: tokens [B, L] ->
        (outputs y [B, L, d_v], write gates [B, L], query gates [B, L])."""
        toks = self._check_batch(tokens, layout, kernel)
        phi = _stream_features(kernel, toks, layout.separator)
        y, w, q = self._forward(toks, phi, layout)
        return y, w, q

    def solve_batch(
        self, instances: Sequence[SDInstance], order: Order | str, kernel: IPKernel
    ) -> list[SDAnswer]:
        """Answers for instances that share one layout, with one (data-independent) kernel,
        through the parallel form."""
        if not instances:
            return []
        order = Order.parse(order)
        layout = self.layout(instances[0], order)
        bad = [i for i, inst in enumerate(instances) if self.layout(inst, order) != layout]
        if bad:
            raise ValueError(f"instances {bad[:5]} have a layout other than instance 0's {layout}")
        toks = np.stack([encode_stream(inst, order, self.passes) for inst in instances])
        y, _, _ = self.forward(toks, layout, kernel)
        return _readout(toks, y)


class CausalSD(SDConstruction):
    """Prop G.18: one causal linear-attention layer + ReLU MLP on the one-pass stream S sep T.

    Layer: Q = K = φ(token); V = w_t 1_{d_v} with the write gate w_t = ReLU(1 - sep_count_t) (1 on
    the first set, 0 from the separator on); kv_t = kv_{t-1} + φ(x_t) V_t^T; ρ_t = kv_t^T φ(x_t);
    y_t = g_t ReLU(ρ_t - 1/2) with the query gate g_t = [sep_count_t >= 1] (1 - [x_t = sep]).
    sep_count is a one-value linear-attention head with constant feature 1 and value [x_t = sep].
    Readout: the number of query positions where y fired and the first such token.

    Claim: for every instance and order, the answer is correct whenever |noise(x)| < 1/2 for the
    second set's tokens x against the FIRST set S (always for the data-dependent kernel built from
    S, f = |S| + lg c, and for the code kernel with ε <= 1/(3|S|); with probability >=
    1 - |T| exp(-f/(8|S|)) for a random sign kernel of dimension f). State: kv [f, d_v] plus
    sep_count, hits, shared: f·d_v + 3 values. The construction stores whatever comes first: in
    B-first order it stores B, so when the longer set comes first f must grow with it
    (:meth:`feature_dim`), or a fixed-f random kernel fails more often (:meth:`failure_bound`).
    Uses no position information and no set sizes.
    """

    name = "causal"
    passes = 1

    def stores_first(self, layout: StreamLayout) -> bool:
        return True

    def _counter_specs(self, layout: StreamLayout) -> dict[str, TensorSpec]:
        return {"sep_count": TensorSpec((), 1, "separators seen (0 or 1)")}

    def _prepare(self, state: State, phi: np.ndarray, tokens: np.ndarray, layout: StreamLayout) -> None:
        return None

    def _step(
        self, state: State, t: int, is_sep: float, phi_t: np.ndarray, layout: StreamLayout
    ) -> tuple[float, float]:
        state["sep_count"] += is_sep
        write = float(_relu(1.0 - state["sep_count"]))
        query = float(_ge(state["sep_count"], 1.0)) * (1.0 - is_sep)
        return write, query

    def _forward(
        self, toks: np.ndarray, phi: np.ndarray, layout: StreamLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        is_sep = (toks == layout.separator).astype(np.float64)
        sep_count = np.cumsum(is_sep, axis=1)
        write = _relu(1.0 - sep_count)
        query = _ge(sep_count, 1.0) * (1.0 - is_sep)
        v = np.repeat(write[..., None], self.value_dim, axis=2)
        rho = causal_linear_attention(phi, v)
        return query[..., None] * _relu(rho - THRESHOLD), write, query


class JRTSD(SDConstruction):
    """JRT construction (Thm G.15 / G.22 in spirit): one causal linear-attention layer + ReLU MLP
    on the JR-2 stream S sep T S sep T (one-pass length N = |S| + 1 + |T|), storing the smaller set.

    Assumed (as Thm G.15's Algorithm 3 does): the update at step t may use t and the one-pass
    length N (Def G.12's f^t is indexed by t; a prefill knows its prompt length). The set sizes
    are NOT read from the layout: |S| is the position of the first separator, latched into the
    counter ``first_len``. The position t is also kept as a counter (conservatively counted as
    state, though Def G.12 would give it for free).

    Gates (all from counters, with ReLU step functions; |S| = first_len once a separator was seen):
    small_first = [|S| <= N - 1 - |S|] (ties store S).
      * small second: write T in pass 1 (|S| < t < N), query with S in pass 2 (N <= t < N + |S|);
      * small first:  write S in pass 2 (N <= t < N + |S|), query with T in pass 2 (t > N + |S|).
    The small set is always followed by a copy of the larger one (the key idea of Thm G.15), so no
    short convolution or shift (Lemma G.20 / Prop G.21) is needed once position counters are
    available.

    Claim: for every instance and either order, the answer is correct whenever |noise(x)| < 1/2
    for the larger set's tokens x against the smaller set M (m = min(|A|, |B|), q = max): always for
    the data-dependent kernel built from M (f = m + lg c) and the code kernel, and with
    probability >= 1 - q exp(-f/(8m)) for a random sign kernel. State: kv [f, d_v] plus position
    (ceil(log2(2N+1)) bits), first_len (ceil(log2 N) bits), sep_count (2 bits), hits, shared:
    f·d_v + 5 values, f sized for min(|A|, |B|) in both orders.
    """

    name = "JRT"
    passes = 2

    def stores_first(self, layout: StreamLayout) -> bool:
        return layout.first_size <= layout.second_size

    def _counter_specs(self, layout: StreamLayout) -> dict[str, TensorSpec]:
        n1 = layout.pass_length
        return {
            "position": TensorSpec((), ceil_log2(layout.length + 1), "tokens read so far (t)"),
            "sep_count": TensorSpec((), ceil_log2(layout.passes + 1), "separators seen"),
            "first_len": TensorSpec((), ceil_log2(n1), "position of the first separator = |S|"),
        }

    def _prepare(self, state: State, phi: np.ndarray, tokens: np.ndarray, layout: StreamLayout) -> None:
        return None

    @staticmethod
    def _gates(t: Num, seen: Num, first_len: Num, n1: float) -> tuple[np.ndarray, np.ndarray]:
        small_first = _ge(n1 - 1 - first_len, first_len)
        small_second = 1.0 - small_first
        pass1_after_sep = _ge(t, first_len + 1) * _ge(n1 - 1, t)
        pass2_first_set = _ge(t, n1) * _ge(n1 + first_len - 1, t)
        pass2_after_sep = _ge(t, n1 + first_len + 1)
        write = seen * (small_second * pass1_after_sep + small_first * pass2_first_set)
        query = seen * (small_second * pass2_first_set + small_first * pass2_after_sep)
        return write, query

    def _step(
        self, state: State, t: int, is_sep: float, phi_t: np.ndarray, layout: StreamLayout
    ) -> tuple[float, float]:
        t_now = float(state["position"])
        state["first_len"] += t_now * is_sep * (1.0 - _ge(state["sep_count"], 1.0))
        state["sep_count"] += is_sep
        seen = _ge(state["sep_count"], 1.0)
        write, query = self._gates(t_now, seen, state["first_len"], float(layout.pass_length))
        state["position"] += 1.0
        return float(write), float(query)

    def _forward(
        self, toks: np.ndarray, phi: np.ndarray, layout: StreamLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        is_sep = (toks == layout.separator).astype(np.float64)
        t = np.arange(toks.shape[1], dtype=np.float64)[None, :]
        sep_count = np.cumsum(is_sep, axis=1)
        before = sep_count - is_sep
        first_len = np.cumsum(t * is_sep * (1.0 - _ge(before, 1.0)), axis=1)
        write, query = self._gates(t, _ge(sep_count, 1.0), first_len, float(layout.pass_length))
        v = np.repeat(write[..., None], self.value_dim, axis=2)
        rho = causal_linear_attention(phi, v)
        return query[..., None] * _relu(rho - THRESHOLD), write, query


class PrefixSD(SDConstruction):
    """Prefix (non-causal) construction; not in the paper. One prefix-linear-attention layer
    (JRT-RNN Eq. 3) whose prefix is the whole one-pass prompt S sep T (prefix length N), + ReLU MLP.

    Encoder (non-causal: every token sees the whole prompt, as in PLA's prefill): before_t =
    [no separator at or before t], after_t = [separator before t]; n_first = Σ_t before_t and
    n_second = Σ_t after_t (sums, not cumsums); small_first = [n_first <= n_second]; encoder
    values v_e,t = before_t small_first + after_t (1 - small_first) (i.e. 1 exactly on the smaller
    set, S on ties); kv = Σ_t φ(x_t) v_e,t^T, the encoder's KV state. Decoder (causal, over the same
    prompt, as PLA's decoder re-reads the prefix): decoder values v_d = 0, so kv stays the encoder
    state (PLA adds both into one state, Eq. 4); query gate g_t = after_t small_first + before_t
    (1 - small_first); y_t = g_t ReLU(kv^T φ(x_t) - 1/2); the readout as in :class:`CausalSD`.

    Claim: for every instance and either order, the answer is correct whenever |noise(x)| < 1/2
    for the larger set's tokens x against the smaller set M (m = min(|A|, |B|), q = max): always
    for the data-dependent kernel built from M (f = m + lg c) and the code kernel; with
    probability >= 1 - q exp(-f/(8m)) for a random sign kernel. The state carried from the
    prefill into decoding (and held during the decoder scan) is kv [f, d_v] with f sized for
    min(|A|, |B|), plus n_first, n_second (ceil(log2 N) bits each), sep_count, hits, shared:
    f·d_v + 5 values. The encoder's per-token activations (before/after) exist only during the
    non-causal prefill, as in any PLA prefill; a non-causal layer is not a recurrent model in the
    sense of Def G.12 (Remark G.13), and reading the prompt through encoder and decoder is a
    two-pass read, so Prop G.29's Ω(min(|A|, |B|)/2) bits applies and this state is of that order
    (times the log c bits per element). In a :class:`Trace` the write gate is 0 everywhere: the
    encoder's writes happen before the recurrent (decoder) scan.
    """

    name = "prefix"
    passes = 1

    def stores_first(self, layout: StreamLayout) -> bool:
        return layout.first_size <= layout.second_size

    def _counter_specs(self, layout: StreamLayout) -> dict[str, TensorSpec]:
        n1 = layout.pass_length
        return {
            "n_first": TensorSpec((), ceil_log2(n1), "encoder: size of the first set"),
            "n_second": TensorSpec((), ceil_log2(n1), "encoder: size of the second set"),
            "sep_count": TensorSpec((), 1, "decoder: separators seen (0 or 1)"),
        }

    def _encode(
        self, toks: np.ndarray, phi: np.ndarray, sep: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Non-causal encoder on [B, L]: (kv [B, f, d_v], n_first [B], n_second [B], small_first [B],
        before [B, L], after [B, L])."""
        is_sep = (toks == sep).astype(np.float64)
        sep_count = np.cumsum(is_sep, axis=1)
        before = _relu(1.0 - sep_count)
        after = sep_count - is_sep
        n_first, n_second = before.sum(axis=1), after.sum(axis=1)
        small_first = _ge(n_second, n_first)
        v_e = before * small_first[:, None] + after * (1.0 - small_first[:, None])
        kv = np.einsum("blf,bl->bf", phi, v_e)[..., None] * np.ones(self.value_dim)
        return kv, n_first, n_second, small_first, before, after

    def _prepare(self, state: State, phi: np.ndarray, tokens: np.ndarray, layout: StreamLayout) -> None:
        kv, n_first, n_second, _, _, _ = self._encode(tokens[None], phi[None], layout.separator)
        state["kv"] += kv[0]
        state["n_first"] += n_first[0]
        state["n_second"] += n_second[0]

    def _step(
        self, state: State, t: int, is_sep: float, phi_t: np.ndarray, layout: StreamLayout
    ) -> tuple[float, float]:
        state["sep_count"] += is_sep
        before = _relu(1.0 - state["sep_count"])
        after = state["sep_count"] - is_sep
        small_first = _ge(state["n_second"], state["n_first"])
        query = after * small_first + before * (1.0 - small_first)
        return 0.0, float(query)  # decoder values v_d = 0: kv is the encoder's state

    def _forward(
        self, toks: np.ndarray, phi: np.ndarray, layout: StreamLayout
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kv, _, _, small_first, before, after = self._encode(toks, phi, layout.separator)
        rho = phi @ kv  # non-causal: every position reads the whole encoder state
        query = after * small_first[:, None] + before * (1.0 - small_first[:, None])
        write = np.zeros_like(query)
        return query[..., None] * _relu(rho - THRESHOLD), write, query


# ---------------------------------------------------------------------------------------------
# measuring the f a construction needs with a random kernel


@dataclass(frozen=True)
class AccuracyEstimate:
    """Accuracy of a construction with a random sign kernel of dimension f on random instances."""

    construction: str
    order: str
    n: int
    a_size: int
    b_size: int
    f: int
    trials: int
    correct: int
    failure_bound: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.trials

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


class AccuracyProbe:
    """Fixed random instances and kernel seeds, evaluated at any f (common random numbers).

    ``trials`` instances with |A| = ``a_size``, |B| = ``b_size`` over [n], alternately
    intersecting and disjoint, all drawn from ``numpy.random.default_rng(seed)``; the trials are
    split over ``kernels`` independent :class:`RandomSignKernel` draws. Since random sign kernels of
    one seed are nested in f, the estimates at different f share their randomness.
    """

    def __init__(
        self,
        construction: SDConstruction,
        n: int,
        a_size: int,
        b_size: int,
        order: Order | str,
        trials: int,
        seed: int,
        kernels: int = 4,
        batch: int = 64,
    ) -> None:
        if trials < 1 or kernels < 1 or batch < 1:
            raise ValueError(f"trials={trials}, kernels={kernels}, batch={batch} must all be >= 1")
        if kernels > trials:
            raise ValueError(f"kernels={kernels} must be <= trials={trials}")
        if a_size < 1 or b_size < 1:
            raise ValueError(f"a_size={a_size}, b_size={b_size} must be >= 1 (intersecting trials)")
        self.construction = construction
        self.order = Order.parse(order)
        self.n, self.a_size, self.b_size = n, a_size, b_size
        rng = np.random.default_rng(seed)
        self.instances = [
            SDInstance.random(n, a_size, b_size, rng, intersecting=(i % 2 == 0)) for i in range(trials)
        ]
        self.kernel_seeds = [int(s) for s in rng.integers(0, 2**63 - 1, size=kernels)]
        self.layout = construction.layout(self.instances[0], self.order)
        self.tokens = np.stack(
            [encode_stream(inst, self.order, construction.passes) for inst in self.instances]
        )
        self.batch = batch

    def estimate(self, f: int) -> AccuracyEstimate:
        """Accuracy at feature dimension ``f`` (value_dim as in the construction)."""
        trials = len(self.instances)
        groups = np.array_split(np.arange(trials), len(self.kernel_seeds))
        correct = 0
        for seed, idx in zip(self.kernel_seeds, groups, strict=True):
            kernel = RandomSignKernel(self.n, f, seed)
            for s in range(0, idx.size, self.batch):
                sl = idx[s : s + self.batch]
                y, _, _ = self.construction.forward(self.tokens[sl], self.layout, kernel)
                for i, ans in zip(sl, _readout(self.tokens[sl], y), strict=True):
                    correct += is_correct(ans, self.instances[i])
        c = self.construction
        return AccuracyEstimate(
            construction=c.name,
            order=self.order.value,
            n=self.n,
            a_size=self.a_size,
            b_size=self.b_size,
            f=f,
            trials=trials,
            correct=int(correct),
            failure_bound=random_failure_bound(f, c.stored_size(self.layout), c.query_size(self.layout)),
        )


def needed_feature_dim(
    probe: AccuracyProbe, target: float = 0.99, f_max: int = 1 << 20, rel_tol: float = 0.02
) -> AccuracyEstimate:
    """Smallest f (to ``rel_tol``) at which ``probe`` reaches accuracy >= ``target``.

    Doubles f from 1 until the target is met, then bisects between the last failing and the first
    passing f until they are within ``rel_tol`` · f (or adjacent); returns the estimate at the
    passing end. Assumes accuracy is nondecreasing in f, true in expectation; with the probe's
    common random numbers violations are rare and only move the answer within the bracket.
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target={target} must be in (0, 1]")
    f = 1
    est = probe.estimate(f)
    if est.accuracy >= target:
        return est
    lo = 1
    while True:
        hi = min(2 * lo, f_max)
        est_hi = probe.estimate(hi)
        if est_hi.accuracy >= target:
            break
        if hi == f_max:
            raise ValueError(f"accuracy {est_hi.accuracy:.4f} < target {target} even at f_max={f_max}")
        lo = hi
    while hi - lo > max(1, rel_tol * hi):
        mid = (lo + hi) // 2
        est_mid = probe.estimate(mid)
        if est_mid.accuracy >= target:
            hi, est_hi = mid, est_mid
        else:
            lo = mid
    return est_hi
