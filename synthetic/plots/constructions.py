"""Figure: the feature dimension f (state) an SD construction needs, by input order.

For the causal construction (Prop G.18) in A-first and B-first order, the JRT construction and the
prefix (non-causal) construction (:mod:`sdtheory.constructions`), with |B| fixed and |A| varied:

* ``measured``: the smallest f at which a random sign kernel reaches 99% accuracy on random
  instances (half intersecting; accuracy = right decision and, if intersecting, a shared element),
  found by :func:`sdtheory.constructions.needed_feature_dim`;
* ``bound (random, per instance)``: f = ceil(8 m ln(q/δ)), δ = 0.01, which guarantees >= 99% on
  every fixed instance (m stored, q queried elements);
* ``paper ε-kernel (random, all instances)``: f = ceil(18 m² ln(c(c-1)/δ)) (Eq. 20 + union bound);
* ``data-dependent kernel (exact)``: f = m + ceil(log2 c) (Eq. 19; always correct);
* ``code kernel (exact, all instances)``: f of the Reed–Solomon ∘ Hadamard kernel with
  ε <= 1/(3m) (deterministic, data-independent, always correct; capped by the K = 1 code,
  f = 2^ceil(log2 c)).

The causal construction's m is the first set's size; JRT's and prefix's is min(|A|, |B|). The state
is f · d_v values plus 3 (causal) or 5 (JRT, prefix) scalars, d_v = 1; the CSV gives both.

Sizes (quick profile): n = 4096, |B| = 8, |A| in {1, 2, ..., 64}, 400 trials per point over 4
kernel draws; about 25 s of CPU time (48 s wall measured on a busy 2-core machine), well under the
2-minute budget. The paper profile uses |A| up to 256 and 2000 trials; the ``smoke`` profile (the
notebook's) the quick sizes with 100 trials (about 5 s).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from sdtheory.constructions import (
    JRTSD,
    AccuracyProbe,
    CausalSD,
    PrefixSD,
    SDConstruction,
    needed_feature_dim,
)
from sdtheory.instances import Order
from sdtheory.ipkernels import CodeSpec, code_bits, random_kernel_dim, random_kernel_dim_uniform
from synthetic.plots.common import FigureContext, save_figure

TARGET = 0.99
DELTA = 1 - TARGET
QUANTITIES = (
    "measured (random kernel)",
    "bound (random, per instance)",
    "paper ε-kernel (random, all instances)",
    "data-dependent kernel (exact)",
    "code kernel (exact, all instances)",
)
PANEL_TITLES = {
    "causal": "causal, one pass: stores the first set",
    "JRT": "JRT, two passes: stores min(|A|, |B|)",
    "prefix": "prefix (non-causal): stores min(|A|, |B|)",
}
PROFILES: dict[str, dict[str, object]] = {
    "quick": dict(n=4096, b_size=8, a_sizes=(1, 2, 4, 8, 16, 32, 64), trials=400),
    "paper": dict(n=4096, b_size=8, a_sizes=(1, 2, 4, 8, 16, 32, 64, 128, 256), trials=2000),
    # the notebook's size: the quick sizes with 100 trials per point (about 5 s of CPU); the
    # measured f is a coarser estimate (99% of 100 trials), the formulas are the same
    "smoke": dict(n=4096, b_size=8, a_sizes=(1, 2, 4, 8, 16, 32, 64), trials=100),
}


def needed_dim_table(
    n: int = 4096,
    b_size: int = 8,
    a_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64),
    trials: int = 400,
    seed: int = 0,
    rel_tol: float = 0.02,
) -> pd.DataFrame:
    """Tidy table, one row per (construction, order, |A|, quantity).

    Columns: n, A_size, B_size, first_size, construction, order, stored_size, query_size,
    quantity, f, state_values, state_bits_fp32, accuracy (measured rows; else NaN), trials.
    Instances and kernel seeds depend only on (seed, |A|), so all constructions and orders see the
    same random numbers.
    """
    rows = []
    constructions: tuple[SDConstruction, ...] = (CausalSD(), JRTSD(), PrefixSD())
    for a_size in a_sizes:
        for con in constructions:
            for order in Order:
                probe = AccuracyProbe(con, n, a_size, b_size, order, trials=trials, seed=seed + a_size)
                layout = probe.layout
                m, q = con.stored_size(layout), con.query_size(layout)
                est = needed_feature_dim(probe, target=TARGET, rel_tol=rel_tol)
                dims = {
                    QUANTITIES[0]: (est.f, est.accuracy),
                    QUANTITIES[1]: (random_kernel_dim(m, q, DELTA), float("nan")),
                    QUANTITIES[2]: (random_kernel_dim_uniform(m, n, DELTA), float("nan")),
                    QUANTITIES[3]: (m + code_bits(n), 1.0),
                    QUANTITIES[4]: (CodeSpec().dim(n, m, q), 1.0),
                }
                for quantity, (f, acc) in dims.items():
                    size = con.state_size(layout, f)
                    rows.append(
                        dict(
                            n=n,
                            A_size=a_size,
                            B_size=b_size,
                            first_size=layout.first_size,
                            construction=con.name,
                            order=order.value,
                            stored_size=m,
                            query_size=q,
                            quantity=quantity,
                            f=f,
                            state_values=size.values,
                            state_bits_fp32=size.bits_fp32,
                            accuracy=acc,
                            trials=trials if quantity == QUANTITIES[0] else 0,
                        )
                    )
    return pd.DataFrame(rows)


def build_construction_dims(ctx: FigureContext) -> None:
    params = PROFILES.get(ctx.profile)
    if params is None:
        raise ValueError(f"profile={ctx.profile!r} is not known; allowed: {sorted(PROFILES)}")
    df = needed_dim_table(**params)  # type: ignore[arg-type]
    names = ["causal", "JRT", "prefix"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.0), sharey=True, layout="constrained")
    for ax, name in zip(axes, names, strict=True):
        sub = df[df.construction == name]
        sns.lineplot(
            sub,
            x="A_size",
            y="f",
            hue="order",
            style="quantity",
            style_order=list(QUANTITIES),
            markers=True,
            ax=ax,
            legend=name == names[-1],
        )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(PANEL_TITLES[name])
        ax.set_xlabel(f"|A|   (|B| = {int(df.B_size.iloc[0])}, n = {int(df.n.iloc[0])})")
        ax.set_ylabel(f"feature dim f (state = f values + O(1)) for {TARGET:.0%} accuracy")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    fig.suptitle(
        "Feature dimension an SD construction needs: causal depends on the first set, JRT / prefix on "
        "min(|A|, |B|)\n(JRT and prefix: the A-first and B-first curves coincide except at |A| = |B|, "
        "where each stores the set it reads first)"
    )
    save_figure(fig, "sd_construction_feature_dim", df, ctx)


FIGURES = {"sd_construction_feature_dim": build_construction_dims}
