"""Where the kept models' answers go on SD: the shared token, a B token before its copy, one after
it, a token of A alone, or one in neither set.

    python bench/wrong_answers.py [--profile checking] [--examples 400] [--parts 16]
                                  [--device cpu] [--out CSV]
    python bench/wrong_answers.py --summarize CSV
    python bench/wrong_answers.py --false-match [--examples 400] [--out CSV]

For every kept model of an sd_order profile (``results/sd_order/PROFILE/models/``) and every
one-pass test slice, the first ``--examples`` examples answered by the model (argmax at the answer
column; :func:`synthetic.analysis.wrong_answers.answer_kind_table`), grouped by the part of B that
holds the shared token's copy (``--parts`` equal parts; 16 gives every index of a B of 16). One row
per model, slice and part, with the model's ``mechanism`` from its record. Prints, per variant,
mechanism and order, the mean ± s.e. over models of each kind's share, long first split by whether
the copy sits among B's first :data:`EARLY` indices (slices with |B| >= 8): a check against a noisy
memory of a long first set that fires for a B token not in A, with the first token that fires
answered, would send the answers to B tokens before the copy (``--false-match`` finds them tied to
the place in B instead). About 40-65 s a d_model 48 model on a
2-core CPU with the defaults.

``--false-match`` tests that reading on the kept causal models, on the long-first slices with
|B| >= 8 (:data:`FALSE_MATCH_SLICES`; :func:`synthetic.analysis.wrong_answers.false_match_table`):
where the answer was a B token x before the copy, x is replaced by a token in neither set and the
model answers again (the control replaces the B token next to x instead). It writes one row per
model and slice (default ``figures/data/sd_false_match_checking.csv``) and prints, per mechanism,
the mean over models of each share. About 20-30 s a model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import analyse_kept_models, kept_model_parser, one_pass, over_models
from synthetic.analysis.wrong_answers import (
    ANSWER_KINDS,
    FALSE_MATCH_COLUMNS,
    answer_kind_table,
    false_match_table,
)
from synthetic.config import RunConfig
from synthetic.tasks._checks import check_int
from synthetic.tasks.data import SplitData

#: the CSV of the answer kinds (``--false-match`` writes sd_false_match_checking.csv unless --out is given)
OUT = "figures/data/sd_wrong_answers_checking.csv"
#: the CSVs' float format: shares of at most --examples answers, which 6 digits hold
SHARES = "%.6g"
#: long first, a copy among B's first EARLY indices has few B tokens before it
EARLY = 4
#: the paper profile's long-first test slices with |B| >= 8, where most wrong answers are early B tokens
FALSE_MATCH_SLICES = [(256, 16), (512, 16), (768, 16), (768, 8)]


def false_match_summary(out: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism): models, examples (``n``, ``n_control``) and the mean (and s.e.,
    ``<share> se``) over models of each share of
    :func:`~synthetic.analysis.wrong_answers.false_match_table` (a model's slices pooled by their
    examples)."""
    shares = [c for c in FALSE_MATCH_COLUMNS if c.endswith("_gone")]
    weight = {c: ("n_control" if "other" in c else "n") for c in shares}
    pooled = out.assign(**{c: out[c].fillna(0) * out[weight[c]] for c in shares})
    per_model = pooled.groupby(["variant", "mechanism", "config_hash"])[[*shares, "n", "n_control"]].sum()
    for c in shares:
        per_model[c] = per_model[c] / per_model[weight[c]]
    keys = ["variant", "mechanism"]
    table = over_models(per_model.reset_index(), keys, shares).set_index(keys)
    counts = per_model.groupby(keys)[["n", "n_control"]].sum()
    table.insert(1, "n", counts.n)
    table.insert(2, "n_control", counts.n_control)
    return table.reset_index()


def summarize(out: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism, group): models, and the mean (a column per kind) and s.e. (``<kind>
    se``) over models of each kind's share of the model's answers (its rows of the group pooled by
    examples). Groups: short-first; long-first with |B| < 8; long-first with |B| >= 8 and the copy
    at an index below / from :data:`EARLY` (by the part's first index; with ``--parts`` >= |B|
    each part is one index)."""
    order = (out.size_a < out.size_b).map({True: "short-first", False: "long-first"})
    late = out.first_index >= EARLY
    group = order.where(order == "short-first", "long-first, |B| < 8")
    group = group.where(~((order == "long-first") & (out.size_b >= 8)), "long-first, |B| >= 8, copy at B 0-3")
    group = group.where(
        ~((order == "long-first") & (out.size_b >= 8) & late), "long-first, |B| >= 8, copy at B 4+"
    )
    kinds = list(ANSWER_KINDS)
    weighted = out[kinds].mul(out.n, axis=0).assign(n=out.n, group=group)
    keys = ["variant", "mechanism", "group", "config_hash"]
    pooled = pd.concat([out[["variant", "mechanism", "config_hash"]], weighted], axis=1).groupby(keys).sum()
    shares = pooled[kinds].div(pooled.n, axis=0).reset_index()
    return over_models(shares, keys[:-1], kinds)


def main(argv: list[str] | None = None) -> int:
    parser = kept_model_parser(__doc__.split("\n\n")[0], examples=400)
    parser.add_argument("--parts", type=int, default=16, help="parts of B")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--summarize", type=Path, help="measure nothing: print the summary of this CSV")
    parser.add_argument(
        "--false-match", action="store_true", help="replace the early B token answered (above)"
    )
    args = parser.parse_args(argv)
    if args.false_match:
        return _false_match(args)
    if args.summarize is not None:
        print(summarize(pd.read_csv(args.summarize)).round(3).to_string(index=False))
        return 0
    check_int("parts", args.parts, 1)

    def kinds(model: nn.Module, _: RunConfig, test: SplitData) -> pd.DataFrame:
        return answer_kind_table(model, test, max_examples=args.examples, parts=args.parts)

    out = analyse_kept_models(args, kinds, args.out, select=one_pass, float_format=SHARES)
    print(summarize(out).round(3).to_string(index=False))
    return 0


def _false_match(args: argparse.Namespace) -> int:
    out_path = args.out if args.out != OUT else "figures/data/sd_false_match_checking.csv"
    if args.summarize is not None:
        print(false_match_summary(pd.read_csv(args.summarize)).round(3).to_string(index=False))
        return 0

    def test_false_matches(model: nn.Module, cfg: RunConfig, test: SplitData) -> pd.DataFrame:
        return false_match_table(model, test, cfg.data.vocab_size, slices=FALSE_MATCH_SLICES,
                                 max_examples=args.examples, seed=cfg.seed)  # fmt: skip

    # causal only: the non-causal models' wrong answers are tokens of A alone, not early B tokens
    out = analyse_kept_models(
        args, test_false_matches, out_path, causal_only=True, select=one_pass, float_format=SHARES
    )
    print(false_match_summary(out).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
