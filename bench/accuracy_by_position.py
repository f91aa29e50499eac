"""Accuracy of kept models by where the shared token sits: the quarter of A and of B that holds it.

    python bench/accuracy_by_position.py [--profile checking] [--min-size 128] [--quarters 4]
                                         [--device cpu] [--out CSV]
    python bench/accuracy_by_position.py --label CSV [--profile checking]

For each kept model of an sd_order profile (``results/sd_order/PROFILE/models/``, untracked: a
sweep with ``save_models`` keeps them, ``bash bench/gpu_session.sh unpack`` brings a GPU sweep's
back) and each test slice whose larger set has at least ``--min-size`` tokens, the model's answer
at the last column (argmax of its logits) against the shared token, grouped by the quarter of A
(``set`` = A: ``first_index``) and of B (``set`` = B: ``second_index``) that holds the token's copy.
One row per model, slice, set and quarter: examples and accuracy (its binomial standard error is
sqrt(acc (1 - acc) / n)), and the model's ``mechanism`` from its record's copy intervention:
``checks`` (the copies interact by more than 2 logits in both orders,
:func:`synthetic.plots.mechanism.checking_runs`), ``counts``, or ``not analysed``. Prints, per
variant, mechanism and slice, the mean accuracy over models by quarter. ``--label CSV`` measures
nothing: it rewrites the ``mechanism`` column of a CSV this script wrote (one written on a GPU
from carried weights) from the profile's records here.

What it separates: in a short-first slice a one-pass check against A happens when the shared token
comes up in B, after as many of B's tokens as precede it; in a long-first slice it happens after
all of A. If the check degrades with what the state holds besides A, accuracy falls across B's
quarters short-first. With ``--quarters 8`` the parts of slices with |B| = 256 and 768 line up
(the same mean number of B tokens before the copy), and the script prints per model how much
accuracy falls per 100 tokens of B read before the copy and per 100 after it
(:func:`synthetic.analysis.positions.prefix_and_suffix_slopes`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import each_kept_model
from synthetic.analysis.positions import position_part, prefix_and_suffix_slopes
from synthetic.analysis.readout import final_logits
from synthetic.analysis.sd_layout import segments_of, shared_copies
from synthetic.plots.mechanism import relabel_csv
from synthetic.results import results_path
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import SplitData


def by_position(model: nn.Module, test: SplitData, min_size: int, quarters: int) -> list[dict[str, object]]:
    """Rows (slice, size_a, size_b, set, quarter, n, accuracy) of one model on its test split."""
    rows: list[dict[str, object]] = []
    for segment in segments_of(test):
        copies = shared_copies(segment)
        if max(copies.size_a, copies.size_b) < min_size:
            continue
        logits = final_logits(model, copies.inputs, copies.prefix_len, batch_size=100)
        right = logits.argmax(1) == copies.shared
        for which, index, size in (
            ("A", copies.first_index, copies.size_a),
            ("B", copies.second_index, copies.size_b),
        ):
            quarter = position_part(index, size, quarters)
            for q in range(quarters):
                chosen = quarter == q
                rows.append({
                    "slice": copies.name, "size_a": copies.size_a, "size_b": copies.size_b, "set": which,
                    "quarter": q, "n": int(chosen.sum()),
                    "accuracy": float(right[chosen].mean()) if chosen.any() else float("nan"),
                })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="results", help="results folder")
    parser.add_argument(
        "--profile", default="checking", help="the sd_order profile whose kept models to read"
    )
    parser.add_argument("--min-size", type=int, default=128, help="slices whose larger set has at least this")
    parser.add_argument("--quarters", type=int, default=4, help="how many equal parts of a set")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="figures/data/sd_accuracy_by_position_checking.csv")
    parser.add_argument("--label", type=Path, help="only rewrite this CSV's mechanism column")
    args = parser.parse_args(argv)
    check_int("min_size", args.min_size, 1)
    check_int("quarters", args.quarters, 1)
    path = results_path(args.results, "sd_order", args.profile)
    if args.label is not None:
        print(f"wrote {args.label}: {relabel_csv(args.label, path)} models")
        return 0

    def read(model: nn.Module, _: object, test: SplitData) -> pd.DataFrame:
        return pd.DataFrame(by_position(model, test, args.min_size, args.quarters))

    out = each_kept_model(path, args.results, read, args.out, device=args.device)
    if out.empty:
        raise SystemExit(f"no kept weights under {path}: run the profile with save_models first")
    means = out.pivot_table(
        index=["variant", "mechanism", "slice", "set"], columns="quarter", values="accuracy"
    )
    print(means.round(3).to_string())
    slopes = prefix_and_suffix_slopes(out, min_size=max(args.min_size, 2))
    if not slopes.empty:  # accuracy lost per 100 tokens of B before / after the copy (short-first)
        slopes = slopes.merge(
            out.drop_duplicates("config_hash")[["config_hash", "variant", "mechanism", "seed"]]
        )
        print(slopes.sort_values(["variant", "mechanism", "seed"]).round(3).to_string(index=False))
        cols = ["fall_per_100", "s_before", "s_after"]
        print(
            slopes.groupby(["variant", "mechanism"])[cols].agg(["mean", "sem", "count"]).round(3).to_string()
        )
    print(f"wrote {args.out} ({len(out)} rows, {out.config_hash.nunique()} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
