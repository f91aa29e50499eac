"""Which part of the initialisation decides the sign of the SD order effect? A bisection.

    python bench/init_bisection.py [--d-model 64] [--lr 1e-3] [--seeds 0 1] [--out figures/data]

At the quick profile's shapes and budget, the two init schemes (:mod:`synthetic.layers.init`)
give causal Based order effects of opposite sign (docs/results/cpu-scale.md).
The schemes differ in (1) the embedding table, N(0, 1) under "torch" vs N(0, 0.02^2) under
"reference" (it is also the tied output head), and (2) every linear layer, U(±1/sqrt(fan_in)) vs
N(0, 0.02^2) with the residual outputs scaled by 1/sqrt(2L). This script trains causal Based under
each scheme with the embedding of the *other* scheme swapped in, beside the two plain schemes, and
prints short-first minus long-first accuracy per arm (mean over seeds, per-seed values, binomial
standard error). Writes ``init_bisection.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synthetic.model as model_module
from bench.prefill import git_commit
from synthetic.config import RunConfig
from synthetic.layers.init import init_embedding_
from synthetic.plots import training
from synthetic.results import ResultsStore, load
from synthetic.sweep import expand, load_experiment
from synthetic.train import run_records


@contextlib.contextmanager
def embedding_of(scheme: str | None) -> Iterator[None]:
    """Within the block, every model's embedding is drawn as under ``scheme`` (None: its own)."""
    if scheme is None:
        yield
        return
    original = model_module.init_embedding_

    def swapped(weight: torch.Tensor, generator: torch.Generator, _own: str) -> None:
        init_embedding_(weight, generator, scheme)

    model_module.init_embedding_ = swapped  # type: ignore[assignment]
    try:
        yield
    finally:
        model_module.init_embedding_ = original


def quick_configs(d_model: int, lr: float, seeds: list[int], init: str) -> list[RunConfig]:
    """The sd_order quick profile's causal Based runs at ``d_model`` with ``init`` and ``lr``."""
    runs = [
        c
        for c in expand(load_experiment("sd_order"), "quick")
        if c.variant == "Based (causal)" and c.model.d_model == d_model and c.seed in seeds
    ]
    return [
        c.model_copy(
            update={
                "profile": "init-bisection",
                "model": c.model.model_copy(update={"init": init}),
                "train": c.train.model_copy(update={"lr": lr}),
            }
        )
        for c in runs
    ]


ARMS = [  # (name, init scheme of the linear layers, embedding drawn as under)
    ("reference", "reference", None),
    ("reference + torch embedding", "reference", "torch"),
    ("torch + reference embedding", "torch", "reference"),
    ("torch", "torch", None),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d-model", type=int, default=64, help="model width (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds (default 0 1)")
    parser.add_argument("--out", type=Path, default=None, help="folder for init_bisection.csv")
    parser.add_argument("--work", type=Path, default=Path("results/init_bisection"), help="records folder")
    args = parser.parse_args(argv)
    rows = []
    for name, init, embedding in ARMS:
        store = ResultsStore(args.work / f"{name.replace(' ', '_').replace('+', 'plus')}.jsonl")
        cfgs = [
            c
            for c in quick_configs(args.d_model, args.lr, args.seeds, init)
            if c.config_hash() not in store.done_hashes()
        ]
        if cfgs:
            with embedding_of(embedding):
                for record in run_records(cfgs):
                    store.append(record)
        df = load(store.path)
        runs = training.run_orders(df, training.sd_order_of, "short first", "long first")
        rows.append(
            {
                "arm": name,
                "linear_init": init,
                "embedding_init": embedding or init,
                "d_model": args.d_model,
                "lr": args.lr,
                "seeds": len(runs),
                "short_first": runs["short first"].mean(),
                "long_first": runs["long first"].mean(),
                "difference": runs.difference.mean(),
                "seed_differences": ";".join(f"{v:.4f}" for v in runs.sort_values("seed").difference),
                "binomial_se": float((runs["difference se"] ** 2).sum() ** 0.5 / len(runs)),
                "commit": git_commit(),
            }
        )
        print(
            f"{name:30s} difference {rows[-1]['difference']:+.3f} (seeds {rows[-1]['seed_differences']})",
            flush=True,
        )
    table = pd.DataFrame(rows)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "init_bisection.csv", index=False)
    print(table.round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
