"""Theory figures: memory (bits) a streaming algorithm needs for SD, by input order."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from sdtheory.instances import Order
from synthetic.plots.common import FigureContext, save_figure


def store_first_bits(n: int, first_size: int) -> int:
    """Bits of the one-pass "store the first set" algorithm: a bitmap of [n] or the list of the
    first set's elements at ceil(log2 n) bits each, whichever is smaller."""
    return min(n, first_size * max(1, math.ceil(math.log2(n))))


def one_pass_exact_bits(n: int, first_size: int) -> int:
    """ceil(log2 C(n, m)): the exact number of bits any deterministic one-pass algorithm needs
    after reading a first set of size m over [n] (decision SD, when m + second size <= n)."""
    return math.ceil(math.log2(math.comb(n, first_size))) if first_size else 0


def store_first_table(n: int = 256, b_size: int = 8, a_sizes: range = range(0, 65, 4)) -> pd.DataFrame:
    """Tidy table: for each |A| and each order, the bits of the store-first algorithm and the
    exact one-pass bound. Columns: n, A_size, B_size, order, quantity, bits."""
    rows = []
    for a_size in a_sizes:
        for order in Order:
            first = a_size if order is Order.A_FIRST else b_size
            for quantity, bits in (
                ("store-first algorithm", store_first_bits(n, first)),
                ("exact one-pass lower bound", one_pass_exact_bits(n, first)),
            ):
                rows.append(
                    dict(n=n, A_size=a_size, B_size=b_size, order=order.value, quantity=quantity, bits=bits)
                )
    return pd.DataFrame(rows)


def build_store_first(ctx: FigureContext) -> None:
    df = store_first_table()
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(df, x="A_size", y="bits", hue="order", style="quantity", markers=True, ax=ax)
    n, b = int(df.n.iloc[0]), int(df.B_size.iloc[0])
    ax.set_title(f"One-pass SD memory, n={n}, |B|={b}")
    ax.set_xlabel("|A|")
    ax.set_ylabel("state (bits)")
    save_figure(fig, "sd_store_first_bits", df, ctx)


FIGURES = {"sd_store_first_bits": build_store_first}
