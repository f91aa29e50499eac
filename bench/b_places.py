"""Which places of B the kept causal models prefer when membership says nothing, and whether the
short convolutions' view of the separator makes that preference.

    python bench/b_places.py [--profile checking] [--examples 400] [--device cpu] [--out CSV]
    python bench/b_places.py --summarize CSV

For every kept causal model of an sd_order profile (``results/sd_order/PROFILE/models/``) and the
slices of :data:`SLICES` (the long-first ones with |B| >= 8 and one short-first contrast), the
first ``--examples`` examples are read twice (:func:`synthetic.analysis.b_places.place_profile_table`):
as trained, and with every short convolution seeing A's last token at the separator's column
(:func:`synthetic.analysis.b_places.separator_hidden_from_convs`). One row per model, slice,
reading and index of B: the centred logit of the B token there (copy excluded) and the share of
answers it draws. Prints per mechanism, reading and order the mean ± s.e. over models of the
accuracy, then the same of the centred logit and of the share of answers drawn in three zones of
B: within the convolutions' reach of the separator (:func:`~synthetic.analysis.b_places.conv_reach`
columns), within it of the answer column, and the rest. About 28-39 s a d_model 48 model
on a 2-core CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.kept_models import analyse_kept_models, kept_model_parser, one_pass, over_models
from synthetic.analysis.b_places import conv_reach, place_profile_table, place_zones
from synthetic.config import RunConfig
from synthetic.model import LanguageModel
from synthetic.tasks.data import SplitData

OUT = "figures/data/sd_b_places_checking.csv"
#: the long-first test slices with |B| >= 8 of the paper profile, and a short-first contrast
SLICES = [(256, 16), (512, 16), (768, 16), (768, 8), (16, 256)]


def _zones(out: pd.DataFrame) -> pd.DataFrame:
    """Each model's :func:`~synthetic.analysis.b_places.place_zones`, with ``mechanism``,
    ``config_hash`` and ``order``."""
    frames = [
        place_zones(rows, int(rows.reach.iloc[0])).assign(mechanism=mechanism, config_hash=run)
        for (mechanism, run), rows in out.groupby(["mechanism", "config_hash"])
    ]
    zones = pd.concat(frames, ignore_index=True)
    return zones.assign(order=np.where(zones.size_a < zones.size_b, "short-first", "long-first"))


def accuracy_summary(out: pd.DataFrame) -> pd.DataFrame:
    """Per (mechanism, separator, order): models and the mean ± s.e. over models of each model's
    accuracy (mean over its slices of that order)."""
    keys = ["mechanism", "separator", "order"]
    per_slice = _zones(out).groupby([*keys, "config_hash", "slice"]).accuracy.first()
    per_model = per_slice.groupby([*keys, "config_hash"]).mean().reset_index()
    return over_models(per_model, keys, ["accuracy"])


def summarize(out: pd.DataFrame) -> pd.DataFrame:
    """Per (mechanism, separator, order, zone): models, and the mean ± s.e. over models of the
    zone's mean centred logit and of the share of examples answered with a B token of the zone
    (:func:`~synthetic.analysis.b_places.place_zones`); each model's value is the mean over its
    slices that have the zone."""
    keys = ["mechanism", "separator", "order", "zone"]
    per_model = _zones(out).groupby([*keys, "config_hash"])[["logit", "answers"]].mean().reset_index()
    return over_models(per_model, keys, ["logit", "answers"])


def _print_summaries(out: pd.DataFrame) -> None:
    print(accuracy_summary(out).round(3).to_string(index=False))
    print(summarize(out).round(3).to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = kept_model_parser(__doc__.split("\n\n")[0], examples=400)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--summarize", type=Path, help="measure nothing: print the summary of this CSV")
    args = parser.parse_args(argv)
    if args.summarize is not None:
        _print_summaries(pd.read_csv(args.summarize))
        return 0

    def places(model: LanguageModel, _: RunConfig, test: SplitData) -> pd.DataFrame:
        frames = [
            place_profile_table(model, test, slices=SLICES, max_examples=args.examples, hide_separator=hide)
            for hide in (False, True)
        ]
        return pd.concat(frames, ignore_index=True).assign(reach=conv_reach(model))

    # causal only: the non-causal models' wrong answers are tokens of A alone, not places of B
    _print_summaries(
        analyse_kept_models(args, places, args.out, causal_only=True, select=one_pass, float_format="%.6g")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
