"""Kernel benchmark figure: prefill / training-step time vs sequence length and batch, from the CSVs that
``bench/prefill.py`` measured on GPUs (``figures/data/prefill_<gpu>.csv``, committed; one line
style per GPU).

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


def _panels(df: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, x column, rows) per panel: time vs N at B = 16 and time vs B at N = 16k (where the
    batch sweep was measured), for each mode."""
    panels = []
    for mode in ("fwd", "fwdbwd"):
        what = "prefill (forward)" if mode == "fwd" else "forward + backward"
        sub = df[(df["mode"] == mode) & (df.B == 16)]
        if len(sub):
            panels.append((f"{what} vs N: B=16", "N", sub))
        by_b = df[(df["mode"] == mode) & (df.N == 16384)]
        if by_b.B.nunique() > 1:
            panels.append((f"{what} vs batch: N=16k", "B", by_b))
    return panels


def build_prefill(ctx: FigureContext) -> None:
    df = load_prefill(ctx)
    df = df[df.ms.notna()].copy()
    df["provider"] = df.provider.map(LABELS).fillna(df.provider)
    panels = _panels(df)
    palette = dict(zip(LABELS.values(), sns.color_palette("tab10", len(LABELS)), strict=True))
    palette.update({p: "gray" for p in df.provider.unique() if p not in palette})
    devices = sorted(df.device.unique())
    cols = 2 if len(panels) == 4 else len(panels)
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.6 * rows), squeeze=False)
    for ax, (title, x, sub) in zip(axes.flat, panels, strict=False):
        sns.lineplot(
            sub,
            x=x,
            y="ms",
            hue="provider",
            hue_order=[p for p in palette if p in set(sub.provider)],
            style="device",
            style_order=devices,  # the same dash pattern for a GPU in every panel
            marker="o",
            ax=ax,
            palette=palette,
        )
        ax.set(xscale="log", yscale="log", ylabel="time (ms, median)")
        ticks = sorted(sub[x].unique())
        if x == "N":
            ax.set_xticks(ticks, [f"{n // 1024}k" for n in ticks])
            ax.set_xlabel("sequence length N (tokens)")
        else:
            ax.set_xticks(ticks, [str(b) for b in ticks])
            ax.set_xlabel("batch size B")
        ax.minorticks_off()
        ax.set_title(f"{title}, H=16, f=16, dv=64, bf16", fontsize=9)
        ax.legend(fontsize=7)
    used = pd.concat([sub for _, _, sub in panels]).drop_duplicates()
    save_figure(fig, "kernels_prefill", used, ctx)


FIGURES = {"kernels_prefill": build_prefill}
