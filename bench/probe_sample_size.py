"""How much the state probes' bits depend on their fitting examples, on an untrained model.

    python bench/probe_sample_size.py [--examples 256 1000] [--out CSV]

The analysis mode ``checking`` probes a paper-scale model's state after the first set with 256
examples a test slice (128 fit the ridge probe, 128 score it; ``synthetic.train``). This script
builds the ``checking`` profile's causal Based model (d_model 48, f = 24, the paper code's init,
V = 2048) *untrained* and probes it at two test slices, (|A|, |B|) = (16, 256) and (256, 16), with
each number of examples in ``--examples``: the bits it reports for the whole state
(``info_bits``, a lower bound on what the state holds about the first set) say how far a probe of
that size is from what the state holds, and give the untrained baseline for the trained models'
probes (docs/results/paper-scale.md). CPU only, about a minute on 2 cores; the CSV goes to
``--out`` (default figures/data/probe_sample_size_untrained.csv).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.analysis.probes import probe_first_set
from synthetic.ensemble import load_splits
from synthetic.layers.based import BasedConfig
from synthetic.model import build_model
from synthetic.sweep import expand, load_experiment

SLICES = ("A=16,B=256", "A=256,B=16")


def _causal_based(pattern: Sequence[object]) -> bool:
    """Whether a model's mixer pattern holds a causal Based layer."""
    return any(isinstance(m, BasedConfig) and m.causal for m in pattern)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, nargs="+", default=[256, 1000])
    parser.add_argument("--out", default="figures/data/probe_sample_size_untrained.csv")
    args = parser.parse_args(argv)
    cfg = next(c for c in expand(load_experiment("sd_order"), "checking") if _causal_based(c.model.pattern))
    _, test = load_splits(cfg.data)
    model = build_model(cfg.model, test.vocab_size, seed=cfg.seed).eval()
    segments = [s for s in test.segments if s.name in SLICES]
    rows = []
    for n in args.examples:
        start = time.perf_counter()
        probes = probe_first_set(model, segments, points=("separator",), max_examples=n)
        whole = probes[probes.mixer == "all"]
        print(f"{n} examples a slice: {time.perf_counter() - start:.0f} s", flush=True)
        for _, r in whole.iterrows():
            rows.append(
                dict(
                    model="untrained causal Based, d_model 48, f 24, reference init",
                    slice=r.slice,
                    examples=n,
                    n_fit=r.n_fit,
                    n_eval=r.n_eval,
                    auc=round(r.auc, 4),
                    info_bits=round(r.info_bits, 2),
                    first_set_bits=round(r.first_set_bits, 1),
                )
            )
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    table.to_csv(args.out, index=False)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
