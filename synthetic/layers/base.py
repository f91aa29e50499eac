"""The contract every sequence mixer follows, and the pieces its config shares.

Symbols (B, T, D, T_max, M and M_b the prefix length): docs/synthetic/glossary.md.

A mixer maps ``x [B, T, D] -> y [B, T, D]`` and exists in two forms that must agree:

- the parallel (training) form :meth:`Mixer.forward`;
- the recurrent (decoding) form: :meth:`Mixer.prefill` reads a prompt ``x [B, M, D]`` at once and
  returns its outputs plus the state after it; :meth:`Mixer.step` then reads one token
  ``x_t [B, D]`` at a time. :meth:`Mixer.init_state` is the state before any token.

For a causal mixer, ``forward(x)[:, t]`` equals the output of ``step`` at token t after starting
from ``init_state`` (or from ``prefill`` of any prefix). For a prefix mixer, ``forward(x,
prefix_len=M)`` equals ``prefill(x[:, :M], M)`` followed by ``step`` for the remaining tokens.

A state is a ``NamedTuple`` of tensors, one type per mixer (:class:`Mixer` is generic in it),
its fields named and shaped in the mixer's docstring; Based and prefix linear attention carry the
kernels' own :class:`~synthetic.kernels.state.LinearAttentionState` unchanged. Floating tensors
hold the state's values, with the batch as their first dimension; integer tensors are bookkeeping
(a position counter) and hold no model values. :meth:`Mixer.state_size` is the number of floating
values one example's state holds: ``floating_numel(state) == B * state_size()``.
:meth:`Mixer.paper_state_size` is the count under the paper's convention (see each mixer).
"""

from __future__ import annotations

import abc
from typing import ClassVar, Generic, TypeVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict
from torch import nn

from synthetic.kernels.depthwise_conv import fused_conv_enabled, member_causal_conv
from synthetic.layers.init import init_linear_

#: a mixer's recurrent state: a NamedTuple of tensors (see the module docstring)
State = tuple[torch.Tensor, ...]
S = TypeVar("S", bound=State)


class MixerConfigBase(BaseModel):
    """Fields shared by all mixer configs; subclasses add ``kind`` (a literal) and their own."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def build(self, d_model: int) -> Mixer:
        """Instantiate the mixer for width ``d_model``."""
        raise NotImplementedError


class Mixer(nn.Module, abc.ABC, Generic[S]):
    """Base class of the sequence mixers; see the module docstring for the contract. ``S`` is the
    mixer's state type."""

    #: True when output t depends on inputs <= t only (for every prefix_len). A class default that
    #: a mixer may set per instance (Based's ``causal`` argument).
    causal: bool = True
    #: True when the mixer reads ``prefix_len`` (a prefix / encoder-decoder mixer).
    uses_prefix: ClassVar[bool] = False

    def __init__(self, d_model: int) -> None:
        super().__init__()
        if not isinstance(d_model, int) or d_model < 1:
            raise ValueError(f"d_model={d_model!r} must be a positive integer")
        self.d_model = d_model

    # ---- parallel form -------------------------------------------------------------------------
    @abc.abstractmethod
    def forward(self, x: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, T, D] -> y [B, T, D]. ``prefix_len`` int64 [B] is read by prefix mixers only."""

    def forward_at(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None, cols: torch.Tensor
    ) -> torch.Tensor:
        """The outputs at some positions only: x [B, T, D], cols int64 [B, Q] (row b's Q
        positions; repeats allowed) -> y [B, Q, D] = forward(x, prefix_len)[b, cols[b, q]].

        A model whose loss reads a few positions runs its last layer this way. This default
        computes every position and gathers; mixers that can read fewer queries override it
        (same values, fewer operations)."""
        return gather_positions(self.forward(x, prefix_len), cols)

    # ---- recurrent form ------------------------------------------------------------------------
    @abc.abstractmethod
    def init_state(
        self,
        batch: int,
        *,
        seq_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> S:
        """The state before any token, for ``batch`` examples. ``seq_len`` is the longest sequence
        the state must hold (needed by attention's KV cache; ignored by fixed-size states).
        ``dtype`` defaults to the parameters' dtype, at least fp32."""

    @abc.abstractmethod
    def step(self, x_t: torch.Tensor, state: S) -> tuple[torch.Tensor, S]:
        """Read one token ``x_t [B, D]``: returns ``(y_t [B, D], new state)``. The input state is
        not modified in place."""

    def step_each(self, x: torch.Tensor, state: S) -> torch.Tensor:
        """Outputs y [R, C, D] of C alternative next inputs per example, x [R, C, D], each read by
        :meth:`step` from its example's state (``state`` of batch R); the R x C new states are not
        returned. This default steps from the states repeated C times (:func:`repeat_state`); a
        mixer that can give the outputs without building the new states overrides it (the same
        values up to rounding)."""
        self._check_each_input(x, state)
        rows, count, width = x.shape
        y, _ = self.step(x.reshape(rows * count, width), repeat_state(state, count))
        return y.view(rows, count, width)

    def step_each_bytes(self, state: S) -> int:
        """Bytes :meth:`step_each` takes a candidate (an example's new inputs), ``state`` being
        one example's (batch 1): this default builds a copy of the state and a new one."""
        return 2 * sum(t[0].numel() * t.element_size() for t in state if t.dim() > 0)

    def prefill(
        self, x: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, S]:
        """Read a prompt ``x [B, M, D]`` at once: returns ``(y [B, M, D], state after it)``.

        The default runs :meth:`step` token by token; mixers override it with a parallel version.
        ``seq_len`` sizes a growing state (attention) for the tokens still to come.
        """
        state = self.init_state(x.shape[0], seq_len=seq_len or x.shape[1], device=x.device, dtype=x.dtype)
        ys = []
        for t in range(x.shape[1]):
            y_t, state = self.step(x[:, t], state)
            ys.append(y_t)
        return torch.stack(ys, dim=1), state

    # ---- sizes ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def state_size(self, seq_len: int | None = None) -> int:
        """Values (numbers) one example's recurrent state holds; ``seq_len`` for growing states."""

    def paper_state_size(self, seq_len: int | None = None) -> int:
        """Values under the paper's / Zoology's convention (defaults to :meth:`state_size`)."""
        return self.state_size(seq_len)

    # ---- parameters ----------------------------------------------------------------------------
    def reset_parameters_(self, generator: torch.Generator, init: str = "reference") -> None:
        """Initialise every parameter from ``generator`` (no global RNG) under the scheme ``init``
        (:mod:`synthetic.layers.init`): every linear layer, then the mixer's own parameters
        (:meth:`reset_own_parameters_`). The residual rescaling of ``out_proj`` is the model's
        (it needs the number of layers)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init_linear_(module, generator, init)
        self.reset_own_parameters_(generator)

    def reset_own_parameters_(self, generator: torch.Generator) -> None:
        """Initialise the parameters that are not ``nn.Linear`` weights (none by default)."""

    # ---- helpers -------------------------------------------------------------------------------
    def _state_dtype(self, dtype: torch.dtype | None) -> torch.dtype:
        if dtype is None:
            dtype = next(self.parameters()).dtype
        return torch.promote_types(dtype, torch.float32)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{type(self).__name__}: x must be [B, T, {self.d_model}]; got {tuple(x.shape)}")

    def _check_each_input(self, x: torch.Tensor, state: S) -> None:
        rows = state_batch(state)
        if x.dim() != 3 or x.shape[-1] != self.d_model or (rows is not None and x.shape[0] != rows):
            raise ValueError(
                f"{type(self).__name__}.step_each: x must be [R, C, {self.d_model}] with R = the "
                f"state's batch ({rows}); got {tuple(x.shape)}"
            )

    def _check_step_input(self, x_t: torch.Tensor) -> None:
        if x_t.dim() != 2 or x_t.shape[-1] != self.d_model:
            raise ValueError(
                f"{type(self).__name__}.step: x_t must be [B, {self.d_model}]; got {tuple(x_t.shape)}"
            )


def full_precision(x: torch.Tensor) -> torch.autocast:
    """A block without autocast on x's device: small reads that run in float32 under bf16 training
    (with :func:`widened` inputs)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def widened(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Each tensor in float32 or wider (bf16 / fp16 -> fp32; fp32 and fp64 unchanged)."""
    return [t.to(torch.promote_types(t.dtype, torch.float32)) for t in tensors]


def gather_positions(x: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x [B, T, ...], cols int64 [B, Q] -> x[b, cols[b, q]] as [B, Q, ...]."""
    if cols.dim() != 2 or cols.shape[0] != x.shape[0]:
        raise ValueError(f"cols must be [B={x.shape[0]}, Q] column indices; got {tuple(cols.shape)}")
    return x[torch.arange(x.shape[0], device=x.device)[:, None], cols]


def per_row(param: torch.Tensor, own_dims: int, rows: int) -> torch.Tensor:
    """A mixer parameter, ready to broadcast against a batch of ``rows`` examples.

    ``param`` is either one model's parameter (``own_dims`` dimensions, returned as is) or the
    parameters of K ensemble members stacked along a new first dimension (``[K, *shape]``; see
    :mod:`synthetic.members`). The batch of a stacked model holds each member's examples in one
    block of B = rows / K rows (member m owns rows ``m*B .. m*B + B - 1``), so the stacked
    parameter is repeated B times per member: ``[K, *shape] -> [rows, *shape]``.
    """
    if param.dim() == own_dims:
        return param
    if param.dim() != own_dims + 1 or rows % param.shape[0]:
        raise ValueError(
            f"parameter of shape {tuple(param.shape)} is neither one model's ({own_dims} dims) nor "
            f"[members, ...] with members dividing the {rows} batch rows"
        )
    members = param.shape[0]
    return param.unsqueeze(1).expand(members, rows // members, *param.shape[1:]).flatten(0, 1)


def causal_depthwise_conv(x: torch.Tensor, taps: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Causal depthwise convolution ``y_t = sum_{s<Kc} taps[c, s] * x_{t-s} + bias[c]`` per channel c.

    x [rows, T, C] (C channels); taps [C, Kc] and bias [C] (one model) or [K, C, Kc] and [K, C]
    (K stacked ensemble members, x holding each member's examples in one block of B = rows / K
    rows). Returns y [rows, T, C].

    On CUDA tensors this is one Triton kernel each way in the [rows, T, C] layout
    (:func:`synthetic.kernels.depthwise_conv.member_causal_conv`; READTWICE_FUSED_CONV=0 turns it
    off); on the CPU, and as its reference, ``F.conv1d`` with groups = channels below.
    """
    if x.is_cuda and fused_conv_enabled():
        return member_causal_conv(x, taps, bias)
    k = taps.shape[-1]
    if taps.dim() == 2:
        weight = taps.flip(-1).unsqueeze(1)  # conv1d cross-correlates: [C, 1, Kc], oldest tap first
        y = F.conv1d(F.pad(x.transpose(1, 2), (k - 1, 0)), weight, bias, groups=x.shape[-1])
        return y.transpose(1, 2)
    members, channels = taps.shape[0], taps.shape[1]
    b, t = x.shape[0] // members, x.shape[1]
    # members become channel groups: [K*B, T, C] -> [B, K*C, T]
    xm = x.view(members, b, t, channels).permute(1, 0, 3, 2).reshape(b, members * channels, t)
    weight = taps.flip(-1).reshape(members * channels, 1, k)
    y = F.conv1d(F.pad(xm, (k - 1, 0)), weight, bias.reshape(-1), groups=members * channels)
    return y.view(b, members, channels, t).permute(1, 0, 3, 2).reshape(members * b, t, channels)


def floating_numel(state: State) -> int:
    """Number of floating values in a state (all examples together)."""
    return sum(t.numel() for t in state if t.is_floating_point())


def check_heads(d_model: int, num_heads: int) -> int:
    """Return the head dim ``d_model // num_heads``; ValueError if it does not divide."""
    if num_heads < 1 or d_model % num_heads:
        raise ValueError(f"num_heads={num_heads} must be >= 1 and divide d_model={d_model}")
    return d_model // num_heads


def _map_state(state: S, part: object, what: str) -> S:
    """``part`` applied to each batch-first tensor of a NamedTuple state; 0-dim tensors (a shared
    position counter) are kept as they are."""
    if not (isinstance(state, tuple) and hasattr(state, "_fields")):
        raise TypeError(f"{what}: a state must be a NamedTuple of tensors (got {type(state).__name__})")
    out = []
    for name, t in zip(state._fields, state, strict=True):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{what}: the state's field {name!r} is a {type(t).__name__}, not a tensor")
        out.append(t if t.dim() == 0 else part(t))  # type: ignore[operator]
    return type(state)(*out)


def state_batch(state: State) -> int | None:
    """The batch of a state: its first batch-first tensor's first dimension (None when it has
    none, only 0-dim counters)."""
    return next((t.shape[0] for t in state if t.dim() > 0), None)


def state_rows(state: S, start: int, stop: int) -> S:
    """Examples ``start .. stop - 1`` of a batched state as a state of batch ``stop - start``
    (views, no copies)."""
    return _map_state(state, lambda t: t[start:stop], "state_rows")


def repeat_state(state: S, count: int) -> S:
    """Each example of a state repeated ``count`` times in a row along the batch: batch R ->
    R * count, example r at rows r * count .. r * count + count - 1 (broadcast views when R is 1,
    copies otherwise)."""

    def repeat(t: torch.Tensor) -> torch.Tensor:
        if t.shape[0] == 1:
            return t.expand(count, *t.shape[1:])
        return (
            t.unsqueeze(1).expand(t.shape[0], count, *t.shape[1:]).reshape(t.shape[0] * count, *t.shape[1:])
        )

    return _map_state(state, repeat, "repeat_state")
