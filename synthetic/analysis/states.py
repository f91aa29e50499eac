"""The recurrent state of a model after a prompt, layer by layer, as flat feature rows.

A :class:`~synthetic.model.LanguageModel` reads a prompt with :meth:`~synthetic.model.LanguageModel.prefill`
and returns one state per layer: for Based and prefix linear attention the key-value state
``kv [B, H, E, Dh]`` and the normaliser ``z [B, H, E]``, for BaseConv the short convolution's
buffer ``window [B, Kc - 1, D]`` (each mixer documents its state). :func:`state_tensors` is the
only place that knows how a state is laid out (today a dict of named tensors; a NamedTuple is read
through ``_asdict()``), so the rest of the analysis reads states by name.

:func:`state_features` reads a segment's examples up to a column and returns, for every layer and
state tensor, the float64 features ``[n_ex, values]`` (the tensor's values per example), plus the whole
state concatenated (:func:`state_feature_tensors`: the same as float64 tensors on the model's
device). For a causal model the state after ``prefill`` of the first ``c`` tokens is the
state the model holds when it reaches column ``c - 1``; for a non-causal or prefix model it is the
state of that shorter input read as a prompt (such a model holds no state in the middle of its
prompt).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from synthetic.analysis.readout import evaluating, model_device
from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int

__all__ = [
    "WHOLE_STATE",
    "StateComponent",
    "check_language_model",
    "model_states",
    "state_feature_tensors",
    "state_features",
    "state_tensors",
]

#: the ``mixer`` and ``component`` name of the whole state (every layer's tensors concatenated)
WHOLE_STATE = "all"


def state_tensors(state: object) -> dict[str, torch.Tensor]:
    """The named floating tensors of one layer's state, batch first (bookkeeping integers, such as a
    position counter, are left out). Accepts a mapping (the layers' ``{"kv": ..., "z": ...}``) or a
    NamedTuple (through ``_asdict()``)."""
    if isinstance(state, Mapping):
        items = dict(state)
    elif hasattr(state, "_asdict"):
        items = state._asdict()
    else:
        raise TypeError(
            f"a layer state must be a mapping or a NamedTuple of tensors (got {type(state).__name__})"
        )
    return {k: v for k, v in items.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}


def check_language_model(model: object) -> LanguageModel:
    """``model`` itself if it is a :class:`~synthetic.model.LanguageModel` (whose states the probes
    read), else TypeError."""
    if not isinstance(model, LanguageModel):
        raise TypeError(f"model must be a synthetic.model.LanguageModel (got {type(model).__name__})")
    return model


def model_states(
    model: LanguageModel, input_ids: torch.Tensor, prefix_len: torch.Tensor | None, upto: int
) -> list[dict[str, torch.Tensor]]:
    """Per layer, :func:`state_tensors` of the state after reading ``input_ids[:, :upto]`` [B, upto]
    as a prompt (``prefix_len`` [B], if given, clipped to ``upto``)."""
    check_language_model(model)
    upto = check_int("upto", upto)
    if upto > input_ids.shape[1]:
        raise ValueError(f"upto={upto} is beyond the input's T={input_ids.shape[1]}")
    plen = None if prefix_len is None else prefix_len.clamp(max=upto)
    with evaluating(model):
        _, states = model.prefill(input_ids[:, :upto], plen, seq_len=upto)
    return [state_tensors(s) for s in states]


@dataclass(frozen=True)
class StateComponent:
    """One tensor of one layer's state: ``layer`` (0-based; -1 for the whole state), ``mixer`` (the
    layer's mixer kind, e.g. "based", "base_conv"; "all" for the whole state) and ``component``
    (the tensor's name, e.g. "kv", "z", "window"; "all" for the whole state)."""

    layer: int
    mixer: str
    component: str


def state_feature_tensors(
    model: LanguageModel,
    inputs: np.ndarray,
    prefix_len: np.ndarray,
    upto: int,
    *,
    batch_size: int = 256,
) -> dict[StateComponent, torch.Tensor]:
    """The state after the first ``upto`` columns of every row of ``inputs`` int64 [n_ex, T]: per layer
    and tensor a float64 tensor [n_ex, values] on the model's device (the tensor's values per
    example), and under ``StateComponent(-1, "all", "all")`` all of them side by side."""
    bs = check_int("batch_size", batch_size)
    kinds = [cfg.kind for cfg in check_language_model(model).cfg.layer_configs()]
    device = model_device(model)
    parts: dict[StateComponent, list[torch.Tensor]] = {}
    for start in range(0, inputs.shape[0], bs):
        ids = torch.tensor(inputs[start : start + bs]).to(device)
        plen = torch.tensor(prefix_len[start : start + bs]).to(device)
        for layer, tensors in enumerate(model_states(model, ids, plen, upto)):
            for name, tensor in tensors.items():
                key = StateComponent(layer, kinds[layer], name)
                parts.setdefault(key, []).append(tensor.flatten(1).double())
    if not parts:
        raise ValueError(
            "no state to read: inputs hold no examples (n_ex = 0) or the model keeps no floating state"
        )
    out = {key: torch.cat(chunks) for key, chunks in parts.items()}
    out[StateComponent(-1, WHOLE_STATE, WHOLE_STATE)] = torch.cat(list(out.values()), dim=1)
    return out


def state_features(
    model: LanguageModel,
    inputs: np.ndarray,
    prefix_len: np.ndarray,
    upto: int,
    *,
    batch_size: int = 256,
) -> dict[StateComponent, np.ndarray]:
    """:func:`state_feature_tensors` as float64 numpy arrays [n_ex, values] on the host."""
    tensors = state_feature_tensors(model, inputs, prefix_len, upto, batch_size=batch_size)
    return {key: t.cpu().numpy() for key, t in tensors.items()}
