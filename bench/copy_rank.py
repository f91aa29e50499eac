"""How the kept models rank the shared token among the example's other set tokens, in both orders.

    python bench/copy_rank.py [--profile checking] [--read "as trained"] [--examples 256]
                              [--device cpu] [--out CSV] [--resume]
    python bench/copy_rank.py --summarize CSV [CSV ...]

For every kept model of an sd_order profile (``results/sd_order/PROFILE/models/``; with ``--read
"copy reads A alone"`` the causal ones only) and every one-pass test slice, the first
``--examples`` examples (:func:`synthetic.analysis.copy_rank.copy_rank_table`): accuracy, and the
shared token's rank AUC among the example's other set tokens (``auc_sets``: |A| + |B| - 2
competitors, the same in both orders of a mirror pair) and among B's other tokens alone
(``auc_b``). One row per model and slice, with the model's ``mechanism`` from its record;
``--resume`` keeps the rows already in ``--out`` and measures only the models it does not name. Prints
per variant, mechanism and read the mean ± s.e. over models of each model's short-first minus
long-first gap (mean over its mirror pairs) in each measure, and in how many model x pair cells
short-first is ahead. About 26-39 s a d_model 48 model on a 2-core CPU as trained; with the copy
read against A alone (token by token) 174-209 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.first_set_read import mirror_gaps
from bench.kept_models import analyse_kept_models, kept_model_parser
from synthetic.analysis.copy_rank import READS, copy_rank_table
from synthetic.config import RunConfig
from synthetic.tasks.data import SplitData

#: the CSV written by default for each read
OUT = {
    READS[0]: "figures/data/sd_copy_rank_checking.csv",
    READS[1]: "figures/data/sd_copy_rank_checking_first_set_read.csv",
}
#: the measures whose mirror gaps the summary prints
MEASURES = ("accuracy", "auc_sets", "auc_b")


def summarize(out: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, mechanism, read, measure): models, mirror pairs, the mean ± s.e. over models of
    the short-first minus long-first gap (``gap``, ``gap_se``) and the model x pair cells with
    short-first ahead."""
    frames = [mirror_gaps(out, measure, way="read").assign(measure=measure) for measure in MEASURES]
    table = pd.concat(frames, ignore_index=True)
    order = ["variant", "mechanism", "read", "measure"]
    return table[[*order, "models", "pairs", "gap", "gap_se", "short_first_ahead"]].sort_values(order)


def main(argv: list[str] | None = None) -> int:
    parser = kept_model_parser(__doc__.split("\n\n")[0], examples=256)
    parser.add_argument("--read", choices=READS, default=READS[0], help="how each example is read")
    parser.add_argument("--out", help="the CSV (default: one per --read, under figures/data/)")
    parser.add_argument(
        "--summarize", type=Path, nargs="+", help="measure nothing: print the summary of these CSVs"
    )
    args = parser.parse_args(argv)
    if args.summarize is not None:
        out = pd.concat([pd.read_csv(path) for path in args.summarize], ignore_index=True)
        print(summarize(out).round(3).to_string(index=False))
        return 0

    def rank(model: nn.Module, _: RunConfig, test: SplitData) -> pd.DataFrame:
        return copy_rank_table(model, test, read=args.read, max_examples=args.examples)

    causal_only = args.read != READS[0]  # the first-set read goes left to right
    out = analyse_kept_models(
        args, rank, args.out or OUT[args.read], causal_only=causal_only, float_format="%.6g"
    )
    print(summarize(out).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
