"""Kernel benchmark figure: prefill / training-step time vs sequence length, from the CSV that
``bench/prefill.py`` measured on a GPU (``figures/data/prefill_<gpu>.csv``, committed).

The figure only redraws measured rows; it never times anything itself (no GPU is needed). Each
CSV row names its device, torch, triton and commit.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from synthetic.plots.common import FigureContext, save_figure

LABELS = {
    "sdpa_flash": "SDPA flash (FA2 class)",
    "sdpa_cudnn": "SDPA cuDNN",
    "fla_fused_chunk_based": "fla fused_chunk_based",
    "fla_parallel_based": "fla parallel_based",
    "based": "ours: Based (Triton)",
    "pla": "ours: prefix lin. attn, enc N/2 (JRT-RNN)",
    "jrt_prompt": "ours: Based on 2N (JRT-Prompt)",
    "reference": "ours: torch reference",
}


def load_prefill(ctx: FigureContext) -> pd.DataFrame:
    """All measured prefill rows under ``ctx.data_dir`` (one CSV per GPU kind)."""
    # bench/prefill.py writes prefill_<gpu>.csv; this figure's own table is kernels_prefill.csv
    paths = sorted(ctx.data_dir.glob("prefill_*.csv"))
    if not paths:
        raise FileNotFoundError(
            f"no prefill_*.csv in {ctx.data_dir}: run `make bench` on a GPU to measure the kernels"
        )
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def build_prefill(ctx: FigureContext) -> None:
    df = load_prefill(ctx)
    df = df[(df.B == 16) & df.ms.notna()].copy()
    df["provider"] = df.provider.map(LABELS).fillna(df.provider)
    modes = [m for m in ("fwd", "fwdbwd") if m in set(df["mode"])]
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4.2), squeeze=False)
    for ax, mode in zip(axes[0], modes, strict=True):
        sub = df[df["mode"] == mode]
        sns.lineplot(sub, x="N", y="ms", hue="provider", style="device", marker="o", ax=ax)
        ax.set(xscale="log", yscale="log", xlabel="sequence length N (tokens)", ylabel="time (ms, median)")
        ns = sorted(sub.N.unique())
        ax.set_xticks(ns, [f"{n // 1024}k" for n in ns])
        ax.minorticks_off()
        ax.set_title(
            f"{'prefill (forward)' if mode == 'fwd' else 'forward + backward'}: B=16, H=16, f=16, dv=64, bf16"
        )
        ax.legend(fontsize=7)
    save_figure(fig, "kernels_prefill", df, ctx)


FIGURES = {"kernels_prefill": build_prefill}
