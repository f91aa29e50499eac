"""Every notebook under notebooks/ executes headless without error (nbclient), every figure cell
shows its figure (an image/png output), and every figure the README shows is rebuilt live by some
notebook.

A figure cell is a code cell tagged ``figure`` (cell metadata ``{"tags": ["figure",
"figure:<name>"]}``, ``<name>`` the figure's registry name). Untagged cells that look like they
draw (``plt.show``, ``display(Image``/``display(fig``, a ``draw_*``/``build_*`` call) are an error,
so a figure cell cannot escape the check by losing its tag.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: nbformat's NotebookNode: a dict whose keys read as attributes too (nbformat has no type information)
NotebookNode = Any
DRAWS = re.compile(r"plt\.show\(|display\(\s*(Image|fig)\b|\bdraw_\w+\(|\bbuild_\w+\b|\bshow\(")


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _draws(source: str) -> bool:
    """Whether a cell draws at top level: calls ``show`` (``plt.show``, a helper), ``display`` of an
    Image / figure, or a ``draw_*`` / ``build_*`` function; defining a helper that draws is not
    drawing. Cells that are not plain Python (magics) are judged by :data:`DRAWS`."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return bool(DRAWS.search(source))
    stack: list[ast.AST] = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if (
                name == "show"
                or name.startswith(("draw_", "build_"))
                or any(isinstance(a, ast.Call) and _called_name(a) == "Image" for a in node.args)
            ):
                return True
            if name == "display" and any(
                isinstance(a, ast.Name) and a.id.startswith("fig") for a in node.args
            ):
                return True
        if isinstance(node, ast.Name) and node.id.startswith("build_"):
            return True  # a builder passed along, e.g. show(ctx, name, build_x)
        if isinstance(node, ast.Attribute) and node.attr.startswith("build_"):
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _figure_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code" and "figure" in _tags(c)]


def test_there_are_notebooks() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "sd_order_training.ipynb",
        "theory_figures.ipynb",
        "mqar_order.ipynb",
        "kernels_prefill.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs_and_tags_its_figure_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "clear outputs"
    figures = _figure_cells(nb)
    assert figures, f"{path.name} has no cell tagged 'figure'"
    for cell in figures:
        names = [t.removeprefix("figure:") for t in _tags(cell) if t.startswith("figure:")]
        assert len(names) == 1, f"a figure cell needs one 'figure:<name>' tag: {cell.source[:80]!r}"
    untagged = [c.source for c in code if "figure" not in _tags(c) and _draws(c.source)]
    assert not untagged, f"cells that draw but are not tagged 'figure': {untagged}"


def _readme_figures() -> set[str]:
    """Figure names of the README's "What each figure shows" table (``| `name` | ... |`` rows)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.find("### What each figure shows")
    assert start >= 0, "README.md has no '### What each figure shows' section"
    section = text[start:].split("\n#", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))


def test_every_figure_in_the_readme_has_a_notebook() -> None:
    from synthetic.figures import registry

    shown = _readme_figures()
    assert shown and shown <= set(registry()), (
        f"README figures not in the registry: {shown - set(registry())}"
    )
    covered = {
        t.removeprefix("figure:")
        for path in NOTEBOOKS
        for cell in _figure_cells(nbformat.read(path, as_version=4))
        for t in _tags(cell)
        if t.startswith("figure:")
    }
    assert shown <= covered, f"no notebook rebuilds {sorted(shown - covered)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_shows_its_figures(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # results written by a notebook (the smoke profile) go to a temporary folder, not the repo
    monkeypatch.setenv("READTWICE_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in Jupyter
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    for cell in _figure_cells(nb):
        kinds = [out.get("output_type") for out in cell.get("outputs", [])]
        images = [out for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
        assert images, f"figure cell shows no image/png (outputs: {kinds}): {cell.source[:80]!r}"


def test_figure_cell_heuristic() -> None:
    assert _draws("plt.show()") and _draws("display(Image(filename='x.png'))") and _draws("display(fig)")
    assert _draws("fig = training.draw_order_panels(t, 'a', 'b', 't')")
    assert _draws("kernels.build_prefill(ctx)") and _draws("show(ctx, 'n', theory.build_memory_order)")
    assert not _draws("def show(ctx):\n    display(Image(filename='x'))\n    plt.show()")
    assert not _draws("table = training.order_table(df, f, 'a', 'b')\ntable.round(3)")
    assert _draws("%matplotlib inline\nplt.show()")
