"""K models of one shape as one stacked model (an ensemble), for training many runs at once.

Symbols: docs/synthetic/glossary.md (K members, B examples per member in a batch, T time,
D model width, V vocabulary, N labelled positions per member, P parameters of one member).

:func:`stack_models` turns K :class:`~synthetic.model.LanguageModel` s with the same config
(up to ``init``) into one :class:`StackedLanguageModel`. Every parameter gains a leading member
dimension; the batch holds member k's examples in rows ``k*B .. k*B + B - 1`` of ``[K*B, T]``.

- ``nn.Linear`` becomes :class:`MemberLinear` (one batched matmul for all members), norms become
  :class:`MemberLayerNorm` / :class:`MemberRMSNorm`, the embedding :class:`MemberEmbedding`.
- The mixers stay the same modules: their sequence-mixing kernels (Based, prefix linear
  attention, attention) have no parameters and see the members folded into their batch, so the
  Triton kernels run unchanged on a GPU and the torch references on a CPU. Mixer parameters that
  are not linear layers (short-convolution taps, SSM constants) are stacked ``[K, ...]`` and the
  mixers broadcast them per row (:func:`synthetic.layers.base.per_row`).
- All parameters live in one flat buffer ``[K, P]`` (:attr:`StackedLanguageModel.flat`), each
  parameter a view of it, so an optimiser updates every member with a handful of tensor ops
  (:mod:`synthetic.ensemble`), and dropping a finished member is one row selection
  (:meth:`StackedLanguageModel.keep_members`).
- :meth:`StackedLanguageModel.member` gives member k back as a plain ``LanguageModel``.

The stacked model computes logits only where labels are (:meth:`StackedLanguageModel.labelled_logits`,
at the :class:`LabelPositions` of a batch): SD labels one position per example, so the head's cost
drops by a factor T and the last block reads one query per row instead of T.

A stacked model is for training and evaluation (the parallel form). The recurrent forms
(``step``, ``prefill``) and state sizes belong to single models: take :meth:`member` first.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from synthetic.devices import to_device
from synthetic.kernels.dispatch import env_flag
from synthetic.kernels.member_norm import fused_norm_enabled, member_layer_norm
from synthetic.model import LanguageModel, ModelConfig, RMSNorm, decays, residual_stream
from synthetic.tasks.tokens import IGNORE_INDEX

__all__ = [
    "LabelPositions",
    "MemberEmbedding",
    "MemberLayerNorm",
    "MemberLinear",
    "MemberRMSNorm",
    "StackedLanguageModel",
    "stack_models",
]


@dataclass(frozen=True)
class LabelPositions:
    """Where the labels of K member batches (B rows each) are, for
    :meth:`StackedLanguageModel.labelled_logits` and the loss: rows, cols, targets int64 [K, N]
    and valid bool [K, N] (member k's n-th label is at row ``rows[k, n]`` of its block, column
    ``cols[k, n]``; member k has ``valid[k].sum()`` labelled positions, the rest is padding); and
    per batch row its labelled columns, query_cols int64 [K*B, Q] (Q the most labels in one row;
    padded with column 0), with slots int64 [K, N] saying where in its row's Q each label sits
    (the model's last block reads only those Q positions)."""

    rows: torch.Tensor
    cols: torch.Tensor
    targets: torch.Tensor
    valid: torch.Tensor
    query_cols: torch.Tensor
    slots: torch.Tensor

    @staticmethod
    def of(labels: Sequence[torch.Tensor]) -> LabelPositions:
        """From each member's labels [B, T] (-100 where unlabelled; one shape for all members).

        A fixed number of tensor operations whatever K (the GPU's steps are launch-bound, so the
        host must not loop over members)."""
        shapes = {tuple(lab.shape) for lab in labels}
        if len(shapes) != 1:
            raise ValueError(f"member label batches must share one shape [B, T]; got {sorted(shapes)}")
        stacked = torch.stack(list(labels))  # [K, B, T]
        k, b, _ = stacked.shape
        mask = stacked != IGNORE_INDEX
        per_row = mask.sum(-1).flatten()  # [K*B] labels in each row
        per_member = per_row.view(k, b).sum(1)  # [K]
        n = max(1, int(per_member.max()))
        q = max(1, int(per_row.max()))
        m, r, c = mask.nonzero(as_tuple=True)  # row-major: by member, row, column
        order = torch.arange(len(m))
        index = order - (torch.cumsum(per_member, 0) - per_member)[m]  # n-th label of its member
        slot = order - (torch.cumsum(per_row, 0) - per_row)[m * b + r]  # rank within its row
        rows = torch.zeros(k, n, dtype=torch.long)
        cols = torch.zeros(k, n, dtype=torch.long)
        targets = torch.zeros(k, n, dtype=torch.long)
        valid = torch.zeros(k, n, dtype=torch.bool)
        slots = torch.zeros(k, n, dtype=torch.long)
        query_cols = torch.zeros(k * b, q, dtype=torch.long)
        rows[m, index], cols[m, index], targets[m, index] = r, c, stacked[m, r, c]
        valid[m, index] = True
        slots[m, index] = slot
        query_cols[m * b + r, slot] = c
        return LabelPositions(rows, cols, targets, valid, query_cols, slots)

    def to(self, device: torch.device) -> LabelPositions:
        """The same positions on ``device`` (copied without waiting for it: :func:`to_device`)."""
        return LabelPositions(*(to_device(getattr(self, f.name), device) for f in fields(self)))


#: READTWICE_PAD_GEMM=1: :class:`MemberLinear` pads widths that are not a multiple of
#: :data:`GEMM_ALIGN` with zeros before its batched matmul (off by default). On an H100 an
#: ensemble step at d_model 36 spent a third of its GPU time in cuBLAS's sm80 ``wmma`` fallback
#: kernels: rows of 36 bf16 values (72 bytes) are not 16-byte aligned, which the Hopper kernels
#: need (bench/NOTES-training.md). Timed on an H100 (03fb032, same call): ensembles of 8 at
#: d_model 36 trained 1.03-1.04x faster with it, within the run-to-run spread of that call (the
#: unpadded d_model 128 moved by -2 to -4%), so it stays off.
PAD_GEMM_ENV = "READTWICE_PAD_GEMM"
GEMM_ALIGN = 8  # bf16 / fp16 values in 16 bytes


def pad_gemm_enabled() -> bool:
    """READTWICE_PAD_GEMM: ``1`` pads :class:`MemberLinear`'s matmuls to aligned widths, ``0``
    (default) does not; anything else is a ValueError naming the variable."""
    return env_flag(PAD_GEMM_ENV, default=False)


#: READTWICE_SPLIT_WGRAD: whether :class:`MemberLinear` cuts each member's rows into up to
#: :data:`WGRAD_GROUPS` groups while training. Each group is one batch of the matmul with its own
#: copy of the member's weight, so the weight gradient is computed as that many partial sums (added
#: by the copy's backward) instead of one sum over all of a member's rows. ``auto`` (default) splits
#: on CUDA where it measured faster (:func:`split_pays`), ``1`` always, ``0`` never.
#: Measured on an H100 (commit c115339, ``figures/data/member_linear_split_wgrad_h100.csv``,
#: forward + backward of one product, 8 members): at d_model 36, 35,200 rows a member, 1.25-1.97x
#: faster; at 17,536 rows 0.84-0.90x; at d_model 128 (in 128, out 48-128) 0.53-0.90x at both row
#: counts. In training (ensembles of 8, 300 steps, off / on twice in one call,
#: ``figures/data/train_throughput_cuda_split_wgrad.csv``): d_model 36, f 4 from 26.9-28.6M to
#: 33.1-36.3M tokens/s; d_model 128, f 24 unchanged (21.6-23.0M either way).
SPLIT_WGRAD_ENV = "READTWICE_SPLIT_WGRAD"
SPLIT_WGRAD_MODES = ("auto", "0", "1")
WGRAD_GROUPS = 16  # a power of two
#: ``auto`` splits a product whose member has at least this many rows ...
SPLIT_MIN_ROWS = 32768
#: ... and whose weight is at most this wide either way (one 64 x 64 tile of the gradient)
SPLIT_MAX_WIDTH = 64


def split_wgrad_mode() -> str:
    """READTWICE_SPLIT_WGRAD (see :data:`SPLIT_WGRAD_ENV`): ``auto`` (unset), ``0`` or ``1``;
    anything else is a ValueError naming the variable, its value and what is allowed."""
    mode = os.environ.get(SPLIT_WGRAD_ENV, "auto")
    if mode not in SPLIT_WGRAD_MODES:
        raise ValueError(f"{SPLIT_WGRAD_ENV}={mode!r}; allowed: {', '.join(SPLIT_WGRAD_MODES)}")
    return mode


def split_pays(rows: int, inp: int, out: int, device: torch.device) -> bool:
    """``auto``'s rule: split the weight gradient of a product of ``rows`` rows a member, ``inp``
    inputs and ``out`` outputs on ``device`` when it is CUDA, rows >= :data:`SPLIT_MIN_ROWS` and
    both widths <= :data:`SPLIT_MAX_WIDTH` (the shapes where the split measured faster)."""
    return device.type == "cuda" and rows >= SPLIT_MIN_ROWS and max(inp, out) <= SPLIT_MAX_WIDTH


def split_wgrad(rows: int, inp: int, out: int, device: torch.device) -> bool:
    """Whether a training product of this shape splits its weight gradient, by
    :func:`split_wgrad_mode` (``auto``: :func:`split_pays`)."""
    mode = split_wgrad_mode()
    return mode == "1" or (mode == "auto" and split_pays(rows, inp, out, device))


def wgrad_groups(rows: int, limit: int = WGRAD_GROUPS) -> int:
    """The most groups, a power of two at most ``limit``, that cut ``rows`` evenly (1 if none does)."""
    groups = limit
    while groups > 1 and rows % groups:
        groups //= 2
    return groups


def _members_view(x: torch.Tensor, members: int) -> torch.Tensor:
    """[K*B, ..., C] -> [K, B*..., C] (a view; rows of member k are contiguous)."""
    if x.shape[0] % members:
        raise ValueError(f"a batch of {x.shape[0]} rows is not divisible among {members} members")
    return x.reshape(members, -1, x.shape[-1])


def member_matmul(
    xs: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, *, pad: bool = False, groups: int = 1
) -> torch.Tensor:
    """xs [K, rows, in] times each member's weight [K, out, in] transposed, plus bias [K, out]:
    y [K, rows, out], as one batched matmul.

    ``pad``: widths that are not a multiple of :data:`GEMM_ALIGN` are padded with zeros (the same
    sums). ``groups`` > 1 (dividing rows): member k's rows are cut into that many consecutive groups,
    each a batch with an expanded copy of weight k, so autograd computes weight k's gradient as
    ``groups`` partial sums and adds them (the same value up to the order of additions)."""
    k, out, inp = weight.shape
    rows = xs.shape[1]
    if groups < 1 or rows % groups:
        raise ValueError(f"groups must be >= 1 and divide the {rows} rows a member; got {groups}")
    w, b = weight, bias
    pad_in, pad_out = (-inp % GEMM_ALIGN, -out % GEMM_ALIGN) if pad else (0, 0)
    if (pad_in or pad_out or groups > 1) and torch.is_autocast_enabled(xs.device.type):
        dtype = torch.get_autocast_dtype(xs.device.type)  # pad / copy the 16-bit copy autocast makes anyway
        xs, w, b = xs.to(dtype), w.to(dtype), None if b is None else b.to(dtype)
    if pad_in or pad_out:  # zero columns / rows: leading dimensions cuBLAS's fast kernels take
        xs, w = F.pad(xs, (0, pad_in)), F.pad(w, (0, pad_in, 0, pad_out))
        b = None if b is None else F.pad(b, (0, pad_out))
    if groups > 1:
        xs = xs.reshape(k * groups, rows // groups, xs.shape[-1])
        w = w.unsqueeze(1).expand(k, groups, *w.shape[1:]).reshape(k * groups, *w.shape[1:])
        b = None if b is None else b.unsqueeze(1).expand(k, groups, b.shape[-1]).reshape(k * groups, -1)
    if b is None:
        y = torch.bmm(xs, w.transpose(1, 2))
    else:
        y = torch.baddbmm(b.unsqueeze(1), xs, w.transpose(1, 2))
    y = y.reshape(k, rows, y.shape[-1])
    return y[..., :out].contiguous() if pad_out else y


class MemberLinear(nn.Module):
    """K linear layers, one per member: x [K*B, ..., in] -> y [K*B, ..., out].

    weight [K, out, in], bias [K, out] or None (the same names as ``nn.Linear``, with K in front).
    READTWICE_PAD_GEMM (off by default) and READTWICE_SPLIT_WGRAD (while training; ``auto`` by
    default, :func:`split_wgrad`) choose how the product runs (:func:`member_matmul`).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = None if bias is None else nn.Parameter(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, out, _ = self.weight.shape
        xs = _members_view(x, k)  # [K, rows, in]
        training = torch.is_grad_enabled() and self.weight.requires_grad
        split = training and split_wgrad(xs.shape[1], self.weight.shape[2], out, xs.device)
        groups = wgrad_groups(xs.shape[1]) if split else 1
        y = member_matmul(xs, self.weight, self.bias, pad=pad_gemm_enabled(), groups=groups)
        return y.view(*x.shape[:-1], out)


class MemberLayerNorm(nn.Module):
    """K LayerNorms over the last dim: weight, bias [K, D]; x [K*B, ..., D] -> same shape."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.bias = nn.Parameter(bias)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and fused_norm_enabled():  # one Triton kernel each way (READTWICE_FUSED_NORM=0: eager)
            return member_layer_norm(x, self.weight, self.bias, self.eps)
        d = x.shape[-1]
        y = _members_view(F.layer_norm(x, (d,), eps=self.eps), self.weight.shape[0])
        return (y * self.weight.unsqueeze(1) + self.bias.unsqueeze(1)).view(x.shape)


class MemberRMSNorm(nn.Module):
    """K RMSNorms (:class:`synthetic.model.RMSNorm`): weight [K, D]; x [K*B, ..., D] -> same shape."""

    def __init__(self, weight: torch.Tensor, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (_members_view(y, self.weight.shape[0]) * self.weight.unsqueeze(1)).view(x.shape)


class MemberEmbedding(nn.Module):
    """K embedding tables [K, V, D]: ids [K*B, T] -> [K*B, T, D] (member k reads its own table)."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        k = self.weight.shape[0]
        if ids.shape[0] % k:
            raise ValueError(f"a batch of {ids.shape[0]} rows is not divisible among {k} members")
        member = torch.arange(k, device=ids.device).repeat_interleave(ids.shape[0] // k)
        return self.weight[member.view(-1, *([1] * (ids.dim() - 1))), ids]


def _owner(root: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The module that holds the dotted attribute ``name`` of ``root``, and the attribute's own name."""
    owner_name, _, attr = name.rpartition(".")
    return (root.get_submodule(owner_name) if owner_name else root), attr


def _stack(modules: Sequence[nn.Module], name: str) -> torch.Tensor:
    """The parameter ``name`` of each module, stacked along a new first (member) dimension."""
    values = []
    for m in modules:
        value = getattr(m, name)
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{type(m).__name__}.{name} is {value!r}, not a parameter: cannot stack it")
        values.append(value.detach())
    return torch.stack(values)


def _stacked_module(modules: Sequence[nn.Module]) -> nn.Module | None:
    """The member version of a module kind that owns parameters, or None if it has none."""
    first = modules[0]
    if isinstance(first, nn.Linear):
        bias = None if first.bias is None else _stack(modules, "bias")
        return MemberLinear(_stack(modules, "weight"), bias)
    if isinstance(first, nn.LayerNorm):
        if first.weight is None or first.bias is None:
            raise ValueError("stacking a LayerNorm needs elementwise_affine=True with a bias")
        return MemberLayerNorm(_stack(modules, "weight"), _stack(modules, "bias"), first.eps)
    if isinstance(first, RMSNorm):
        return MemberRMSNorm(_stack(modules, "weight"), first.eps)
    if isinstance(first, nn.Embedding):
        return MemberEmbedding(_stack(modules, "weight"))
    return None


class StackedLanguageModel(nn.Module):
    """K language models of one shape, trained as one (see the module docstring).

    ``cfg`` is the shared architecture (member k's own ``init`` is in ``inits[k]``); ``vocab_size``
    V. Parameters: the names of a ``LanguageModel``'s, each with a leading member dim K, all views
    of :attr:`flat` [K, P].
    """

    def __init__(self, template: LanguageModel, members: Sequence[LanguageModel]) -> None:
        super().__init__()
        self.cfg: ModelConfig = template.cfg
        self.vocab_size = template.vocab_size
        self.embedding = template.embedding
        self.blocks = template.blocks
        self.final_norm = template.final_norm
        self._build_flat()
        self.inits = [m.cfg.init for m in members]

    # ---- the flat parameter buffer --------------------------------------------------------------
    def _build_flat(self) -> None:
        params = list(self.named_parameters())
        k = params[0][1].shape[0]
        total = sum(p[0].numel() for _, p in params)
        first = params[0][1]
        flat = torch.empty(k, total, dtype=first.dtype, device=first.device)
        self.offsets: dict[str, tuple[int, int]] = {}
        offset = 0
        for name, p in params:
            n = p[0].numel()
            flat[:, offset : offset + n] = p.detach().reshape(k, n)
            self.offsets[name] = (offset, n)
            offset += n
        self.flat = flat
        self._point_params_at_flat()

    def _point_params_at_flat(self) -> None:
        """Make every parameter a view of :attr:`flat` (new Parameter objects: autograd keeps a
        parameter's shape, so a parameter whose member count changes must be a new one)."""
        k = self.flat.shape[0]
        for name, p in list(self.named_parameters()):
            offset, n = self.offsets[name]
            owner, attr = _owner(self, name)
            setattr(owner, attr, nn.Parameter(self.flat[:, offset : offset + n].view(k, *p.shape[1:])))

    def move_to(self, device: torch.device | str) -> StackedLanguageModel:
        """Move the flat buffer (and so every parameter) to ``device``; returns self. Use this, not
        ``.to()``, which would move each parameter on its own and cut it off from :attr:`flat`."""
        self.flat = self.flat.to(device)
        self._point_params_at_flat()
        return self

    @property
    def num_members(self) -> int:
        """K."""
        return int(self.flat.shape[0])

    def keep_members(self, keep: Sequence[int]) -> None:
        """Keep only the members at positions ``keep`` (in that order); the others are dropped."""
        index = torch.as_tensor(list(keep), dtype=torch.long, device=self.flat.device)
        self.flat = self.flat.index_select(0, index)
        self.inits = [self.inits[i] for i in keep]
        self._point_params_at_flat()

    def flat_grad(self) -> torch.Tensor:
        """The gradients of all parameters as one tensor [K, P] (zeros where none was computed)."""
        k = self.num_members
        parts = []
        for name, p in self.named_parameters():
            _, n = self.offsets[name]
            grad = p.grad
            if grad is None:
                grad = torch.zeros(k, n, device=p.device, dtype=p.dtype)
            parts.append(grad.reshape(k, n))
        return torch.cat(parts, dim=1)

    def zero_grad_(self) -> None:
        """Drop every parameter's gradient."""
        for p in self.parameters():
            p.grad = None

    def member_decay_mask(self, decay_all: bool) -> torch.Tensor:
        """[P] float, 1 where AdamW decays a member's parameter: everywhere with ``decay_all``,
        else where :func:`synthetic.model.decays` says so."""
        mask = torch.ones(self.flat.shape[1], dtype=self.flat.dtype, device=self.flat.device)
        if decay_all:
            return mask
        for name, p in self.named_parameters():
            offset, n = self.offsets[name]
            if not decays(name, p.dim() - 1):
                mask[offset : offset + n] = 0.0
        return mask

    # ---- forward ---------------------------------------------------------------------------------
    def hidden_states(
        self,
        input_ids: torch.Tensor,
        prefix_len: torch.Tensor | None = None,
        cols: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """input_ids int [K*B, T]; prefix_len int [K*B] or None -> the last block's output
        [K*B, T, D], or with ``cols`` (int64 [K*B, Q]) its outputs at those positions only,
        [K*B, Q, D] (:func:`synthetic.model.residual_stream`)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [K*B, T]; got {tuple(input_ids.shape)}")
        return residual_stream(self.embedding, self.blocks, input_ids, prefix_len, cols)

    def labelled_logits(
        self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None, where: LabelPositions
    ) -> torch.Tensor:
        """Logits at the labelled positions ``where`` only: input_ids [K*B, T], prefix_len [K*B]
        or None -> logits [K, N, V] (member k's n-th label at ``where.rows[k, n]``,
        ``where.cols[k, n]``; padding where ``where.valid`` is False). The last block reads only
        each row's labelled columns ``where.query_cols`` (same values as the full forward there,
        fewer operations)."""
        k = self.num_members
        members = torch.arange(k, device=input_ids.device)[:, None]
        h = self.hidden_states(input_ids, prefix_len, where.query_cols)  # [K*B, Q, D]
        picked = h.view(k, -1, h.shape[1], h.shape[2])[members, where.rows, where.slots]
        picked = self.final_norm(picked.reshape(-1, picked.shape[-1])).view(picked.shape)  # [K, N, D]
        return torch.bmm(picked, self.embedding.weight.transpose(1, 2))

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """Logits at every position: input_ids [K*B, T] -> [K*B, T, V] (evaluation and tests)."""
        h = self.final_norm(self.hidden_states(input_ids, prefix_len))
        k = self.num_members
        hv = h.reshape(k, -1, h.shape[-1])
        return torch.bmm(hv, self.embedding.weight.transpose(1, 2)).view(*h.shape[:-1], self.vocab_size)

    # ---- members ---------------------------------------------------------------------------------
    def member(self, k: int) -> LanguageModel:
        """Member ``k`` as a plain :class:`LanguageModel` (a copy of its parameters)."""
        if not 0 <= k < self.num_members:
            raise IndexError(f"member {k} of {self.num_members}")
        cfg = self.cfg.model_copy(update={"init": self.inits[k]})
        model = LanguageModel(cfg, self.vocab_size).to(self.flat.device)
        state = {name: p.detach()[k].clone() for name, p in self.named_parameters()}
        model.load_state_dict(state)
        return model


def stack_models(models: Sequence[LanguageModel]) -> StackedLanguageModel:
    """One :class:`StackedLanguageModel` holding ``models`` (K >= 1, same config up to ``init``,
    same vocabulary, same device and dtype) as its members, in order. The models are not changed."""
    if not models:
        raise ValueError("stack_models needs at least one model")
    first = models[0]
    shape = first.cfg.model_copy(update={"init": "reference"})
    for i, m in enumerate(models):
        if m.cfg.model_copy(update={"init": "reference"}) != shape or m.vocab_size != first.vocab_size:
            raise ValueError(
                f"model {i} differs in shape from model 0 (config or vocabulary); only runs of one "
                "architecture can be stacked"
            )
    template = copy.deepcopy(first)
    modules = {name: [dict(m.named_modules())[name] for m in models] for name, _ in first.named_modules()}
    # replace parameter-owning leaf modules by their member versions (deepest names first is not
    # needed: the kinds replaced here own no sub-modules)
    for name, group in modules.items():
        if not name:
            continue
        stacked = _stacked_module(group)
        if stacked is None:
            continue
        parent, attr = _owner(template, name)
        setattr(parent, attr, stacked)
    # the remaining parameters belong directly to mixers (conv taps, SSM constants): stack them
    for name, _ in template.named_parameters():
        owner, attr = _owner(template, name)
        if isinstance(owner, MemberLinear | MemberLayerNorm | MemberRMSNorm | MemberEmbedding):
            continue
        owners = [_owner(m, name)[0] for m in models]
        setattr(owner, attr, nn.Parameter(_stack(owners, attr)))
    return StackedLanguageModel(template, models)
