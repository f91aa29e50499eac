"""Saving figures with the CSV behind them, and the context a figure builder receives.

Importing the plots never chooses a matplotlib backend (a notebook keeps its inline backend);
scripts that draw headless choose one themselves (``python -m synthetic.figures`` selects Agg).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd


@dataclass(frozen=True)
class FigureContext:
    """Where a figure builder writes and which experiment profile it reads.

    ``out_dir`` receives ``<name>.png`` and ``<name>.pdf``; ``out_dir / "data"`` receives
    ``<name>.csv``. ``results_dir`` holds training results (``results/<experiment>/<profile>``);
    ``retrain`` names figures drawn from committed results whose missing runs may be trained.
    """

    out_dir: Path
    profile: str = "quick"
    results_dir: Path = Path("results")
    retrain: frozenset[str] = frozenset()

    @property
    def data_dir(self) -> Path:
        return self.out_dir / "data"


def save_figure(fig: plt.Figure, name: str, data: pd.DataFrame, ctx: FigureContext) -> list[Path]:
    """Write ``fig`` as PNG (150 dpi) and PDF (without a creation date) and ``data`` as CSV; close
    the figure. Building the same figure twice writes the same bytes.

    Returns the written paths.
    """
    if data.empty:
        raise ValueError(f"figure {name!r}: refusing to save a figure drawn from an empty table")
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    paths = [ctx.out_dir / f"{name}.png", ctx.out_dir / f"{name}.pdf", ctx.data_dir / f"{name}.csv"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    # no creation date: the same figure gives the same bytes, so a rebuild leaves the tree clean
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})
    plt.close(fig)
    data.to_csv(paths[2], index=False)
    return paths
