"""`make figures`: build every registered figure into figures/ (PNG + PDF + CSV).

    python -m synthetic.figures [--profile quick|paper] [--only NAME ...] [--list] [--out DIR]

Figure builders live in the modules listed in :data:`FIGURE_MODULES`; each exposes ``FIGURES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from synthetic.plots.common import FigureContext

FIGURE_MODULES: tuple[str, ...] = (
    "synthetic.plots.theory",
    "synthetic.plots.constructions",
    "synthetic.plots.kernels",
    "synthetic.plots.training",
)


def registry() -> dict[str, Callable[[FigureContext], None]]:
    """All figure builders by name, in module order."""
    out: dict[str, Callable[[FigureContext], None]] = {}
    for mod_name in FIGURE_MODULES:
        mod = importlib.import_module(mod_name)
        for name, build in mod.FIGURES.items():
            if name in out:
                raise ValueError(f"figure name {name!r} is registered twice ({mod_name})")
            out[name] = build
    return out


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")  # headless files only; the plots themselves never choose a backend
    parser = argparse.ArgumentParser(prog="python -m synthetic.figures", description=__doc__)
    parser.add_argument("--profile", default="quick", choices=["quick", "paper"])
    parser.add_argument("--only", nargs="*", default=None, help="build only these figures")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    parser.add_argument("--out", type=Path, default=Path("figures"))
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args(argv)

    builders = registry()
    if args.list:
        print("\n".join(builders))
        return 0
    names = list(builders) if args.only is None else args.only
    unknown = [n for n in names if n not in builders]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {sorted(builders)}")
    ctx = FigureContext(out_dir=args.out, profile=args.profile, results_dir=args.results)
    for name in names:
        t0 = time.perf_counter()
        builders[name](ctx)
        print(f"figure {name}: {time.perf_counter() - t0:.1f} s -> {args.out}/{name}.png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
