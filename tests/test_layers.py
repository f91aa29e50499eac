"""Import rules between the layers of the packages, read from the source with ``ast``.

Every ``import`` counts, also the lazy ones inside functions; only imports under
``if TYPE_CHECKING:`` are skipped (they never run). An edge ``a -> b`` means module a imports
module b (``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at
``pkg`` itself). The layers of sdtheory, bottom to top:

* ``sdtheory.combinatorics``: general combinatorics; imports nothing else of sdtheory;
* the core (every other ``sdtheory`` module but ``__main__``): imports the core and
  combinatorics, never ``sdtheory.profile``;
* ``sdtheory.profile``: the per-position memory profile; imports the core and combinatorics;
* ``sdtheory.__main__``: the command line, the top layer, may import everything; nothing
  imports it.

In synthetic, ``synthetic.plots`` takes tables and gives figures: it never imports what trains or
decides what is trained (``synthetic.sweep``, ``synthetic.train``, ``synthetic.ensemble``,
``synthetic.members``, ``synthetic.figures``). ``synthetic.analysis`` reads trained models and
test sets and writes tables: it never imports what trains either, and what it reads (the model,
the layers, the kernels, the tasks, the configs) never imports it, so imports point one way
(training and figures may call the analysis, not the reverse).

Run records are built in one module only, ``synthetic.record``: no other module of synthetic or
bench builds a mapping with a key only a record has (``schema``, ``config_hash``, ...; a dict
display, ``dict(...)``, ``.update(...)``, ``.setdefault(...)`` or ``x[key] = ...``); they read
records through its type.

No package may have an import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, list[str], int, bool]]:
    """(imported module, imported names, line, at module level) for every import that can run."""
    out: list[tuple[str, list[str], int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit_stmt(sub, top)
                continue
            visit_stmt(child, top)

    def visit_stmt(child: ast.AST, top: bool) -> None:
        if isinstance(child, ast.Import):
            for alias in child.names:
                out.append((alias.name, [], child.lineno, top))
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (child.level - 1)]
                base = ".".join([*package, base] if base else package)
            out.append((base, [a.name for a in child.names], child.lineno, top))
        inside_function = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        visit(child, top and not inside_function and not isinstance(child, ast.ClassDef))

    visit(tree, True)
    return out


def import_graph(package: str) -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """Edges between the modules of ``package`` (a top-level folder of the repository), and the
    line of the first import behind each edge."""
    files = sorted((ROOT / package).rglob("*.py"))
    modules = {_module_name(f): f for f in files}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    lines: dict[tuple[str, str], int] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, names, line, _top in _imports(tree, name, path.name == "__init__.py"):
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            if len(candidates) < len(names) or not names:
                candidates.append(target)
            for c in candidates:
                while c and c not in modules and "." in c:  # import pkg.mod.attr -> pkg.mod
                    c = c.rsplit(".", 1)[0]
                if c in modules and c != name:
                    graph[name].add(c)
                    lines.setdefault((name, c), line)
    return graph, lines


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted(found)


def _describe(comps: list[list[str]], graph: dict[str, set[str]], lines: dict[tuple[str, str], int]) -> str:
    parts = []
    for comp in comps:
        edges = [f"{a} -> {b} (line {lines[a, b]})" for a in comp for b in sorted(graph[a]) if b in comp]
        parts.append("; ".join(edges))
    return "\n".join(parts)


def layer(module: str) -> str:
    """The layer of an sdtheory module: combinatorics, core, profile or cli."""
    if module == "sdtheory.__main__":
        return "cli"
    if module == "sdtheory.combinatorics" or module.startswith("sdtheory.combinatorics."):
        return "combinatorics"
    if module == "sdtheory.profile" or module.startswith("sdtheory.profile."):
        return "profile"
    return "core"


ALLOWED = {
    "combinatorics": {"combinatorics"},
    "core": {"core", "combinatorics"},
    "profile": {"profile", "core", "combinatorics"},
    "cli": {"cli", "profile", "core", "combinatorics"},
}


def layer_violations(graph: dict[str, set[str]], lines: dict[tuple[str, str], int]) -> list[str]:
    out = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if layer(b) not in ALLOWED[layer(a)] or layer(b) == "cli":  # nothing imports the CLI
                out.append(f"{a} ({layer(a)}) imports {b} ({layer(b)}), line {lines[a, b]}")
    return out


def test_sdtheory_has_no_import_cycle() -> None:
    graph, lines = import_graph("sdtheory")
    assert len(graph) > 20  # the walk found the package
    found = cycles(graph)
    assert not found, "import cycles in sdtheory:\n" + _describe(found, graph, lines)


def test_sdtheory_layers_import_downwards_only() -> None:
    graph, lines = import_graph("sdtheory")
    assert {layer(m) for m in graph} == set(ALLOWED)
    violations = layer_violations(graph, lines)
    assert not violations, "\n".join(violations)


def test_sdtheory_never_imports_torch_at_module_level() -> None:
    bad: list[str] = []
    for path in sorted((ROOT / "sdtheory").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = _module_name(path)
        for target, _names, line, top in _imports(tree, name, path.name == "__init__.py"):
            if top and target.split(".")[0] == "torch":
                bad.append(f"{name}, line {line}")
    assert not bad, bad


def test_the_checks_see_lazy_imports_cycles_and_layers() -> None:
    """The walk itself: a lazy import inside a function is an edge, an import under
    TYPE_CHECKING is not, a two-module cycle is reported, and core -> profile is a violation."""
    src = "import os\nif TYPE_CHECKING:\n    from sdtheory import a\ndef f():\n    from sdtheory import b\n"
    found = _imports(ast.parse(src), "sdtheory.x", False)
    assert [(t, n, top) for t, n, _, top in found] == [("os", [], True), ("sdtheory", ["b"], False)]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    graph = {"sdtheory.one_way": {"sdtheory.profile.memory"}, "sdtheory.profile.memory": set()}
    assert layer_violations(graph, {("sdtheory.one_way", "sdtheory.profile.memory"): 1})
    combinatorics_up = {"sdtheory.combinatorics.codes": {"sdtheory.instances"}, "sdtheory.instances": set()}
    assert layer_violations(combinatorics_up, {("sdtheory.combinatorics.codes", "sdtheory.instances"): 1})


def test_synthetic_has_no_import_cycle() -> None:
    graph, lines = import_graph("synthetic")
    assert len(graph) > 20
    found = cycles(graph)
    assert not found, "import cycles in synthetic:\n" + _describe(found, graph, lines)


#: what synthetic.plots never imports: plots take tables, synthetic.figures decides what is trained
TRAINING_MODULES = frozenset(
    {"synthetic.sweep", "synthetic.train", "synthetic.ensemble", "synthetic.members", "synthetic.figures"}
)


def plots_violations(graph: dict[str, set[str]], lines: dict[tuple[str, str], int]) -> list[str]:
    return [
        f"{a} imports {b}, line {lines[a, b]}"
        for a in sorted(graph)
        if a == "synthetic.plots" or a.startswith("synthetic.plots.")
        for b in sorted(graph[a] & TRAINING_MODULES)
    ]


def test_synthetic_plots_never_train() -> None:
    graph, lines = import_graph("synthetic")
    assert TRAINING_MODULES <= set(graph) and "synthetic.plots.training" in graph  # the walk found them
    violations = plots_violations(graph, lines)
    assert not violations, "\n".join(violations)
    fake = {"synthetic.plots.x": {"synthetic.sweep", "synthetic.plots.common"}, "synthetic.results": set()}
    assert plots_violations(fake, {("synthetic.plots.x", "synthetic.sweep"): 3}) == [
        "synthetic.plots.x imports synthetic.sweep, line 3"
    ]


#: keys that only a run record has: a mapping built with one of them is a record being built
RECORD_KEYS = frozenset(
    {
        "schema",
        "config_hash",
        "slice_counts",
        "early_stopped",
        "train_tokens",
        "state_seq_len",
        "ensemble_size",
    }
)
#: the one module that builds run records (synthetic/record.py)
RECORD_MODULE = "synthetic.record"


def record_builders(tree: ast.AST) -> list[int]:
    """Lines that build a run record: a dict display with a record key, ``dict(...)`` or
    ``.update(...)`` / ``.setdefault(...)`` naming one, or an assignment to ``x[<record key>]``."""

    def is_record_key(node: ast.expr | None) -> bool:
        return isinstance(node, ast.Constant) and node.value in RECORD_KEYS

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and any(is_record_key(k) for k in node.keys):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            named = (isinstance(func, ast.Name) and func.id == "dict") or (
                isinstance(func, ast.Attribute) and func.attr in ("update", "setdefault")
            )
            keyed = any(k.arg in RECORD_KEYS for k in node.keywords) or (
                isinstance(func, ast.Attribute)
                and func.attr == "setdefault"
                and node.args
                and is_record_key(node.args[0])
            )
            if named and keyed:
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Subscript) and is_record_key(t.slice) for t in targets):
                lines.append(node.lineno)
    return sorted(lines)


def test_records_are_built_in_one_module_only() -> None:
    """Only synthetic.record builds run records; everything else reads them through its type."""
    bad: list[str] = []
    for package in ("synthetic", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = _module_name(path)
            if name == RECORD_MODULE:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            bad.extend(f"{name}, line {line}" for line in record_builders(tree))
    assert not bad, "run records built outside synthetic/record.py:\n" + "\n".join(bad)
    record = ast.parse((ROOT / "synthetic" / "record.py").read_text(encoding="utf-8"))
    assert record_builders(record)  # the walk finds the builders where they are
    fakes = [
        'r = {"schema": 1, "config_hash": h}',
        "r = dict(config_hash=h, status='ok')",
        "r.update(schema=1)",
        'r["config_hash"] = h',
        "r.setdefault('schema', 1)",
    ]
    assert all(record_builders(ast.parse(src)) == [1] for src in fakes)
    assert not record_builders(ast.parse('h = r["config_hash"]\nrow = {"variant": v}'))  # reads are fine


#: what synthetic.analysis reads; none of it may import the analysis (imports point one way)
BELOW_ANALYSIS = (
    "synthetic.model",
    "synthetic.config",
    "synthetic.layers",
    "synthetic.kernels",
    "synthetic.tasks",
)


def _within(module: str, packages: tuple[str, ...] | frozenset[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def analysis_violations(graph: dict[str, set[str]], lines: dict[tuple[str, str], int]) -> list[str]:
    out = []
    for a in sorted(graph):
        for b in sorted(graph[a]):
            if _within(a, ("synthetic.analysis",)) and b in TRAINING_MODULES:
                out.append(f"{a} imports {b}, line {lines[a, b]} (the analysis never trains)")
            if _within(a, BELOW_ANALYSIS) and _within(b, ("synthetic.analysis",)):
                out.append(
                    f"{a} imports {b}, line {lines[a, b]} (what the analysis reads must not import it)"
                )
    return out


def test_synthetic_analysis_never_trains_and_imports_point_one_way() -> None:
    graph, lines = import_graph("synthetic")
    assert "synthetic.analysis.probes" in graph and "synthetic.analysis" in graph  # the walk found them
    violations = analysis_violations(graph, lines)
    assert not violations, "\n".join(violations)
    fake = {
        "synthetic.analysis.x": {"synthetic.ensemble", "synthetic.model"},
        "synthetic.tasks.y": {"synthetic.analysis.x"},
        "synthetic.sweep": {"synthetic.analysis.x"},
    }
    found = analysis_violations(fake, {(a, b): 7 for a, bs in fake.items() for b in bs})
    assert found == [
        "synthetic.analysis.x imports synthetic.ensemble, line 7 (the analysis never trains)",
        "synthetic.tasks.y imports synthetic.analysis.x, line 7 (what the analysis reads must not import it)",
    ]
