"""Which pass's copies of the shared token the kept JR-2 (JRT-Prompt) models read.

    python bench/pass_copies.py [--profile paper] [--examples 128] [--slices 16,256 256,16]
                                [--device cpu] [--out CSV] [--resume]
    python bench/pass_copies.py --summarize CSV

For every kept model of an sd_order profile that reads its prompt twice (``passes = 2``; JRT-Prompt)
and each chosen test slice (default: all twenty), the first ``--examples`` examples are read under
all 16 conditions of :mod:`synthetic.analysis.pass_copies`: each of the shared token's four copies
``A1 B1 A2 B2`` kept or replaced by a token absent from the example. The CSV holds per model and
slice, for each condition, the accuracy (binomial s.e.) and the shared token's mean logit (s.e. over
examples), and for each pair of copies its mean interaction (logits) with the other copies kept and
with them replaced. Printed: per variant, d_model, mechanism and order, the mean ± s.e. over models
(each model: the mean over its slices of the order) of the accuracy with only a pair of copies kept
and of each pair's interaction with the others replaced.

What it tells: a model that stores the first set and checks the second, in pass 1, needs ``A1 B1``;
the reader reading twice makes possible stores the smaller set, so long first it needs ``B1 A2``
(B stored in pass 1, A checked in pass 2). 9.5-15 minutes a model (d_model 64 or 96)
on a 2-core CPU with the defaults (measured on the 8 kept models); not yet timed on a GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import HASH_COLUMN, analyse_kept_models, kept_model_parser
from synthetic.analysis.pass_copies import condition_summary, pair_summary, pass_copy_intervention
from synthetic.analysis.sd_layout import segments_of
from synthetic.config import RunConfig
from synthetic.model import LanguageModel
from synthetic.plots.pass_copies import ALL_KEPT, PAIRS, model_summary, order_gaps
from synthetic.tasks.config import SDSegmentConfig
from synthetic.tasks.data import SplitData

#: the columns that name a row's slice
SLICE = ["slice", "size_a", "size_b", "order"]


def _slice(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slices takes |A|,|B| pairs like 16,256; got {text!r}") from None
    return a, b


def per_slice(table: pd.DataFrame) -> pd.DataFrame:
    """One model's :func:`pass_copy_intervention` rows as the CSV's rows: per slice, one row per
    condition (``kind`` "condition": ``what`` the kept copies, ``accuracy``, ``accuracy_se``,
    ``logit``, ``logit_se``) and one per pair and background (``kind`` "pair, others kept" /
    "pair, others removed": ``what`` the pair, ``interaction``, ``interaction_se``)."""
    conditions = condition_summary(table, SLICE).rename(columns={"kept": "what"}).assign(kind="condition")
    pairs = [
        pair_summary(table, SLICE, background=bg)
        .rename(columns={"pair": "what"})
        .assign(kind=f"pair, others {bg}")
        for bg in ("kept", "removed")
    ]
    return pd.concat([conditions, *pairs], ignore_index=True)


def _print_summaries(out: pd.DataFrame) -> None:
    table = model_summary(out)
    for kind, whats in (
        ("condition", [*PAIRS, ALL_KEPT]),
        ("pair, others removed", list(PAIRS)),
        ("pair, others kept", list(PAIRS)),
    ):
        part = table[(table.kind == kind) & table.what.isin(whats)]
        cells = part.assign(cell=[f"{m:+.3f} ± {s:.3f}" if kind != "condition" else f"{m:.3f} ± {s:.3f}"
                                  for m, s in zip(part["mean"], part.se, strict=True)])  # fmt: skip
        wide = cells.pivot_table(index=["variant", "d_model", "mechanism", "order", "models"], columns="what",
                                 values="cell", aggfunc="first")  # fmt: skip
        label = (
            "accuracy with only these copies kept" if kind == "condition" else f"interaction (logits), {kind}"
        )
        print(f"\n{label}, mean ± s.e. over models:")
        print(wide[[w for w in whats if w in wide.columns]].to_string())
    gaps = order_gaps(out)
    gaps = gaps[gaps.what.isin([*PAIRS, ALL_KEPT])]
    numbers = zip(gaps["mean"], gaps.se, gaps.ahead, gaps.models, strict=True)
    cells = gaps.assign(cell=[f"{m:+.3f} ± {s:.3f} ({a} / {n})" for m, s, a, n in numbers])
    wide = cells.pivot_table(
        index=["variant", "d_model", "mechanism"], columns="what", values="cell", aggfunc="first"
    )
    print("\nshort first minus long first, accuracy with only these copies kept (models ahead),")
    print("mean ± s.e. over models:")
    print(wide[[w for w in [*PAIRS, ALL_KEPT] if w in wide.columns]].to_string())


def main(argv: list[str] | None = None) -> int:
    parser = kept_model_parser(__doc__.split("\n\n")[0], examples=128)
    parser.set_defaults(profile="paper")
    parser.add_argument("--slices", type=_slice, nargs="+", help="|A|,|B| pairs (default: every test slice)")
    parser.add_argument("--out", default="figures/data/sd_pass_copies_paper.csv")
    parser.add_argument(
        "--summarize", type=Path, nargs="+", help="measure nothing: print the summaries of these CSVs"
    )
    args = parser.parse_args(argv)
    if args.summarize is not None:
        _print_summaries(pd.concat([pd.read_csv(path, dtype={HASH_COLUMN: str}) for path in args.summarize]))
        return 0

    def read(model: LanguageModel, cfg: RunConfig, test: SplitData) -> pd.DataFrame:
        segments = segments_of(test)
        if args.slices is not None:
            sizes = {(c.size_a, c.size_b): s for s in segments if isinstance(c := s.config, SDSegmentConfig)}
            missing = [f"{a},{b}" for a, b in args.slices if (a, b) not in sizes]
            if missing:
                raise SystemExit(
                    f"--slices {' '.join(missing)}: not test slices of this profile {sorted(sizes)}"
                )
            segments = [sizes[pair] for pair in dict.fromkeys(args.slices)]
        table = pass_copy_intervention(model, segments, max_examples=args.examples)
        return per_slice(table).assign(d_model=cfg.model.d_model)

    out = analyse_kept_models(
        args, read, args.out, select=lambda cfg: cfg.data.passes == 2, float_format="%.6g"
    )
    _print_summaries(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
