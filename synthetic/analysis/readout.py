"""Run a model on numpy token arrays in batches, without gradients: the final position's logits.

A model here is any ``torch.nn.Module`` called as ``model(input_ids [B, T], prefix_len [B]) ->
logits [B, T, V]``: a :class:`~synthetic.model.LanguageModel`, one member of an ensemble
(:meth:`synthetic.members.StackedLanguageModel.member`) or a constructed model of
:mod:`synthetic.analysis.mechanisms`. It is put in eval mode for the call and given back in the
mode it had. A :class:`~synthetic.model.LanguageModel` runs its last block and its head at the
final column alone (:meth:`~synthetic.model.LanguageModel.logits_at`): the same logits at a
fraction of the work when T is in the hundreds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from synthetic.model import LanguageModel
from synthetic.tasks._checks import check_int

__all__ = ["evaluating", "final_logits", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model that has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode and without autograd inside the block; its mode is restored after."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (got {type(model).__name__})")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def final_logits(
    model: nn.Module, inputs: np.ndarray, prefix_len: np.ndarray, *, batch_size: int = 256
) -> np.ndarray:
    """The logits at the last column of every row: inputs int64 ``[n_ex, T]``, prefix_len
    int64 ``[n_ex]`` -> float64 ``[n_ex, V]`` (computed in the model's dtype, returned on the CPU)."""
    bs = check_int("batch_size", batch_size)
    if inputs.ndim != 2 or prefix_len.shape != (inputs.shape[0],):
        raise ValueError(
            f"inputs must be [n_ex, T] and prefix_len [n_ex]; got {inputs.shape} and {prefix_len.shape}"
        )
    device = model_device(model)
    out = []
    with evaluating(model):
        for start in range(0, inputs.shape[0], bs):
            ids = torch.tensor(inputs[start : start + bs]).to(device)
            plen = torch.tensor(prefix_len[start : start + bs]).to(device)
            if isinstance(model, LanguageModel):  # the last block and the head at the last column only
                last = torch.full((ids.shape[0], 1), ids.shape[1] - 1, dtype=torch.long, device=device)
                out.append(model.logits_at(ids, plen, last)[:, 0].double().cpu().numpy())
                continue
            logits = model(ids, plen)
            if logits.dim() != 3 or logits.shape[:2] != ids.shape:
                raise ValueError(
                    f"the model returned logits of shape {tuple(logits.shape)} for input_ids "
                    f"{tuple(ids.shape)}; expected [B, T, V]"
                )
            out.append(logits[:, -1].double().cpu().numpy())
    if not out:
        raise ValueError("inputs hold no examples (n_ex = 0)")
    return np.concatenate(out)
