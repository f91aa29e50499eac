"""Inner-product (IP) kernels φ: [c] -> R^f for the linear-attention SD constructions (Def G.17).

A construction stores a set M as Σ_{a ∈ M} φ(a) and tests a query x by ρ = ⟨φ(x), Σ_a φ(a)⟩;
ε = 1/(3|M|) separates x ∈ M from x ∉ M. Three kernels: :class:`DataDependentKernel` (Eq. 19,
exact against M, built from M), :class:`RandomSignKernel` (Eq. 20, data-independent, with a
failure probability: :func:`random_kernel_dim`, :func:`random_kernel_dim_uniform`) and
:class:`CodeKernel` (Reed–Solomon ∘ Hadamard, deterministic, guaranteed ε:
:func:`code_kernel_params`). :class:`KernelSpec` subclasses size a kernel for a layout.
Dimension formulas and their proofs: docs/theory/ip-kernels.md; symbols: docs/theory/glossary.md.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sdtheory.combinatorics.integers import ceil_log2, check_int

__all__ = [
    "THRESHOLD",
    "CodeKernel",
    "CodeParams",
    "CodeSpec",
    "DataDependentKernel",
    "DataDependentSpec",
    "IPKernel",
    "KernelReport",
    "KernelSpec",
    "RandomSignKernel",
    "RandomSignSpec",
    "code_bits",
    "code_kernel_params",
    "random_failure_bound",
    "random_kernel_dim",
    "random_kernel_dim_uniform",
    "uniform_failure_bound",
]

#: Decision threshold θ of the constructions' ReLU MLP, ReLU(ρ - θ). The paper uses θ = 1/3
#: with ε = 1/(3m), which puts a non-matching query's worst case ρ = 1/3 exactly on the threshold;
#: θ = 1/2 is the midpoint of the gap [1/3, 2/3] and leaves a 1/6 margin on both sides.
THRESHOLD = 0.5


def _check_prob(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"{name}={value!r} must be a number in (0, 1)")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name}={value} must be in (0, 1)")
    return float(value)


def code_bits(c: int) -> int:
    """Bits of the binary code block of :class:`DataDependentKernel`: max(1, ceil(log2 c))."""
    c = check_int("c", c, 1)
    return max(1, ceil_log2(c))


# ---------------------------------------------------------------------------------------------
# dimension formulas and failure bounds for the random kernel


def random_failure_bound(f: int, stored: int, queries: int) -> float:
    """Upper bound on P(wrong answer) for ONE fixed instance, over the draw of a random sign
    kernel of dimension ``f``, when ``stored`` elements are in the state and ``queries`` tokens
    are tested against it with threshold 1/2: min(1, queries · exp(-f / (8 · stored))).

    0 if nothing is stored or nothing is queried (every ρ is then exactly 0 or the readout sees
    no query).
    """
    f = check_int("f", f, 1)
    stored = check_int("stored", stored, 0)
    queries = check_int("queries", queries, 0)
    if stored == 0 or queries == 0:
        return 0.0
    return min(1.0, queries * math.exp(-f / (8 * stored)))


def random_kernel_dim(stored: int, queries: int, delta: float) -> int:
    """Smallest f with :func:`random_failure_bound` <= ``delta``: ceil(8 m ln(q / δ)), at least 1."""
    stored = check_int("stored", stored, 0)
    queries = check_int("queries", queries, 0)
    delta = _check_prob("delta", delta)
    if stored == 0 or queries == 0 or queries <= delta:
        return 1
    return max(1, math.ceil(8 * stored * math.log(queries / delta)))


def uniform_failure_bound(f: int, stored: int, c: int) -> float:
    """Upper bound on P(a random sign kernel of dimension ``f`` on [c] is NOT an ε = 1/(3m)
    IP kernel), m = ``stored``: min(1, c(c-1) · exp(-f ε² / 2)) (Hoeffding, two-sided, union over
    the c(c-1)/2 unordered pairs). If it is one, every instance whose stored set has <= m elements
    is solved. 0 when m = 0 or c = 1 (no pair to fail)."""
    f = check_int("f", f, 1)
    stored = check_int("stored", stored, 0)
    c = check_int("c", c, 1)
    if stored == 0 or c == 1:
        return 0.0
    eps = 1.0 / (3 * stored)
    return min(1.0, c * (c - 1) * math.exp(-f * eps * eps / 2))


def random_kernel_dim_uniform(stored: int, c: int, delta: float) -> int:
    """The paper's f (Eq. 20 + union bound) for ε = 1/(3m) on the whole universe with probability
    >= 1 - δ: ceil(18 m² ln(c(c-1)/δ)), at least 1. Θ(m² log c)."""
    stored = check_int("stored", stored, 0)
    c = check_int("c", c, 1)
    delta = _check_prob("delta", delta)
    if stored == 0 or c == 1:
        return 1
    return max(1, math.ceil(18 * stored * stored * math.log(c * (c - 1) / delta)))


# ---------------------------------------------------------------------------------------------
# kernels


@dataclass(frozen=True)
class KernelReport:
    """f and the achieved ε of a kernel.

    ``epsilon`` = max |⟨φ(x), φ(y)⟩| over x ∈ [c], y ∈ ``against`` (the universe if None), x != y;
    ``norm_error`` = max |⟨φ(x), φ(x)⟩ - 1| over x ∈ [c]. ``against_size`` is None for the universe.
    """

    name: str
    c: int
    f: int
    epsilon: float
    norm_error: float
    against_size: int | None


class IPKernel(ABC):
    """A feature map φ: [c] -> R^f, evaluated on token arrays."""

    name: str = "kernel"

    def __init__(self, c: int, f: int) -> None:
        self.c = check_int("c", c, 1)
        self.f = check_int("f", f, 1)

    def _tokens(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(tokens)
        if arr.ndim != 1:
            raise ValueError(f"tokens must be a 1-D array, got shape {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"tokens must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        bad = np.flatnonzero((arr < 0) | (arr >= self.c))
        if bad.size:
            raise ValueError(
                f"token {int(arr[bad[0]])} at index {int(bad[0])} is outside the kernel's universe "
                f"[0, {self.c - 1}] (c={self.c})"
            )
        return arr

    def features(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """φ of each token: float64 array of shape [L, f] for ``tokens`` of shape [L] in [0, c)."""
        return self._features(self._tokens(tokens))

    @abstractmethod
    def _features(self, tokens: np.ndarray) -> np.ndarray: ...

    def gram(self, x: Sequence[int] | np.ndarray, y: Sequence[int] | np.ndarray) -> np.ndarray:
        """⟨φ(x_i), φ(y_j)⟩: float64 array of shape [len(x), len(y)]."""
        return self.features(x) @ self.features(y).T

    def report(self, against: Sequence[int] | None = None, block: int = 512) -> KernelReport:
        """Achieved ε (and norm error) on the universe, or against the set ``against`` only.

        Computed exactly from the features in blocks of ``block`` rows (cost c · |against| · f).
        """
        block = check_int("block", block, 1)
        ys = np.arange(self.c) if against is None else self._tokens(np.asarray(list(against), np.int64))
        fy = self._features(ys)
        eps = 0.0
        norm_err = 0.0
        for start in range(0, self.c, block):
            xs = np.arange(start, min(self.c, start + block))
            fx = self._features(xs)
            g = fx @ fy.T
            same = xs[:, None] == ys[None, :]
            off = np.abs(np.where(same, 0.0, g))
            if off.size:
                eps = max(eps, float(off.max()))
            norm_err = max(norm_err, float(np.max(np.abs(np.einsum("tf,tf->t", fx, fx) - 1.0))))
        return KernelReport(self.name, self.c, self.f, eps, norm_err, None if against is None else len(ys))


class DataDependentKernel(IPKernel):
    """Paper Eq. 19: f = |M| + code_bits(c); exact (ε = 0) against the stored set M.

    a = M[i] -> e_i; x ∉ M -> [0^{|M|}, (2·bits(x) - 1)/sqrt(β)] with bits(x) the β-bit binary
    representation of x. ⟨φ(a), φ(y)⟩ = [a = y] for a ∈ M and every y ∈ [c]; all norms are 1.
    """

    name = "data-dependent"

    def __init__(self, c: int, stored: Sequence[int]) -> None:
        c = check_int("c", c, 1)
        stored_t = tuple(int(a) for a in stored)
        bad = [a for a in stored_t if not 0 <= a < c]
        if bad:
            raise ValueError(f"stored elements {bad} are outside the universe [0, {c - 1}] (c={c})")
        if len(set(stored_t)) != len(stored_t):
            raise ValueError(f"stored={stored_t} has duplicates; a set lists each element once")
        self.stored = stored_t
        self.bits = code_bits(c)
        super().__init__(c, len(stored_t) + self.bits)
        self._index = np.full(c, -1, dtype=np.int64)
        self._index[list(stored_t)] = np.arange(len(stored_t), dtype=np.int64)

    def _features(self, tokens: np.ndarray) -> np.ndarray:
        out = np.zeros((tokens.size, self.f))
        idx = self._index[tokens]
        inside = idx >= 0
        out[np.flatnonzero(inside), idx[inside]] = 1.0
        outside = np.flatnonzero(~inside)
        shifts = np.arange(self.bits, dtype=np.int64)
        bitmat = (tokens[outside, None] >> shifts[None, :]) & 1
        out[outside[:, None], len(self.stored) + shifts[None, :]] = (2.0 * bitmat - 1.0) / math.sqrt(
            self.bits
        )
        return out


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_WORD_BITS = 24  # counter = (token << 24) | word: f < 64 · 2^24 and c < 2^40


def _splitmix64(state: np.ndarray) -> np.ndarray:
    """SplitMix64 output function on a uint64 array (wrapping arithmetic)."""
    z = state.copy()
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


class RandomSignKernel(IPKernel):
    """Paper Eq. 20: φ(x) uniform in (1/sqrt f){-1, 1}^f, independently over x.

    The signs are a counter-based pseudo-random function of (seed, x, i) (SplitMix64 over the
    counter (x << 24) | word, 64 signs per word), so φ is a fixed function of ``seed`` that can be
    evaluated on any tokens without materialising the [c, f] table, and kernels of different f
    with one seed are nested: φ_f(x) is sqrt(f'/f) times the first f signs of φ_{f'}(x) (common
    random numbers when f is searched). Draw ``seed`` from a seeded ``numpy.random.Generator``.
    The failure bounds treat the signs as independent fair coins; a pseudo-random function only
    approximates that (tests check the mean, variance and tails of ⟨φ(x), φ(y)⟩ on 20,000 pairs).
    """

    name = "random-sign"

    def __init__(self, c: int, f: int, seed: int) -> None:
        super().__init__(c, f)
        if c >= 1 << 40:
            raise ValueError(f"c={c} must be < 2**40 for the counter layout")
        if f >= 64 << _WORD_BITS:
            raise ValueError(f"f={f} must be < {64 << _WORD_BITS}")
        self.seed = check_int("seed", seed, 0)
        self._key = _splitmix64(np.array([self.seed % (1 << 64)], dtype=np.uint64))[0]

    def signs(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """The ±1 signs sqrt(f)·φ(token): int8 array of shape [L, f]."""
        return self._signs(self._tokens(tokens))

    def _signs(self, tokens: np.ndarray) -> np.ndarray:
        words = -(-self.f // 64)
        counter = (tokens.astype(np.uint64)[:, None] << np.uint64(_WORD_BITS)) | np.arange(
            words, dtype=np.uint64
        )[None, :]
        z = _splitmix64(counter * _GOLDEN + self._key)
        bits = np.unpackbits(z.astype("<u8").view(np.uint8), axis=1, bitorder="little")[:, : self.f]
        return (1 - 2 * bits.astype(np.int8)).astype(np.int8)

    def _features(self, tokens: np.ndarray) -> np.ndarray:
        return self._signs(tokens).astype(np.float64) / math.sqrt(self.f)


@dataclass(frozen=True)
class CodeParams:
    """Parameters of the concatenated code RS(GF(p), length ν, message length κ) ∘ Hadamard(2^r).

    ``p`` is prime when κ >= 2 (for κ = 1 the symbol is the element itself and p = c). f = ν·2^r;
    guaranteed ε = (κ - 1)/ν; relative distance of the binary code >= (1 - ε)/2.
    """

    c: int
    p: int
    k: int
    q: int
    r: int

    @property
    def f(self) -> int:
        return self.q * (1 << self.r)

    @property
    def epsilon(self) -> float:
        return (self.k - 1) / self.q

    @property
    def relative_distance(self) -> float:
        """Lower bound on the binary code's minimum relative Hamming distance."""
        return (1.0 - self.epsilon) / 2.0


def _primes_below(limit: int) -> list[int]:
    if limit < 3:
        return []
    sieve = np.ones(limit, dtype=bool)
    sieve[:2] = False
    for i in range(2, math.isqrt(limit - 1) + 1):
        if sieve[i]:
            sieve[i * i :: i] = False
    return np.flatnonzero(sieve).tolist()


def code_kernel_params(c: int, epsilon: float) -> CodeParams:
    """The smallest-f :class:`CodeParams` on [c] with guaranteed ε = (κ-1)/ν <= ``epsilon``.

    Searches every prime p < c (κ = ceil(log_p c) >= 2, ν = ceil((κ-1)/ε) <= p) and the κ = 1 code
    (Hadamard rows of the elements themselves: ε = 0, f = 2^ceil(log2 c)).
    """
    c = check_int("c", c, 1)
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float | np.floating):
        raise TypeError(f"epsilon={epsilon!r} must be a number in [0, 1)")
    if not 0.0 <= float(epsilon) < 1.0:
        raise ValueError(f"epsilon={epsilon} must be in [0, 1)")
    best = CodeParams(c=c, p=c, k=1, q=1, r=ceil_log2(c))
    if epsilon == 0:
        return best
    for p in _primes_below(c):
        k = 1
        while p**k < c:
            k += 1
        q = math.ceil((k - 1) / epsilon - 1e-12)
        if q > p:
            continue
        cand = CodeParams(c=c, p=p, k=k, q=q, r=ceil_log2(p))
        if cand.f < best.f:
            best = cand
    return best


class CodeKernel(IPKernel):
    """Deterministic kernel from the concatenated code RS(GF(p)) ∘ Hadamard (see :class:`CodeParams`).

    x has base-p digits d_0..d_{κ-1} (the RS message); symbol j is d(j) = Σ_i d_i j^i mod p for
    j < ν; symbol s becomes Hadamard row s: ((-1)^{popcount(s & i)})_{i < 2^r}. φ(x) is the
    concatenation over j, times 1/sqrt(f). ⟨φ(x), φ(y)⟩ = #{j: d_x(j) = d_y(j)}/ν <= (κ-1)/ν.
    """

    name = "code"

    def __init__(self, params: CodeParams) -> None:
        super().__init__(params.c, params.f)
        self.params = params

    @classmethod
    def for_epsilon(cls, c: int, epsilon: float) -> CodeKernel:
        return cls(code_kernel_params(c, epsilon))

    def symbols(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """RS symbols of each token: int64 array of shape [L, ν] with values in [0, p)."""
        return self._symbols(self._tokens(tokens))

    def _symbols(self, tokens: np.ndarray) -> np.ndarray:
        pr = self.params
        if pr.k == 1:
            return tokens[:, None].copy()
        digits = np.stack([(tokens // pr.p**i) % pr.p for i in range(pr.k)], axis=1)  # [L, κ]
        points = np.arange(pr.q, dtype=np.int64)
        out = np.zeros((tokens.size, pr.q), dtype=np.int64)
        for i in range(pr.k - 1, -1, -1):  # Horner, all values < p^2 < 2^63
            out = (out * points[None, :] + digits[:, i : i + 1]) % pr.p
        return out

    @cached_property
    def _columns(self) -> np.ndarray:
        return np.arange(1 << self.params.r, dtype=np.int64)

    @cached_property
    def _parity(self) -> np.ndarray:
        """popcount(i) mod 2 for i < 2^r (np.bitwise_count needs numpy >= 2; pyproject allows 1.26)."""
        cols = self._columns
        parity = np.zeros(cols.size, dtype=np.int64)
        for bit in range(self.params.r):
            parity ^= (cols >> bit) & 1
        return parity

    def _features(self, tokens: np.ndarray) -> np.ndarray:
        sym = self._symbols(tokens)  # [L, ν]
        parity = self._parity[sym[:, :, None] & self._columns[None, None, :]]
        rows = 1.0 - 2.0 * parity  # [L, ν, 2^r]
        return rows.reshape(tokens.size, self.f) / math.sqrt(self.f)


# ---------------------------------------------------------------------------------------------
# kernel specs: how a construction obtains its kernel for an instance


class KernelSpec(ABC):
    """How a construction gets its kernel: from the universe size, the set it will store (only a
    data-dependent spec looks at its elements; the others use its size) and the number of queries.
    """

    name: str = "spec"
    #: whether the kernel is built from the elements of the set to store
    data_dependent: bool = False

    @abstractmethod
    def dim(self, c: int, stored: int, queries: int) -> int:
        """Feature dimension f used for a stored set of size ``stored`` and ``queries`` queries."""

    @abstractmethod
    def build(self, c: int, stored: Sequence[int], queries: int) -> IPKernel:
        """The kernel for this instance (``stored`` = the elements the construction stores)."""

    def failure_bound(self, c: int, stored: int, queries: int) -> float:
        """Upper bound on P(wrong answer) on one fixed instance; 0 for guaranteed kernels."""
        return 0.0


@dataclass(frozen=True)
class DataDependentSpec(KernelSpec):
    """Paper Eq. 19 kernel, built from the elements of the stored set. Never fails."""

    name = "data-dependent"
    data_dependent = True

    def dim(self, c: int, stored: int, queries: int) -> int:
        return check_int("stored", stored, 0) + code_bits(c)

    def build(self, c: int, stored: Sequence[int], queries: int) -> IPKernel:
        return DataDependentKernel(c, stored)


@dataclass(frozen=True)
class RandomSignSpec(KernelSpec):
    """Paper Eq. 20 kernel with a fixed ``seed``.

    f is ``f`` if given, else from a formula for failure probability ``delta``:
    ``rule="instance"`` -> :func:`random_kernel_dim` (Θ(m log q), every fixed instance is solved with
    probability >= 1 - δ); ``rule="uniform"`` -> :func:`random_kernel_dim_uniform` (the paper's
    Θ(m² log c); one draw solves every instance with probability >= 1 - δ).
    """

    seed: int = 0
    f: int | None = None
    delta: float = 0.01
    rule: str = "instance"

    name = "random-sign"

    def __post_init__(self) -> None:
        check_int("seed", self.seed, 0)
        if self.f is not None:
            check_int("f", self.f, 1)
        _check_prob("delta", self.delta)
        if self.rule not in ("instance", "uniform"):
            raise ValueError(f"rule={self.rule!r} is not a dimension rule; allowed: 'instance', 'uniform'")

    def dim(self, c: int, stored: int, queries: int) -> int:
        if self.f is not None:
            return self.f
        if self.rule == "instance":
            return random_kernel_dim(stored, queries, self.delta)
        return random_kernel_dim_uniform(stored, c, self.delta)

    def build(self, c: int, stored: Sequence[int], queries: int) -> IPKernel:
        return RandomSignKernel(c, self.dim(c, len(stored), queries), self.seed)

    def failure_bound(self, c: int, stored: int, queries: int) -> float:
        return random_failure_bound(self.dim(c, stored, queries), stored, queries)


@dataclass(frozen=True)
class CodeSpec(KernelSpec):
    """:class:`CodeKernel` with guaranteed ε <= 1/(3m) for a stored set of size m (ε = 0 if m <= 1
    would waste dimension, so m = 0 and m = 1 use ε = 1/3). Never fails."""

    name = "code"

    @staticmethod
    def _epsilon(stored: int) -> float:
        return 1.0 / (3 * max(1, stored))

    def dim(self, c: int, stored: int, queries: int) -> int:
        return code_kernel_params(c, self._epsilon(check_int("stored", stored, 0))).f

    def build(self, c: int, stored: Sequence[int], queries: int) -> IPKernel:
        return CodeKernel.for_epsilon(c, self._epsilon(len(stored)))
