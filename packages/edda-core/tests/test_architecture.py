"""The shape of the code, checked (docs/architecture.md): one-way layers, the injected clock, module and function sizes.

Each test parses the sources; none imports them, so a cycle is caught even where Python would tolerate it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[2]
CORE = PACKAGES / "edda-core" / "src" / "edda"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
# Imports a core module may make inside a function: sibling packages that are optional at run time.
LAZY_SIBLINGS = {"edda_asgi", "edda_outbox", "edda_storage_sql", "edda_mcp", "edda_viewer"}
# The only modules that may read the system clock or make random ids: everything else gets them injected.
CLOCK_MODULES = {"clock.py"}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("time", "time"), ("uuid", "uuid4"), (None, "uuid4")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _core_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, ast.AST]]:
    """Every edda module imported anywhere in ``path``: top level, inside functions, under TYPE_CHECKING."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in modules:
                    yield target, node
                elif base in modules:
                    yield base, node


def _graph() -> dict[str, set[str]]:
    modules = _core_modules()
    return {name: {t for t, _ in _imports(path, modules) if t != name} for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert len(graph) > 30 and "edda._worker" in graph["edda._app"] and "edda._run" in graph["edda._engine"]


def test_edda_core_imports_form_no_cycle() -> None:
    # The package itself (edda/__init__.py) re-exports everything, so a module importing `edda` would close a cycle.
    assert _cycles(_graph()) == []


def test_the_cycle_check_catches_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_below_the_worker_imports_the_app_or_the_worker() -> None:
    graph = _graph()
    top = {"edda", "edda._app", "edda._worker"}
    offenders = {m: sorted(graph[m] & top) for m in graph if m.startswith("edda._") and m not in top and graph[m] & top}
    # Alias modules (edda.app, ...) are the only other importers of the app.
    assert offenders == {}


def test_no_import_inside_a_function_except_optional_siblings() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Import | ast.ImportFrom):
                        names = [sub.module or ""] if isinstance(sub, ast.ImportFrom) else [a.name for a in sub.names]
                        if any(n.split(".")[0] not in LAZY_SIBLINGS for n in names):
                            offenders.append(f"{path.relative_to(CORE)}:{sub.lineno} in {node.name}(): {names}")
    assert offenders == []


def _forbidden_calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if (owner, func.attr) in FORBIDDEN_CALLS:
                yield node.lineno, f"{owner}.{func.attr}()"
        elif isinstance(func, ast.Name) and (None, func.id) in FORBIDDEN_CALLS:
            yield node.lineno, f"{func.id}()"


def test_every_clock_read_and_random_id_goes_through_the_injected_sources() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        if path.name in CLOCK_MODULES or "testing" in path.relative_to(CORE).parts:
            continue
        for line, call in _forbidden_calls(ast.parse(path.read_text())):
            offenders.append(f"{path.relative_to(CORE)}:{line}: {call}")
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\ndatetime.now()\n",
        "import time\ntime.time()\n",
        "from uuid import uuid4\nuuid4()\n",
    ],
)
def test_the_clock_check_catches_each_forbidden_call(source: str) -> None:
    assert len(list(_forbidden_calls(ast.parse(source)))) == 1


def _source_files() -> list[Path]:
    return sorted(PACKAGES.glob("*/src/**/*.py"))


def test_no_source_module_is_over_500_lines_without_saying_why() -> None:
    offenders = []
    for path in _source_files():
        text = path.read_text()
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_MODULE_LINES and "Longer than 500 lines" not in docstring:
            offenders.append(f"{path.relative_to(PACKAGES)}: {text.count(chr(10))} lines")
    assert offenders == []


def test_no_function_is_over_60_lines() -> None:
    offenders = []
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append(f"{path.relative_to(PACKAGES)}:{node.lineno} {node.name}(): {length} lines")
    assert offenders == []
