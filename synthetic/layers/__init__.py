"""Sequence mixers, one module each, all following :class:`synthetic.layers.base.Mixer`.

| kind                        | module                     | state                | values per example    |
|-----------------------------|----------------------------|----------------------|-----------------------|
| ``attention``               | attention.py               | KVCache              | 2 * T_max * D         |
| ``sliding_window``          | sliding_window.py          | KVCache              | 2 * W * D             |
| ``base_conv``               | base_conv.py               | ConvState            | (Kc - 1) * D          |
| ``based``                   | based.py                   | LinearAttentionState | H * E * (Dh + 1)      |
| ``prefix_linear_attention`` | prefix_linear_attention.py | LinearAttentionState | H * E * (Dh + 1)      |
| ``ssm``                     | ssm.py                     | SSMState             | (Kc-1) * Di + Di * Ns |

Based and prefix linear attention share their projections, state and step
(``linear_attention.py``); their state is the kernels' own (``synthetic.kernels.state``).

Symbols: docs/synthetic/glossary.md.

A mixer is described by a frozen config (``{"kind": "based", "feature_dim": 8, ...}``) whose
``build(d_model)`` makes the module. :data:`MixerConfig` is the tagged union of all of them, so a
pydantic model field typed ``MixerConfig`` parses any of them and rejects unknown kinds and keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from synthetic.kernels.state import LinearAttentionState
from synthetic.layers.attention import Attention, AttentionConfig, KVCache
from synthetic.layers.base import Mixer, MixerConfigBase, State, floating_numel
from synthetic.layers.base_conv import BaseConv, BaseConvConfig, ConvState
from synthetic.layers.based import Based, BasedConfig
from synthetic.layers.prefix_linear_attention import PrefixLinearAttention, PrefixLinearAttentionConfig
from synthetic.layers.sliding_window import SlidingWindowAttention, SlidingWindowConfig
from synthetic.layers.ssm import SelectiveSSM, SSMConfig, SSMState

MixerConfig = Annotated[
    AttentionConfig
    | SlidingWindowConfig
    | BaseConvConfig
    | BasedConfig
    | PrefixLinearAttentionConfig
    | SSMConfig,
    Field(discriminator="kind"),
]

MIXER_CONFIGS: dict[str, type[MixerConfigBase]] = {
    "attention": AttentionConfig,
    "sliding_window": SlidingWindowConfig,
    "base_conv": BaseConvConfig,
    "based": BasedConfig,
    "prefix_linear_attention": PrefixLinearAttentionConfig,
    "ssm": SSMConfig,
}

_ADAPTER: TypeAdapter[Any] = TypeAdapter(MixerConfig)


def parse_mixer(spec: str | dict[str, Any] | MixerConfigBase) -> MixerConfigBase:
    """A mixer config from a kind name (defaults for every field), a dict with ``kind``, or a config."""
    if isinstance(spec, MixerConfigBase):
        return spec
    if isinstance(spec, str):
        if spec not in MIXER_CONFIGS:
            raise ValueError(f"unknown mixer kind {spec!r}; known: {', '.join(MIXER_CONFIGS)}")
        return MIXER_CONFIGS[spec]()
    return _ADAPTER.validate_python(spec)


def build_mixer(spec: str | dict[str, Any] | MixerConfigBase, d_model: int) -> Mixer:
    """Instantiate a mixer of width ``d_model`` from a spec accepted by :func:`parse_mixer`."""
    return parse_mixer(spec).build(d_model)


__all__ = [
    "MIXER_CONFIGS",
    "Attention",
    "AttentionConfig",
    "BaseConv",
    "BaseConvConfig",
    "Based",
    "BasedConfig",
    "ConvState",
    "KVCache",
    "LinearAttentionState",
    "Mixer",
    "MixerConfig",
    "MixerConfigBase",
    "PrefixLinearAttention",
    "PrefixLinearAttentionConfig",
    "SSMConfig",
    "SSMState",
    "SelectiveSSM",
    "SlidingWindowAttention",
    "SlidingWindowConfig",
    "State",
    "build_mixer",
    "floating_numel",
    "parse_mixer",
]
