"""No import cycles in the ``exporter`` package (issue 14).

The graph is read from the source with ``ast``, not by importing: every ``import`` and
``from ... import`` anywhere in a module counts, at module level, inside functions (a
deferred import is still a dependency, only hidden) and under ``if TYPE_CHECKING:`` (a type
that must be imported from a module above is a layering error too).  Importing
``a.b.c`` also runs ``a`` and ``a.b`` (their ``__init__``), so those are edges as well:
a package's ``__init__`` that imports its own submodules while they import the package back
is a cycle, as Python executes it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import exporter

PACKAGE = Path(exporter.__file__).parent


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports (directly, or as a parent package)."""
    modules = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                # ``from pkg import sub`` imports the submodule when there is one
                targets = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                parts = target.split(".") if target else []
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    if dep in modules and dep != name:
                        deps.add(dep)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_the_kinds_of_import_that_make_cycles(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import x\n")  # deferred
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.d import Y\n")
    (pkg / "d.py").write_text("from . import c\n")  # relative
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub.e import E\n")
    (pkg / "sub" / "e.py").write_text("from pkg.sub import f\n")  # through the package's __init__
    (pkg / "sub" / "f.py").write_text("")
    (pkg / "g.py").write_text("import pkg.sub.f\n")  # no cycle: f imports nothing
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"], ["pkg.sub", "pkg.sub.e"]]


def test_no_import_cycles_in_the_package() -> None:
    graph = import_graph()
    assert "exporter.cycle" in graph and len(graph) > 30  # it read the real package
    found = cycles(graph)
    detail = "\n".join(
        " <-> ".join(c) + "\n    " + "\n    ".join(f"{v} -> {w}" for v in c for w in sorted(graph[v] & set(c))) for c in found
    )
    assert not found, f"import cycles in exporter:\n{detail}"
