"""The language model: embedding -> blocks (pre-norm, mixer, optional GeLU MLP) -> norm -> tied head.

Symbols (B, T, D, V, L, ...): docs/synthetic/glossary.md.

    h_0 = W_emb[x]                                       W_emb [V, D], no positional embedding
    h_l = h_{l-1} + mixer_l(norm(h_{l-1}))               mixer_l = pattern[l mod len(pattern)]
    h_l = h_l + MLP_l(norm(h_l))                         if mlp (GeLU, hidden mlp_mult * D)
    logits = norm(h_L) W_emb^T                           tied head

Position comes from the short convolutions / recurrences, as in Zoology's synthetic models.

State sizes (:meth:`LanguageModel.state_size` and friends) sum the mixers' recurrent states; the
MLPs and norms hold none. Two conventions are available by name:

- ``"actual"``: the values the recurrent step really keeps (Based with E = 1 + F + F^2, BaseConv
  with K - 1 taps), in fp32 (the recurrent step keeps its state in fp32 or wider);
- ``"paper"``: the convention of the paper's Figure 2 / Zoology's ``state_size`` — Based with the
  symmetric Taylor count E_sym = 1 + F + F(F+1)/2, BaseConv with K * D, fp32 (4 bytes a value).
  For the Figure-2 model (2 BaseConv K=3 + 2 Based layers, 2 heads) this is
  ``4 * [2 * 3 * D + 2 * E_sym * (D + 2)]`` bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

from synthetic.layers import Mixer, MixerConfig, State, parse_mixer
from synthetic.layers.base import gather_positions, state_batch
from synthetic.layers.init import (
    InitScheme,
    init_embedding_,
    init_linear_,
    init_normal_,
    residual_output_std,
)

Convention = Literal["actual", "paper"]
#: parameter names (suffixes) of the residual branches' output projections (reference init)
RESIDUAL_OUTPUTS: tuple[str, ...] = ("out_proj.weight", "fc2.weight")
#: largest d_model and n_layers a config accepts (far above what the experiments train)
MAX_WIDTH = 1 << 16
MAX_LAYERS = 1024
CONVENTIONS: tuple[str, ...] = ("actual", "paper")


class ModelConfig(BaseModel):
    """Architecture of :class:`LanguageModel` (the vocabulary size comes from the data).

    ``pattern`` lists mixer configs (or bare kind names); layer l uses ``pattern[l % len(pattern)]``,
    e.g. ``["base_conv", {"kind": "based", "feature_dim": 8}]`` alternates them. ``init`` names the
    parameter initialisation (:mod:`synthetic.layers.init`): ``"reference"`` is the paper's code
    (N(0, 0.02^2), output projections scaled by 1/sqrt(2 L)), ``"torch"`` PyTorch's defaults.
    Fields are strict: ``d_model="64"`` or ``n_layers=True`` are refused, not converted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    if TYPE_CHECKING:
        # The constructor as type checkers should see it: ``pattern`` also takes kind names and
        # dicts, which ``_kinds_to_configs`` and the tagged union turn into configs (the pydantic
        # mypy plugin, given ``strict=True``, would ask for a tuple of configs).
        def __init__(
            self,
            *,
            d_model: int = ...,
            n_layers: int = ...,
            pattern: Sequence[MixerConfig | str | Mapping[str, Any]],
            mlp: bool = ...,
            mlp_mult: int = ...,
            norm: Literal["layernorm", "rmsnorm"] = ...,
            init: InitScheme = ...,
        ) -> None: ...

    d_model: int = Field(64, ge=1, le=MAX_WIDTH)
    n_layers: int = Field(4, ge=1, le=MAX_LAYERS)
    pattern: tuple[MixerConfig, ...] = Field(min_length=1)
    mlp: bool = False
    mlp_mult: int = Field(4, ge=1, le=64)
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    init: InitScheme = "reference"

    @field_validator("pattern", mode="before")
    @classmethod
    def _kinds_to_configs(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(parse_mixer(v) if isinstance(v, str) else v for v in value)
        return value

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        for i, mixer in enumerate(self.pattern):
            heads = getattr(mixer, "num_heads", None)
            if heads is not None and self.d_model % heads:
                raise ValueError(
                    f"pattern[{i}].num_heads={heads} must divide d_model={self.d_model} "
                    f"(mixer kind {mixer.kind!r})"
                )
        return self

    def layer_configs(self) -> list[Any]:
        """The mixer config of each of the n_layers layers."""
        return [self.pattern[i % len(self.pattern)] for i in range(self.n_layers)]


class RMSNorm(nn.Module):
    """x / rms(x) * weight over the last dimension."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _norm(kind: str, d: int) -> nn.Module:
    return nn.LayerNorm(d) if kind == "layernorm" else RMSNorm(d)


class MLP(nn.Module):
    """GeLU MLP: D -> mult * D -> D."""

    def __init__(self, d: int, mult: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d, mult * d)
        self.fc2 = nn.Linear(mult * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm residual block: mixer, then (optionally) an MLP."""

    def __init__(self, cfg: ModelConfig, mixer: Mixer) -> None:
        super().__init__()
        self.norm1 = _norm(cfg.norm, cfg.d_model)
        self.mixer = mixer
        self.norm2 = _norm(cfg.norm, cfg.d_model) if cfg.mlp else None
        self.mlp = MLP(cfg.d_model, cfg.mlp_mult) if cfg.mlp else None

    def _mlp(self, h: torch.Tensor) -> torch.Tensor:
        if self.mlp is None or self.norm2 is None:  # both or neither (cfg.mlp)
            return h
        return h + self.mlp(self.norm2(h))

    def forward(self, h: torch.Tensor, prefix_len: torch.Tensor | None) -> torch.Tensor:
        return self._mlp(h + self.mixer(self.norm1(h), prefix_len))

    def forward_at(
        self, h: torch.Tensor, prefix_len: torch.Tensor | None, cols: torch.Tensor
    ) -> torch.Tensor:
        """The block's output at positions ``cols`` [B, Q] only: h [B, T, D] -> [B, Q, D]
        (:meth:`synthetic.layers.base.Mixer.forward_at`)."""
        return self._mlp(gather_positions(h, cols) + self.mixer.forward_at(self.norm1(h), prefix_len, cols))

    def step(self, h_t: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        y, state = self.mixer.step(self.norm1(h_t), state)
        return self._mlp(h_t + y), state

    def step_each(self, h: torch.Tensor, state: State) -> torch.Tensor:
        """C alternative next inputs per example, h [R, C, D], from the R states -> outputs
        [R, C, D] (:meth:`synthetic.layers.base.Mixer.step_each`)."""
        return self._mlp(h + self.mixer.step_each(self.norm1(h), state))

    def prefill(
        self, h: torch.Tensor, prefix_len: torch.Tensor | None, seq_len: int | None
    ) -> tuple[torch.Tensor, State]:
        y, state = self.mixer.prefill(self.norm1(h), prefix_len, seq_len=seq_len)
        return self._mlp(h + y), state


def residual_stream(
    embedding: nn.Module,
    blocks: nn.ModuleList,
    input_ids: torch.Tensor,
    prefix_len: torch.Tensor | None,
    cols: torch.Tensor | None = None,
) -> torch.Tensor:
    """Embed ``input_ids`` [B, T] and run the blocks: the last block's output h [B, T, D], or
    with ``cols`` (int64 [B, Q]) only its outputs at those positions, [B, Q, D] (the last block
    then reads Q queries instead of T: :meth:`Block.forward_at`). Shared by
    :class:`LanguageModel` and the stacked ensemble model (whose B holds K x B rows)."""
    h = embedding(input_ids)
    last = len(blocks) - 1
    for i, block in enumerate(blocks):
        if cols is not None and i == last:
            h = cast(Block, block).forward_at(h, prefix_len, cols)
        else:
            h = block(h, prefix_len)
    return h if cols is None or last >= 0 else gather_positions(h, cols)


class LanguageModel(nn.Module):
    """See the module docstring. ``forward(input_ids [B, T], prefix_len [B] | None) -> logits [B, T, V]``."""

    def __init__(self, cfg: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size!r} must be an integer >= 2")
        self.cfg = cfg
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg, m.build(cfg.d_model)) for m in cfg.layer_configs())
        self.final_norm = _norm(cfg.norm, cfg.d_model)

    @property
    def _block_list(self) -> list[Block]:
        """The blocks, typed (iterating ``self.blocks``, an nn.ModuleList, yields plain Modules)."""
        return cast(list[Block], list(self.blocks))

    @property
    def mixers(self) -> list[Mixer]:
        return [b.mixer for b in self._block_list]

    @property
    def causal(self) -> bool:
        """True if every mixer is causal (the whole model is then a one-pass recurrence)."""
        return all(m.causal for m in self.mixers)

    @property
    def uses_prefix(self) -> bool:
        """True if some mixer reads ``prefix_len``."""
        return any(m.uses_prefix for m in self.mixers)

    def reset_parameters_(self, generator: torch.Generator) -> None:
        """Initialise all parameters from ``generator`` under ``cfg.init`` (see
        :mod:`synthetic.layers.init`), in a fixed order: the embedding, norms to identity, each
        block's mixer and MLP, then (reference scheme) the residual rescaling of every
        ``out_proj`` / ``fc2`` weight to N(0, (0.02 / sqrt(2 L))^2)."""
        scheme = self.cfg.init
        init_embedding_(self.embedding.weight, generator, scheme)
        for module in self.modules():
            if isinstance(module, nn.LayerNorm | RMSNorm):
                nn.init.ones_(module.weight)
                bias = getattr(module, "bias", None)  # RMSNorm has none
                if bias is not None:
                    nn.init.zeros_(bias)
        for block in self._block_list:
            block.mixer.reset_parameters_(generator, scheme)
            if block.mlp is not None:
                for lin in (block.mlp.fc1, block.mlp.fc2):
                    init_linear_(lin, generator, scheme)
        if scheme == "reference":
            std = residual_output_std(self.cfg.n_layers)
            for name, param in self.named_parameters():
                if name.endswith(RESIDUAL_OUTPUTS):
                    init_normal_(param, generator, std)

    def _check_ids(self, input_ids: torch.Tensor) -> None:
        if input_ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"input_ids must be an integer tensor; got {input_ids.dtype}")

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        return self.final_norm(h) @ self.embedding.weight.T

    def hidden_states(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """The last block's output h [B, T, D] (before the final norm and the head)."""
        self._check_ids(input_ids)
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be [B, T]; got {tuple(input_ids.shape)}")
        return residual_stream(self.embedding, self.blocks, input_ids, prefix_len)

    def forward(self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None) -> torch.Tensor:
        """input_ids int [B, T]; prefix_len int64 [B] (read by prefix mixers) -> logits [B, T, V]."""
        return self._head(self.hidden_states(input_ids, prefix_len))

    def logits_at(
        self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None, cols: torch.Tensor
    ) -> torch.Tensor:
        """The logits at positions ``cols`` (int64 [B, Q]) only: [B, Q, V], row b's q-th equal to
        ``forward(input_ids, prefix_len)[b, cols[b, q]]``; the last block and the head run at
        those positions alone (at V = 2048 the head over every position costs more than the
        model's blocks, and its [B, T, V] output is most of the memory traffic)."""
        self._check_ids(input_ids)
        if input_ids.dim() != 2 or cols.dim() != 2 or cols.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"input_ids must be [B, T] and cols [B, Q]; got {tuple(input_ids.shape)} and "
                f"{tuple(cols.shape)}"
            )
        return self._head(residual_stream(self.embedding, self.blocks, input_ids, prefix_len, cols))

    # ---- recurrent form ------------------------------------------------------------------------
    def init_state(
        self, batch: int, *, seq_len: int | None = None, device: torch.device | str | None = None
    ) -> list[State]:
        """One state per layer, before any token."""
        return [m.init_state(batch, seq_len=seq_len, device=device) for m in self.mixers]

    def step(self, token: torch.Tensor, states: list[State]) -> tuple[torch.Tensor, list[State]]:
        """Read one token int [B]: returns (logits [B, V], new states)."""
        h, new = self.step_hidden(token, states)
        return self._head(h), new

    def step_hidden(self, token: torch.Tensor, states: list[State]) -> tuple[torch.Tensor, list[State]]:
        """:meth:`step` without the head: (the last block's output h [B, D], new states)."""
        self._check_ids(token)
        h = self.embedding(token)
        new = []
        for block, state in zip(self._block_list, states, strict=True):
            h, state = block.step(h, state)
            new.append(state)
        return h, new

    def step_each_hidden(self, tokens: torch.Tensor, states: list[State]) -> torch.Tensor:
        """The last block's output h [R, C, D] for each of ``tokens`` int [C] read as the next token
        from each of R examples' states (each layer's of batch R, e.g.
        :func:`~synthetic.layers.base.state_rows` of a prefill's): :meth:`step_hidden` of every
        token from copies of the states, without building the R x C new states where a mixer can
        avoid it."""
        self._check_ids(tokens)
        rows = next((b for b in map(state_batch, states) if b is not None), 1)
        h = self.embedding(tokens).expand(rows, *tokens.shape, self.cfg.d_model)
        for block, state in zip(self._block_list, states, strict=True):
            h = block.step_each(h, state)
        return h

    def step_each_bytes(self, states: list[State]) -> int:
        """Bytes :meth:`step_each_hidden` takes a candidate, ``states`` being one example's: the
        mixers' (:meth:`~synthetic.layers.base.Mixer.step_each_bytes`) and the block's activations
        (8 x D values)."""
        mixers = sum(b.mixer.step_each_bytes(s) for b, s in zip(self._block_list, states, strict=True))
        return mixers + 8 * self.cfg.d_model * self.embedding.weight.element_size()

    def prefill(
        self, input_ids: torch.Tensor, prefix_len: torch.Tensor | None = None, *, seq_len: int | None = None
    ) -> tuple[torch.Tensor, list[State]]:
        """Read a prompt int [B, M] at once: (logits [B, M, V], per-layer states after it)."""
        self._check_ids(input_ids)
        h = self.embedding(input_ids)
        states = []
        for block in self._block_list:
            h, state = block.prefill(h, prefix_len, seq_len)
            states.append(state)
        return self._head(h), states

    # ---- sizes ---------------------------------------------------------------------------------
    def num_parameters(self) -> int:
        """Trainable parameters (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def state_size(self, seq_len: int | None = None, *, convention: Convention = "actual") -> int:
        """Values in one example's recurrent state, summed over layers (see the module docstring).
        ``seq_len`` sizes growing states (attention's KV cache)."""
        if convention not in CONVENTIONS:
            raise ValueError(f"convention={convention!r}; allowed: {', '.join(CONVENTIONS)}")
        if convention == "paper":
            return sum(m.paper_state_size(seq_len) for m in self.mixers)
        return sum(m.state_size(seq_len) for m in self.mixers)

    def state_size_bytes(
        self,
        dtype: torch.dtype = torch.float32,
        *,
        convention: Convention = "actual",
        seq_len: int | None = None,
    ) -> int:
        """Bytes of one example's recurrent state at ``dtype``. ``convention="paper"`` always uses
        fp32 (4 bytes a value), as the paper does, and rejects another dtype."""
        if convention == "paper" and dtype != torch.float32:
            raise ValueError(f"the paper convention counts fp32 bytes; got dtype={dtype}")
        itemsize = torch.empty((), dtype=dtype).element_size()
        return itemsize * self.state_size(seq_len, convention=convention)


def decays(name: str, own_dims: int) -> bool:
    """Whether AdamW decays the parameter ``name`` of a :class:`LanguageModel` (``own_dims`` its
    number of dimensions in one model) when not every parameter decays: the matrices of mixers
    and MLPs do; norms, biases, 1-d parameters and the (tied) embedding do not."""
    return own_dims >= 2 and not name.startswith("embedding.") and "norm" not in name


def build_model(cfg: ModelConfig, vocab_size: int, *, seed: int = 0) -> LanguageModel:
    """A :class:`LanguageModel` whose parameters are drawn from ``torch.Generator().manual_seed(seed)``."""
    model = LanguageModel(cfg, vocab_size)
    model.reset_parameters_(torch.Generator().manual_seed(seed))
    return model
