"""A run's trained parameters as a ``safetensors`` file: written when a sweep is asked to keep
them, read back into a model without retraining.

The file (``models/<config_hash>.safetensors`` beside ``runs.jsonl``, see
:func:`synthetic.results.model_path`) holds every tensor of the run's
:class:`~synthetic.model.LanguageModel` state dict under its state-dict name (fp32 on the CPU;
the embedding [V, D] is also the tied head), and three metadata strings: ``format``
(:data:`WEIGHTS_FORMAT`), ``run_hash`` (its config hash) and ``config`` (its identity JSON, as in its
record). :func:`read` rebuilds the model from a run config and refuses a file that belongs to
another run or whose tensors do not fit the config's model (names and shapes, each named).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as save_bytes

from synthetic.config import RunConfig
from synthetic.model import LanguageModel

__all__ = ["WEIGHTS_FORMAT", "read", "to_bytes"]

#: the ``format`` metadata of the files this module writes
WEIGHTS_FORMAT = "readtwice.language_model.1"
#: how many mismatching tensors an error lists by name
LISTED = 8


def to_bytes(model: LanguageModel, cfg: RunConfig) -> bytes:
    """``model``'s parameters (moved to the CPU) and ``cfg``'s identity as safetensors bytes."""
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in model.state_dict().items()}
    metadata = {
        "format": WEIGHTS_FORMAT,
        "run_hash": cfg.config_hash(),
        "config": json.dumps(cfg.identity(), sort_keys=True),
    }
    return save_bytes(tensors, metadata=metadata)


def _listed(items: list[str], sep: str = ", ") -> str:
    """The first :data:`LISTED` of ``items``, and how many more."""
    more = f" (and {len(items) - LISTED} more)" if len(items) > LISTED else ""
    return sep.join(items[:LISTED]) + more


def _shape_errors(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> list[str]:
    """What differs between the tensors a model needs and those a file has (name: shapes)."""
    shapes = [
        f"{name} has shape {list(found[name])} in the file, the config's model needs {list(shape)}"
        for name, shape in expected.items()
        if name in found and found[name] != shape
    ]
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    errors = [_listed(shapes, "; ")] if shapes else []
    if missing:
        errors.append(f"missing from the file: {_listed(missing)}")
    if extra:
        errors.append(f"not in the config's model: {_listed(extra)}")
    return errors


def read(
    path: str | Path,
    cfg: RunConfig,
    *,
    config_hash: str | None = None,
    device: str | torch.device = "cpu",
) -> LanguageModel:
    """The model of run ``cfg`` with the parameters saved at ``path``, in eval mode on ``device``.

    ``config_hash``: the run the file must belong to (default ``cfg.config_hash()``; a record's
    own hash stays right when fields were added to the configs since it was written). Raises
    FileNotFoundError if there is no file, and ValueError naming what does not match if the file
    is not a weights file of this package, belongs to another run, or its tensors' names or
    shapes differ from those of ``cfg.model`` at ``cfg.data.vocab_size``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {path}")
    want = cfg.config_hash() if config_hash is None else config_hash
    with torch.device("meta"):  # the shapes only: no memory, no initialisation
        model = LanguageModel(cfg.model, cfg.data.vocab_size)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    try:
        fh = safe_open(str(path), framework="pt", device=str(device))
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path} is not a readable safetensors file ({type(err).__name__}: {err})") from None
    with fh:
        metadata = fh.metadata() or {}
        if metadata.get("format") != WEIGHTS_FORMAT:
            raise ValueError(
                f"{path}: format={metadata.get('format')!r}; this package reads {WEIGHTS_FORMAT!r} files"
            )
        if metadata.get("run_hash") != want:
            raise ValueError(
                f"{path} holds the model of run {metadata.get('run_hash')!r}, not of run {want!r}"
            )
        found = {name: tuple(fh.get_slice(name).get_shape()) for name in fh.keys()}
        errors = _shape_errors(expected, found)
        if errors:
            raise ValueError(f"{path} does not fit run {want}'s model: " + "; ".join(errors))
        tensors = {name: fh.get_tensor(name) for name in found}
    model.load_state_dict(tensors, assign=True)
    return model.eval()
