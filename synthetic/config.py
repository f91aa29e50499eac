"""Configs of one training run: :class:`TrainConfig` (optimiser, schedule, stopping) and
:class:`RunConfig` (data + model + training + seed, with a stable hash).

All are frozen pydantic v2 models with ``extra="forbid"``: an unknown key or an impossible value
raises ``pydantic.ValidationError`` (a ``ValueError``) naming the field, the value and the rule.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from synthetic.model import ModelConfig
from synthetic.tasks.config import DataConfig, stable_digest

#: experiment and profile names: one plain path component (they name results folders)
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"
Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
Probability = Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)]
Beta = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]
#: the largest epochs / batch sizes / evaluation intervals a config accepts
MAX_EPOCHS = 100_000
MAX_BATCH = 1 << 20

#: the most values one run's embedding table may hold (vocab_size x d_model)
MAX_EMBEDDING_VALUES = 1 << 30

#: fields the optimiser presets fix (``TrainConfig.optimizer``)
OPTIMIZER_PRESETS: dict[str, dict[str, Any]] = {
    # this package's defaults (the fields stay free): decay on matrices only, beta2 0.98, warmup,
    # global-norm clipping
    "package": {"betas": (0.9, 0.98), "grad_clip": 1.0, "warmup_fraction": 0.05, "decay_all": False},
    # the paper's code (Zoology): torch AdamW defaults, decay on every parameter, no warmup or clipping
    "reference": {"betas": (0.9, 0.999), "grad_clip": None, "warmup_fraction": 0.0, "decay_all": True},
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class TrainConfig(_Frozen):
    """How one model is trained.

    epochs              passes over the train split (>= 1)
    batch_size          train examples per step (batches never mix segments)
    eval_batch_size     test examples per evaluation batch
    lr                  peak learning rate of AdamW
    weight_decay        AdamW decoupled weight decay (0.1 as in the paper)
    optimizer           ``"package"`` (default: the four fields below are free, with this package's
                        defaults) or ``"reference"`` (the paper's code, Zoology's AdamW: betas
                        (0.9, 0.999), no clipping, no warmup, decay on every parameter; those fields
                        are then fixed, and a contradicting value is refused)
    decay_all           True: decay every parameter (Zoology); False: no decay on norms, biases
                        and the (tied) embedding
    betas               AdamW betas
    warmup_fraction     linear warmup over this fraction of all steps, then cosine to
                        ``min_lr_ratio * lr`` (stepped per optimiser step; the paper's code steps its
                        cosine once per epoch, a small difference at many epochs)
    min_lr_ratio        final learning rate / peak (0 = anneal to zero, as the paper)
    grad_clip           clip each run's global gradient norm to this value (None: no clipping)
    early_stop_accuracy stop after an evaluation whose overall test accuracy >= this (None: never;
                        the paper / Zoology stop at 0.99)
    eval_every          evaluate every this many epochs (and always after the last one)
    eval_every_steps    if set, evaluate every this many optimiser steps instead (and at the end);
                        useful with few, long epochs so that early stopping can act mid-epoch
    device              "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N"
    precision           "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32" or "bf16"

    Fields are strict: ``epochs=True``, ``epochs="3"`` or ``lr="0.01"`` are refused, not converted;
    NaN and infinities are refused everywhere.
    """

    epochs: int = Field(8, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)
    eval_batch_size: int = Field(256, ge=1, le=MAX_BATCH)
    lr: float = Field(1e-3, gt=0.0, lt=1e6, allow_inf_nan=False)
    weight_decay: float = Field(0.1, ge=0.0, lt=1e6, allow_inf_nan=False)
    optimizer: Literal["package", "reference"] = "package"
    decay_all: bool = False
    betas: tuple[Beta, Beta] = (0.9, 0.98)
    warmup_fraction: Fraction = 0.05
    min_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] = 0.0
    grad_clip: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | None = 1.0
    early_stop_accuracy: Probability | None = 0.99
    eval_every: int = Field(1, ge=1, le=MAX_EPOCHS)
    eval_every_steps: int | None = Field(None, ge=1)
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"

    @field_validator("betas", mode="before")
    @classmethod
    def _betas_from_list(cls, value: Any) -> Any:
        """TOML and JSON give a list; a pair of numbers is what is meant."""
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="before")
    @classmethod
    def _apply_optimizer_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("optimizer", "package")
        if name != "reference":
            return data  # "package": the fields stay free; an unknown name fails the Literal check
        out = dict(data)
        for key, value in OPTIMIZER_PRESETS[name].items():
            given = out.get(key, value)
            if key == "betas" and isinstance(given, list):
                given = tuple(given)
            if given != value:
                raise ValueError(
                    f"optimizer={name!r} fixes {key}={value!r}; got {key}={given!r} (drop the field, or "
                    "use optimizer='package', whose fields are free)"
                )
            out[key] = value
        return out


class RunConfig(_Frozen):
    """One run: what to train on, what to train, how, and with which seed.

    experiment, profile, variant   labels (where the run comes from; part of the hash)
    seed                           parameter-initialisation seed (the data has its own,
                                   ``data.seed``; sweeps set both from the grid's ``seed``)
    """

    experiment: str = Field("adhoc", min_length=1, max_length=100, pattern=NAME_PATTERN)
    profile: str = Field("adhoc", min_length=1, max_length=100, pattern=NAME_PATTERN)
    variant: str = Field("default", min_length=1)
    seed: int = Field(0, ge=0, lt=2**63)

    @model_validator(mode="after")
    def _embedding_fits(self) -> RunConfig:
        values = self.data.vocab_size * self.model.d_model
        if values > MAX_EMBEDDING_VALUES:
            raise ValueError(
                f"the embedding of vocab_size={self.data.vocab_size} x d_model={self.model.d_model} holds "
                f"{values:,} values per run; the limit is {MAX_EMBEDDING_VALUES:,} (4 GiB in fp32)"
            )
        return self

    @field_validator("experiment", "profile")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value in (".", ".."):
            raise ValueError(f"{value!r} is not a name (it would leave the results folder)")
        return value

    data: DataConfig
    model: ModelConfig
    train: TrainConfig = TrainConfig()

    def identity(self) -> dict[str, Any]:
        """The JSON payload that identifies this run (``data.cache_dir`` excluded: it only says
        where generated data is cached)."""
        return self.model_dump(mode="json", exclude={"data": {"cache_dir"}})

    def config_hash(self) -> str:
        """16 hex digits of the SHA-256 of :meth:`identity` (stable across processes)."""
        return stable_digest(self.identity())[:16]

    def summary(self) -> dict[str, Any]:
        """Flat fields for tables: variant, task, passes, d_model, feature_dim, lr, weight decay,
        optimizer preset, init scheme, seed, ..."""
        feature_dims = sorted({m.feature_dim for m in self.model.pattern if hasattr(m, "feature_dim")})
        return {
            "experiment": self.experiment,
            "profile": self.profile,
            "variant": self.variant,
            "task": self.data.task.kind,
            "passes": self.data.passes,
            "pattern": "/".join(m.kind for m in self.model.pattern),
            "n_layers": self.model.n_layers,
            "d_model": self.model.d_model,
            "feature_dim": feature_dims[0] if len(feature_dims) == 1 else None,
            "lr": self.train.lr,
            "weight_decay": self.train.weight_decay,
            "optimizer": self.train.optimizer,
            "init": self.model.init,
            "seed": self.seed,
            "data_seed": self.data.seed,
        }
