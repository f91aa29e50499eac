"""The short-sequence path: normalised Taylor attention through the fused kernels of
:mod:`synthetic.kernels.short.kernels` (forward and backward, fp32 / fp16 / bf16), and the rule
that decides when the public ops take it.

Its torch reference is :func:`synthetic.kernels.based.kernel_matrix.kernel_attention`, the same
formula through materialised [T, T] matrices. It returns outputs only (no recurrent state), so
the ops take it for calls without state in or out (``need_state=False``, no initial state: the
layers' training and evaluation calls) on CUDA tensors whose length is under the crossover with the
chunked engine (:func:`takes_short_path`). The crossover has two tables: one for calls autograd
records (forward + backward, training) and one for calls it does not (the forward alone: the
evaluation and the analysis of a trained model, which read test slices of up to 1,574 tokens).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import triton

from synthetic.kernels.dispatch import check_grid_rows
from synthetic.kernels.engine import autotune
from synthetic.kernels.short.kernels import short_bwd_dkv_kernel, short_bwd_dq_kernel, short_fwd_kernel

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_FEATURE_DIM = 64
MAX_HEAD_DIM = 128

# Longest sequence (queries; for prefix linear attention also encoder keys) for which the short
# path replaces the chunked engine, by feature dim F (the largest key <= F applies), for calls that
# autograd records. Provisional until bench/short_attention.py has measured the crossover on a GPU
# (bench/NOTES-training.md).
CROSSOVER_T: dict[int, int] = {1: 1024}
# The same for calls without autograd (the forward alone). Provisional, the training table's value,
# until `bench/short_attention.py --forward` has measured it; READTWICE_FORWARD_CROSSOVER overrides
# entries (FORWARD_CROSSOVER_ENV; `bench/gpu_session.sh` sets it from the bench it ran in the call).
FORWARD_CROSSOVER_T: dict[int, int] = {1: 1024}
FORWARD_CROSSOVER_ENV = "READTWICE_FORWARD_CROSSOVER"


def format_crossover(table: dict[int, int]) -> str:
    """``"F:T,F:T"`` in increasing F: the text :func:`parse_crossover` reads back."""
    return ",".join(f"{f}:{t}" for f, t in sorted(table.items()))


def parse_crossover(text: str, name: str = FORWARD_CROSSOVER_ENV) -> dict[int, int]:
    """The table in ``text`` = ``"F:T,F:T,..."`` (feature dim F >= 1, longest T >= 0 that takes the
    short path; T = 0: never; spaces allowed, each F once). ValueError naming ``name``, the value and
    the form for anything else."""
    table: dict[int, int] = {}
    for item in text.split(","):
        f_text, sep, t_text = item.partition(":")
        try:
            f, t = int(f_text), int(t_text)
        except ValueError:
            f = t = -1
        if not sep or f < 1 or t < 0 or f in table:
            raise ValueError(
                f"{name}={text!r}: each comma-separated item must be F:T with F >= 1 (a feature dim, "
                f"each once) and T >= 0 (the longest sequence that takes the short path), e.g. 4:512,16:2048"
            )
        table[f] = t
    return table


def forward_crossover_table() -> dict[int, int]:
    """FORWARD_CROSSOVER_T with the entries of READTWICE_FORWARD_CROSSOVER (if set and not blank)
    put over it."""
    text = os.environ.get(FORWARD_CROSSOVER_ENV, "").strip()
    return {**FORWARD_CROSSOVER_T, **(parse_crossover(text) if text else {})}


def crossover(f: int, *, records_grad: bool = True) -> int:
    """The longest T that takes the short path at feature dim ``f``: CROSSOVER_T for calls that
    autograd records, :func:`forward_crossover_table` for the others."""
    table = CROSSOVER_T if records_grad else forward_crossover_table()
    return table[max(key for key in table if key <= f)]


def records_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd records a call on ``tensors``: grad mode is on and one of them requires
    grad (None entries skipped)."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)


def short_path_mode() -> str:
    """READTWICE_SHORT_PATH: ``auto`` (default; the crossover decides), ``always`` or ``never``."""
    mode = os.environ.get("READTWICE_SHORT_PATH", "auto")
    if mode not in ("auto", "always", "never"):
        raise ValueError(f"READTWICE_SHORT_PATH={mode!r}; allowed: auto, always, never")
    return mode


def takes_short_path(
    t: int, f: int, d: int, *, need_state: bool, has_initial_state: bool, with_grad: bool
) -> bool:
    """Whether a Triton-path call of T tokens (and encoder keys), feature dim F and value head
    dim D goes through the short path: only without state in or out, within the kernel's F and D
    limits, and for T up to the crossover of calls with or without autograd (``with_grad``, see
    :func:`records_grad`), or as READTWICE_SHORT_PATH forces."""
    if need_state or has_initial_state or f > MAX_FEATURE_DIM or d > MAX_HEAD_DIM:
        return False
    mode = short_path_mode()
    return mode == "always" or (mode == "auto" and t <= crossover(f, records_grad=with_grad))


def _padded(n: int) -> int:
    """The power of two >= max(n, 16) a kernel tile pads a dimension to (tl.dot needs >= 16)."""
    return max(16, triton.next_power_of_2(n))


def _blocks(t: int) -> dict[str, int]:
    """Tile rows (BM queries, BN keys) and warps for sequences of length ``t``."""
    block = min(64, _padded(t))
    return dict(BM=block, BN=block, num_warps=4 if block >= 64 else 2)


class _Call:
    """The sizes and compile-time constants of one call (q [B, T, H, F], v [B, T, H, D]; an
    encoder k, v [B, TE, H, *] with optional lengths [B])."""

    def __init__(
        self, q: torch.Tensor, v: torch.Tensor, te: int, has_own: bool, has_enc: bool, has_lens: bool
    ):
        self.b, self.t, self.h, self.f = q.shape
        check_grid_rows(self.b, self.h, "the short path")
        self.d = v.shape[-1]
        self.te = te
        self.scale = self.f**-0.5
        blocks = _blocks(max(self.t, te))
        self.warps = blocks.pop("num_warps")
        self.const = dict(
            F=self.f, D=self.d, FP=_padded(self.f), DP=_padded(self.d), **blocks,
            PRECISION=autotune.dot_precision(q.dtype),
        )  # fmt: skip
        self.flags = dict(HAS_OWN=has_own, HAS_ENC=has_enc, HAS_LENS=has_lens)

    def grid(self, n: int, block: str) -> tuple[int, int]:
        return (triton.cdiv(n, self.const[block]), self.b * self.h)


class _ShortAttention(torch.autograd.Function):
    """Call through :func:`short_attention` (inputs validated and contiguous)."""

    @staticmethod
    def forward(
        ctx: Any,
        q: torch.Tensor,
        k: torch.Tensor | None,
        v: torch.Tensor | None,
        k_enc: torch.Tensor | None,
        v_enc: torch.Tensor | None,
        lengths: torch.Tensor | None,
        eps: float,
    ) -> torch.Tensor:
        has_own, has_enc = k is not None, k_enc is not None
        te = k_enc.shape[1] if k_enc is not None else 0
        values = v if v is not None else v_enc
        assert values is not None  # short_attention passes one source at least
        call = _Call(q, values, te, has_own, has_enc, lengths is not None)
        y = torch.empty(*q.shape[:3], call.d, device=q.device, dtype=q.dtype)
        r = torch.empty(call.b, call.h, call.t, device=q.device, dtype=torch.float32)
        dummy = q  # never read when its flag is off
        short_fwd_kernel[call.grid(call.t, "BM")](
            Q=q, K=k if has_own else dummy, V=v if has_own else dummy,
            KE=k_enc if has_enc else dummy, VE=v_enc if has_enc else dummy,
            LENS=lengths if lengths is not None else dummy, Y=y, R=r,
            T=call.t, TE=te, H=call.h, scale=call.scale, eps=eps,
            **call.const, **call.flags, num_warps=call.warps,
        )  # fmt: skip
        ctx.save_for_backward(q, k, v, k_enc, v_enc, lengths, y, r)
        ctx.call = call
        ctx.set_materialize_grads(False)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        q, k, v, k_enc, v_enc, lengths, y, r = ctx.saved_tensors
        call: _Call = ctx.call
        if dy is None:
            return None, None, None, None, None, None, None
        dy = dy.contiguous()
        delta = (dy.float() * y.float()).sum(-1).transpose(1, 2).contiguous()  # [B, H, T]
        dq = torch.empty_like(q)
        dummy = q
        lens = lengths if lengths is not None else dummy
        common = dict(**call.const, num_warps=call.warps)
        short_bwd_dq_kernel[call.grid(call.t, "BM")](
            Q=q, K=k if k is not None else dummy, V=v if v is not None else dummy,
            KE=k_enc if k_enc is not None else dummy, VE=v_enc if v_enc is not None else dummy,
            LENS=lens, DY=dy, R=r, DELTA=delta, DQ=dq,
            T=call.t, TE=call.te, H=call.h, scale=call.scale, **call.flags, **common,
        )  # fmt: skip
        grads: list[torch.Tensor | None] = [dq, None, None, None, None]
        for slot, (kk, vv, causal) in enumerate(((k, v, True), (k_enc, v_enc, False))):
            if kk is None:
                continue
            dk, dv = torch.empty_like(kk), torch.empty_like(vv)
            short_bwd_dkv_kernel[call.grid(kk.shape[1], "BN")](
                Q=q, K=kk, V=vv, LENS=lens, DY=dy, R=r, DELTA=delta, DK=dk, DV=dv,
                T=call.t, TK=kk.shape[1], H=call.h, scale=call.scale,
                CAUSAL=causal, HAS_LENS=call.flags["HAS_LENS"] and not causal, **common,
            )  # fmt: skip
            grads[1 + 2 * slot], grads[2 + 2 * slot] = dk, dv
        return (*grads, None, None)


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, role: str) -> None:
    """q [B, T, H, F]; k [B, Tk, H, F], v [B, Tk, H, D] in q's dtype, within the kernel's limits."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            f"expected 4-d q, {role} k, v [B, T, H, *]; got {q.dim()}, {k.dim()}, {v.dim()} dims"
        )
    b, _, h, f = q.shape
    if k.shape[0] != b or k.shape[2:] != (h, f) or v.shape[:3] != k.shape[:3]:
        raise ValueError(
            f"{role} keys must be k [B, Tk, H, F] = [{b}, Tk, {h}, {f}] and v [B, Tk, H, D] matching; "
            f"got {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.dtype not in SUPPORTED_DTYPES or not (q.dtype == k.dtype == v.dtype):
        raise TypeError(
            f"q, {role} k, v must share one dtype among {SUPPORTED_DTYPES}; "
            f"got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if f > MAX_FEATURE_DIM or v.shape[-1] > MAX_HEAD_DIM:
        raise ValueError(
            f"short path: feature dim F={f} (allowed <= {MAX_FEATURE_DIM}) and value head dim "
            f"D={v.shape[-1]} (allowed <= {MAX_HEAD_DIM})"
        )


def short_attention(
    q: torch.Tensor,
    k: torch.Tensor | None,
    v: torch.Tensor | None,
    *,
    k_enc: torch.Tensor | None = None,
    v_enc: torch.Tensor | None = None,
    lengths: torch.Tensor | None = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Normalised Taylor attention, no state: q [B, T, H, F] reads its own keys (k [B, T, H, F],
    v [B, T, H, D]) causally and an encoder's (k_enc [B, Te, H, F], v_enc [B, Te, H, D]) whole, or
    its first ``lengths[b]`` (int [B], 0 <= lengths <= Te) keys; either source may be None (not
    both). Returns y [B, T, H, D] in q's dtype; differentiable in q and every key and value.

    Causal Based: (q, k, v). Non-causal Based: (q, None, None, k_enc=k, v_enc=v). Prefix linear
    attention: all of them with ``lengths`` = prefix_len.
    """
    if k is None and k_enc is None:
        raise ValueError("short_attention needs own keys (k, v), encoder keys (k_enc, v_enc) or both")
    if (k is None) != (v is None) or (k_enc is None) != (v_enc is None):
        raise ValueError(
            "keys and values come in pairs: give both k and v (and both k_enc and v_enc) or neither"
        )
    if k is not None and v is not None:
        _check(q, k, v, "own")
        if k.shape[1] != q.shape[1]:
            raise ValueError(
                f"own keys are read causally and need Tk == T; got Tk={k.shape[1]}, T={q.shape[1]}"
            )
    if k_enc is not None and v_enc is not None:
        _check(q, k_enc, v_enc, "encoder")
        if k is not None and v is not None and v_enc.shape[-1] != v.shape[-1]:
            raise ValueError(f"v_enc head dim {v_enc.shape[-1]} != v head dim {v.shape[-1]}")
    if lengths is not None:
        if k_enc is None:
            raise ValueError("lengths limit the encoder keys; give k_enc, v_enc with them")
        if lengths.dtype not in (torch.int32, torch.int64) or lengths.shape != (q.shape[0],):
            raise ValueError(
                f"lengths must be an integer tensor of shape [{q.shape[0]}]; "
                f"got {lengths.dtype} {tuple(lengths.shape)}"
            )
        te = k_enc.shape[1]
        if lengths.is_cuda:  # checked on the device: a read-back would stall the launch queue
            torch._assert_async(
                ((lengths >= 0) & (lengths <= te)).all(), f"lengths values must lie in [0, Te={te}]"
            )
        elif lengths.numel() and (int(lengths.min()) < 0 or int(lengths.max()) > te):
            raise ValueError(
                f"lengths values must lie in [0, Te={te}]; "
                f"got min {int(lengths.min())}, max {int(lengths.max())}"
            )
        lengths = lengths.to(torch.int32).contiguous()
    return _ShortAttention.apply(
        *(x.contiguous() if x is not None else None for x in (q, k, v, k_enc, v_enc)), lengths, eps
    )
