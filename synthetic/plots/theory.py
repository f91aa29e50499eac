"""Theory figure: memory (bits) that set disjointness needs, by input order and number of passes.

``sd_memory_order``: bits vs |A| at fixed |B|, for A-first and B-first streams, in a 2 x 2 grid:

* columns: a small universe (n = 12) where the exact one-pass bound is computed by brute force
  (distinct rows of the communication matrix, :func:`sdtheory.one_way.one_way_states`), and a large
  one (n = 1024) where it comes from the closed form ceil(log2 C(n, first)) checked against the
  brute force in the tests;
* top row, one pass: the exact bound and the register of the store-first algorithm, measured by
  running it (:class:`sdtheory.streaming.StoreFirst`); both depend on the set that comes first;
* bottom row, JR-p: the JRT two-pass algorithm (paper Algorithm 3) and the p-pass algorithm,
  measured, with the JR-p lower bound log2 C(n, min(|A|, |B|)) / (2p - 1) (order-free).

Every measured number is the serialised state size of an algorithm that was run on a random valid
instance of that layout and answered it correctly.
"""

from __future__ import annotations

from typing import Any, TypedDict

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sdtheory import bounds
from sdtheory.instances import Order, SDInstance, encode_stream
from sdtheory.one_way import one_way_states
from sdtheory.streaming import JRTTwoPass, MultiPass, StoreFirst, StreamingAlgorithm, run_batch
from synthetic.plots.common import FigureContext, save_figure


class Panel(TypedDict):
    """One panel of the figure: SD over [n], |B| = b_size, one point per |A| in a_sizes."""

    n: int
    b_size: int
    a_sizes: list[int]


SMALL: Panel = {"n": 12, "b_size": 4, "a_sizes": list(range(1, 9))}
LARGE: Panel = {"n": 1024, "b_size": 32, "a_sizes": [1, 4, 8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256]}
MANY_PASSES = 4

COLORS = {Order.A_FIRST.value: "tab:blue", Order.B_FIRST.value: "tab:orange", "either": "0.35"}
#: matplotlib line style of each quantity (keyword arguments of ``Axes.plot``)
STYLES: dict[str, dict[str, Any]] = {
    "exact one-pass bound": dict(ls="-", marker="o"),
    "store-first (measured)": dict(ls="--", marker="s"),
    "JRT two-pass, Alg. 3 (measured)": dict(ls="-", marker="o"),
    f"{MANY_PASSES}-pass algorithm (measured)": dict(ls="--", marker="^"),
    "JR-2 lower bound": dict(ls=":", marker=None),
    f"JR-{MANY_PASSES} lower bound": dict(ls="-.", marker=None),
}


def _measured_bits(alg: StreamingAlgorithm, inst: SDInstance, order: Order, passes: int) -> int:
    """Run ``alg`` on ``inst`` and return its serialised state size; check the answer."""
    layout = inst.layout(order, passes)
    tokens = encode_stream(inst, order, passes)[None, :]
    out, _ = run_batch(alg, tokens, layout)
    assert out is not None
    if bool(out[0]) != inst.disjoint:
        raise AssertionError(f"{alg!r} answered {inst} wrongly; the figure only shows correct algorithms")
    return alg.state_bits()


def memory_order_table(seed: int = 0) -> pd.DataFrame:
    """The numbers behind ``sd_memory_order``: one row per (panel, |A|, order, quantity).

    Columns: panel, n, A_size, B_size, order ("A-first", "B-first" or "either"), passes,
    quantity, kind ("lower bound" / "measured"), source ("brute force", "closed form",
    "measured"), bits.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for panel, cfg in (("small", SMALL), ("large", LARGE)):
        n, l = int(cfg["n"]), int(cfg["b_size"])
        for k in cfg["a_sizes"]:
            base = dict(panel=panel, n=n, A_size=k, B_size=l)
            inst = SDInstance.random(n, k, l, rng)

            def add(
                order: str,
                passes: int,
                quantity: str,
                kind: str,
                source: str,
                bits: float,
                base: dict[str, Any] = base,
            ) -> None:
                rows.append(
                    {**base, "order": order, "passes": passes, "quantity": quantity}
                    | {"kind": kind, "source": source, "bits": float(bits)}
                )

            for order in Order:
                first, second = (k, l) if order is Order.A_FIRST else (l, k)
                if panel == "small":
                    exact = one_way_states(n, first, second).bits
                    add(order.value, 1, "exact one-pass bound", "lower bound", "brute force", exact)
                else:
                    exact = bounds.one_pass_exact_bits(n, first, second)
                    add(order.value, 1, "exact one-pass bound", "lower bound", "closed form", exact)
                add(
                    order.value,
                    1,
                    "store-first (measured)",
                    "measured",
                    "measured",
                    _measured_bits(StoreFirst(), inst, order, 1),
                )
                add(
                    order.value,
                    2,
                    "JRT two-pass, Alg. 3 (measured)",
                    "measured",
                    "measured",
                    _measured_bits(JRTTwoPass(), inst, order, 2),
                )
                add(
                    order.value,
                    MANY_PASSES,
                    f"{MANY_PASSES}-pass algorithm (measured)",
                    "measured",
                    "measured",
                    _measured_bits(MultiPass(), inst, order, MANY_PASSES),
                )
            for p in (2, MANY_PASSES):
                add(
                    "either",
                    p,
                    f"JR-{p} lower bound",
                    "lower bound",
                    "closed form",
                    bounds.jrp_lower_bound_rank_bits(n, k, l, p),
                )
    return pd.DataFrame(rows)


def build_memory_order(ctx: FigureContext) -> None:
    df = memory_order_table()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5), sharex="col")
    rows = {
        0: ["exact one-pass bound", "store-first (measured)"],
        1: [
            "JRT two-pass, Alg. 3 (measured)",
            f"{MANY_PASSES}-pass algorithm (measured)",
            "JR-2 lower bound",
            f"JR-{MANY_PASSES} lower bound",
        ],
    }
    for col, (panel, cfg) in enumerate((("small", SMALL), ("large", LARGE))):
        sub = df[df.panel == panel]
        for row, quantities in rows.items():
            ax = axes[row, col]
            for quantity in quantities:
                for order, grp in sub[sub.quantity == quantity].groupby("order", sort=False):
                    grp = grp.sort_values("A_size")
                    hollow = order == Order.B_FIRST.value  # B-first drawn hollow so overlaps stay visible
                    ax.plot(
                        grp.A_size,
                        grp.bits,
                        color=COLORS[str(order)],
                        label=f"{quantity}, {order}",
                        markersize=8 if hollow else 4,
                        markerfacecolor="none" if hollow else COLORS[str(order)],
                        lw=1.2 if hollow else 2.0,
                        **STYLES[quantity],
                    )
            ax.axvline(cfg["b_size"], color="0.7", lw=0.8)
            ax.text(
                cfg["b_size"],
                0.02,
                " |A| = |B|",
                color="0.45",
                fontsize=8,
                transform=ax.get_xaxis_transform(),
            )
            src = "exact bound by brute force" if panel == "small" else "exact bound in closed form"
            what = "one pass" if row == 0 else f"two and {MANY_PASSES} passes (JR-p)"
            ax.set_title(f"{what}: n = {cfg['n']}, |B| = {cfg['b_size']} ({src})", fontsize=10)
            ax.set_ylabel("state (bits)")
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
            if row == 1:
                ax.set_xlabel("|A|")
    fig.suptitle(
        "Set disjointness memory vs |A|: one pass pays for the set that comes first;\n"
        "reading twice (JRT) or p times pays for min(|A|, |B|), in either order",
        fontsize=12,
    )
    fig.tight_layout()
    save_figure(fig, "sd_memory_order", df, ctx)


FIGURES = {"sd_memory_order": build_memory_order}
