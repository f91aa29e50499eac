"""The shared token's copy in B read against the state after the first set alone, on kept models.

    python bench/first_set_read.py [--profile checking] [--order short-first]
                                   [--slices 4,256 4,512 16,256] [--examples 256] [--device cpu]
                                   [--out CSV]

For every kept causal model of an sd_order profile (``results/sd_order/PROFILE/models/``) and each
chosen test slice of the ``--order`` (short-first: |A| < |B|, the default; long-first; both), the
first ``--examples`` examples are answered three ways: as
trained (the parallel forward), with the linear-attention layers reading at the copy's column
from their state after the separator (:func:`synthetic.analysis.first_set_read.answers_with_first_set_read`,
``swap_at="copy"``), and with the same swap at another token of B (``"other"``, the control).
One row per model, slice, way and quarter of B that holds the copy: examples and accuracy
(binomial s.e. sqrt(acc (1 - acc) / n)), with the model's ``mechanism`` from its record. Prints
per variant, mechanism and way the mean accuracy by quarter and the fall from the first quarter to
the last, then per model (accuracy, fall) the mean ± s.e. over models, and per slice the mean ±
s.e. over models of each model's accuracy on it (with the copy read against A alone, the check
against a state that holds the first set and nothing of B: the one-pass reader's memory, whose
size the order decides), and where a pair is read in both orders, short-first minus long-first per
model (mean over its pairs), mean ± s.e. over models; ``--summarize CSV [CSV ...]`` prints these
from CSVs it wrote. ``--slices``
defaults to the three short-first pairs above with ``--order short-first``, and to every slice of
the order otherwise. About 50-90 s a d_model 48 model on a 2-core CPU with
the defaults, 210-235 s with all ten slices of one order.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import analyse_kept_models, kept_model_parser, one_pass
from synthetic.analysis.first_set_read import (
    ORDERS,
    first_set_read_table,
    mirror_pair_gaps,
    pooled_accuracy_and_fall,
)
from synthetic.config import RunConfig
from synthetic.model import LanguageModel
from synthetic.plots.positions import order_table
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import SplitData


def _slice(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slices takes |A|,|B| pairs like 4,256; got {text!r}") from None
    if not (a >= 1 and b >= 1 and a != b):
        raise argparse.ArgumentTypeError(f"--slices: pairs |A|,|B| of sizes >= 1 that differ; got {text!r}")
    return a, b


#: the short-first slices read when ``--order short-first`` names none
DEFAULT_SLICES = [(4, 256), (4, 512), (16, 256)]


def with_order(out: pd.DataFrame) -> pd.DataFrame:
    """``out`` with an ``order`` column: short-first where |A| < |B|, long-first where |A| > |B|."""
    return out.assign(order=(out.size_a < out.size_b).map({True: "short-first", False: "long-first"}))


def summarize(out: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism, order, way): models, and the mean ± s.e. over models of each
    model's accuracy (all its examples of the chosen slices of that order) and of its fall from B's
    first part to its last (mean over the slices; long first, B's parts are mostly empty)."""
    keys = ["variant", "mechanism", "order", "way", "config_hash"]
    rows = [(*key, *pooled_accuracy_and_fall(one, "quarter")) for key, one in with_order(out).groupby(keys)]
    per_model = pd.DataFrame(rows, columns=[*keys, "accuracy", "fall"])
    table = per_model.groupby(keys[:-1]).agg(
        models=("config_hash", "nunique"), accuracy=("accuracy", "mean"), accuracy_se=("accuracy", "sem"),
        fall=("fall", "mean"), fall_se=("fall", "sem"),
    )  # fmt: skip
    return table.reset_index()


def mirror_gaps(out: pd.DataFrame, column: str = "accuracy", way: str = "way") -> pd.DataFrame:
    """Per (variant, mechanism, ``way``: the column naming how the model was read): models, mirror
    pairs, the mean ± s.e. over models of each model's short-first minus long-first ``column``
    (mean over its pairs read in both orders,
    :func:`~synthetic.analysis.first_set_read.mirror_pair_gaps`), and in how many model x pair
    cells short-first is ahead; empty without a pair read both ways."""
    keys = ["variant", "mechanism", way]
    columns = [*keys, "models", "pairs", "gap", "gap_se", "short_first_ahead"]
    rows = []
    for key, group in out.groupby(keys):
        gaps = (mirror_pair_gaps(one, column) for _, one in group.groupby("config_hash"))
        per_model = [g for g in gaps if not g.empty]
        if not per_model:
            continue
        means = pd.Series([g.mean() for g in per_model])
        cells = pd.concat(per_model)
        pairs = cells.index.unique().size
        ahead = f"{int((cells > 0).sum())} / {len(cells)}"
        rows.append((*key, len(per_model), pairs, means.mean(), means.sem(), ahead))
    return pd.DataFrame(rows, columns=columns)


def main(argv: list[str] | None = None) -> int:
    parser = kept_model_parser(__doc__.split("\n\n")[0], examples=256)
    parser.add_argument("--order", choices=ORDERS, default="short-first", help="which slices to read")
    parser.add_argument("--slices", type=_slice, nargs="+", help="|A|,|B| pairs (default: see above)")
    parser.add_argument("--quarters", type=int, default=4, help="parts of B")
    parser.add_argument("--out", default="figures/data/sd_first_set_read_checking.csv")
    parser.add_argument(
        "--summarize", type=Path, nargs="+", help="measure nothing: print the summaries of these CSVs"
    )
    args = parser.parse_args(argv)
    if args.summarize is not None:
        _print_summaries(pd.concat([pd.read_csv(path) for path in args.summarize], ignore_index=True))
        return 0
    slices = args.slices
    if slices is None and args.order == "short-first":
        slices = DEFAULT_SLICES
    short = args.order == "short-first"
    wrong = [f"{a},{b}" for a, b in slices or [] if args.order != "both" and (a < b) != short]
    if wrong:
        listed = " ".join(wrong)
        parser.error(f"--slices {listed}: not {args.order} (short-first: |A| < |B|); or pass --order both")
    check_int("quarters", args.quarters, 1)

    def read(model: LanguageModel, _: RunConfig, test: SplitData) -> pd.DataFrame:
        rows = first_set_read_table(
            model, test, slices=slices, max_examples=args.examples, parts=args.quarters, order=args.order
        )
        return rows.rename(columns={"part": "quarter"}).drop(columns="accuracy_se")  # the CSV's columns

    # causal only: the recurrent form reads left to right
    out = analyse_kept_models(args, read, args.out, causal_only=True, select=one_pass)
    means = out.pivot_table(index=["variant", "mechanism", "way"], columns="quarter", values="accuracy")
    means["fall"] = means[0] - means[args.quarters - 1]
    print(means.round(3).to_string())
    _print_summaries(out)
    return 0


def _print_summaries(out: pd.DataFrame) -> None:
    print(summarize(out).round(3).to_string(index=False))
    print(order_table(out).round(3).to_string(index=False))  # per slice
    gaps = mirror_gaps(out)
    if not gaps.empty:
        print(gaps.round(3).to_string(index=False))


if __name__ == "__main__":
    raise SystemExit(main())
