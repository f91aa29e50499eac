"""Figure functions shared by `make figures` and the notebooks.

One module per family of figures. Each module exposes ``FIGURES``: a dict mapping a figure name
to a builder ``build(ctx: FigureContext) -> None`` that computes (or loads) its data, draws it and
saves it with :func:`synthetic.plots.common.save_figure`. Plots never fix numbers: they draw the
DataFrame they are given.
"""
