"""Configs of one training run: :class:`TrainConfig` (optimiser, schedule, stopping) and
:class:`RunConfig` (data + model + training + seed, with a stable hash).

All are frozen pydantic v2 models with ``extra="forbid"``: an unknown key or an impossible value
raises ``pydantic.ValidationError`` (a ``ValueError``) naming the field, the value and the rule.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthetic.model import ModelConfig
from synthetic.tasks.config import DataConfig, stable_digest

Fraction = Annotated[float, Field(ge=0.0, lt=1.0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrainConfig(_Frozen):
    """How one model is trained.

    epochs              passes over the train split (>= 1)
    batch_size          train examples per step (batches never mix segments)
    eval_batch_size     test examples per evaluation batch
    lr                  peak learning rate of AdamW
    weight_decay        AdamW decoupled weight decay (0.1 as in the paper)
    decay_all           True: decay every parameter (Zoology); False: no decay on norms, biases
                        and the (tied) embedding
    betas               AdamW betas
    warmup_fraction     linear warmup over this fraction of all steps, then cosine to
                        ``min_lr_ratio * lr``
    min_lr_ratio        final learning rate / peak (0 = anneal to zero, as the paper)
    grad_clip           clip the global gradient norm to this value (None: no clipping)
    early_stop_accuracy stop after an evaluation whose overall test accuracy >= this (None: never;
                        the paper / Zoology stop at 0.99)
    eval_every          evaluate every this many epochs (and always after the last one)
    eval_every_steps    if set, evaluate every this many optimiser steps instead (and at the end);
                        useful with few, long epochs so that early stopping can act mid-epoch
    device              "auto" (CUDA if available, else CPU), "cpu", "cuda" or "cuda:N"
    precision           "auto" (bf16 autocast on CUDA, fp32 on CPU), "fp32" or "bf16"
    """

    epochs: int = Field(8, ge=1)
    batch_size: int = Field(64, ge=1)
    eval_batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0, allow_inf_nan=False)
    weight_decay: float = Field(0.1, ge=0.0, allow_inf_nan=False)
    decay_all: bool = False
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.98)
    warmup_fraction: Fraction = 0.05
    min_lr_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    grad_clip: Annotated[float, Field(gt=0.0, allow_inf_nan=False)] | None = 1.0
    early_stop_accuracy: Annotated[float, Field(gt=0.0, le=1.0)] | None = 0.99
    eval_every: int = Field(1, ge=1)
    eval_every_steps: int | None = Field(None, ge=1)
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?)$")] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"


class RunConfig(_Frozen):
    """One run: what to train on, what to train, how, and with which seed.

    experiment, profile, variant   labels (where the run comes from; part of the hash)
    seed                           parameter-initialisation seed (the data has its own,
                                   ``data.seed``; sweeps set both from the grid's ``seed``)
    """

    experiment: str = Field("adhoc", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    profile: str = Field("adhoc", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    variant: str = Field("default", min_length=1)
    seed: int = Field(0, ge=0)
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
        """Flat fields for tables: variant, task, passes, d_model, feature_dim, lr, seed, ..."""
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
            "seed": self.seed,
            "data_seed": self.data.seed,
        }
