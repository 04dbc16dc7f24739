"""Every import path the seed documents resolves, or fails with a message that says where the name went.

The paths are extracted from the seed text itself (../shared/seeds beside the repository), not from a list kept
here: every dotted ``edda.…`` path and every entry of the API reference (003), and every ``from edda… import …``
statement in any seed. A path resolves when Python's own import machinery finds it; the acceptable failures are the
ones Edda raises on purpose: a sibling package that is not installed (the message names the ``pip install`` line) and
a 0.16 name with no equivalent here (the message says what replaced it).

The rest checks the aliasing itself: alias modules re-export the canonical objects (no second implementation), the
modules named like the decorators they hold (``edda.workflow``, ``edda.activity``, ``edda.compensation``) leave the
decorators bound in every import order, names from sibling packages import lazily, and docs/import-paths.md matches.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import edda
from edda import _aliases

REPO = Path(__file__).resolve().parents[3]
SEEDS = Path(os.environ.get("EDDA_SEEDS_DIR", REPO.parent / "shared" / "seeds"))
EDDA_DIR = Path(edda.__file__).parent
IMPORT_PATHS_DOC = REPO / "docs" / "import-paths.md"

# The sibling packages a shim forwards to: import name -> the line its ImportError must name.
SIBLINGS = {
    "edda_outbox": "pip install edda-outbox",
    "edda_asgi": "pip install edda-asgi",
    "edda_storage_sql": 'pip install "edda-storage-sql[sqlite]"',
    "edda_mcp": "pip install edda-mcp",
    "edda_opentelemetry": "pip install edda-opentelemetry",
    "edda_mirascope": "pip install edda-mirascope",
    "edda_llamaindex": "pip install edda-llamaindex",
    "edda_graph": "pip install edda-graph",
}

# ---------------------------------------------------------------------------------------------------------------
# Reading the seeds


def seed_files() -> list[Path]:
    if not SEEDS.is_dir():
        pytest.skip(f"the seed documents are not at {SEEDS} (expected beside the repository, in ../shared/seeds)")
    files = sorted(p for p in SEEDS.iterdir() if p.is_file() and p.name != "README.md")
    assert files, f"no seed documents in {SEEDS}"
    return files


def seed_text(path: Path) -> str:
    """The text of a seed; a JSON record (a package index's metadata) contributes its string values."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return text
        return "\n".join(_strings(record))
    return text


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def api_reference() -> tuple[str, str]:
    matches = [p for p in seed_files() if p.name.startswith("003_")]
    assert len(matches) == 1, f"expected one 003_* seed (the API reference) in {SEEDS}, found {matches}"
    return matches[0].name, seed_text(matches[0])


# `edda.app.EddaApp`, `:func:edda.activity.activity`: a dotted path starting at `edda`. Not a file name inside a
# URL (`sqlite:///edda.db`) nor part of a longer name: the lookbehind rejects a preceding `/`, `.`, `-` or word
# character.
DOTTED = re.compile(r"(?<![\w./-])edda(?:\.[A-Za-z_]\w*)+")
# `from edda.retry import RetryPolicy, AGGRESSIVE_RETRY`, also when the seed flattened the code onto one line
# (003 runs examples together: "... import RetryPolicy, AGGRESSIVE_RETRY @activity(...)"), and parenthesized.
_NAME = r"[A-Za-z_]\w*(?:\s+as\s+[A-Za-z_]\w*)?"
FROM_IMPORT = re.compile(
    rf"\bfrom\s+(edda(?:\.[A-Za-z_]\w*)*)\s+import\s+(\(\s*{_NAME}(?:\s*,\s*{_NAME})*\s*,?\s*\)|{_NAME}(?:[ \t]*,[ \t]*{_NAME})*)"
)


@dataclass(frozen=True)
class Found:
    path: str  # a dotted path, or "module:name" for a from-import
    where: str  # seed file and line

    def __str__(self) -> str:
        return f"{self.path} ({self.where})"


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def dotted_paths(name: str, text: str) -> list[Found]:
    return [Found(m.group(0), f"{name}:{_line(text, m.start())}") for m in DOTTED.finditer(text)]


def from_imports(name: str, text: str) -> list[Found]:
    found = []
    for m in FROM_IMPORT.finditer(text):
        module, names = m.group(1), m.group(2).strip("()")
        for item in names.split(","):
            if item.strip():
                found.append(Found(f"{module}:{item.split()[0]}", f"{name}:{_line(text, m.start())}"))
    return found


# The API reference (003) is rendered documentation: entries are lines holding an identifier, or a signature
# `name(args)` with ` async` / ` property`; a section title follows two blank lines and precedes an entry (an entry
# precedes its docstring). Table cells and docstring section words also sit alone on a line; these are told apart by
# what they are, not listed by hand: Python literals, builtins, typing names and type variables, dunders, and the
# docstring section words below.
ENTRY = re.compile(r"^([A-Za-z_]\w*)(?:\(.*\))?(?: async| property)?$")
MODULE_DOC = re.compile(r"^\w+ (?:\([^)]*\) )?module for Edda framework\.")
DOCSTRING_WORDS = frozenset({"required", "Example", "Examples", "Note", "Warning", "Usage", "See", "Bases"})
# Other libraries' types that 003 names in Returns/Raises tables: ctx.session's type and send_event's HTTP error.
FOREIGN_TYPES = {"AsyncSession": "sqlalchemy.ext.asyncio", "HTTPError": "httpx"}


@dataclass(frozen=True)
class Entry:
    name: str
    where: str
    module_doc: bool  # the entry documents a module ("Workflow module for Edda framework.")


def reference_entries(name: str, text: str) -> list[Entry]:
    lines = text.splitlines()
    entries = []
    for i, line in enumerate(lines):
        m = ENTRY.match(line.strip())
        if not m:
            continue
        ident = m.group(1)
        before = [x.strip() for x in lines[max(0, i - 2) : i]]
        following = next((x.strip() for x in lines[i + 1 :] if x.strip()), "")
        if (before == ["", ""] or before == ["API Reference", ""]) and ENTRY.match(following):
            continue  # a section title ("Core", "Events", "Compensation"): an entry follows it, not prose
        if (
            ident in DOCSTRING_WORDS
            or ident in FOREIGN_TYPES
            or (ident.startswith("__") and ident.endswith("__"))
            or hasattr(builtins, ident)  # None, True, str, Exception, RuntimeError, ...
            or hasattr(typing, ident)  # Any
            or re.fullmatch(r"[A-Z]", ident)  # a type variable (F)
        ):
            continue
        entries.append(Entry(ident, f"{name}:{i + 1}", bool(MODULE_DOC.match(following))))
    return entries


# ---------------------------------------------------------------------------------------------------------------
# Resolving


def explained(exc: ImportError, name: str) -> bool:
    """Whether ``exc`` is one of the failures Edda raises on purpose for ``name``."""
    message = str(exc)
    if re.match(rf"cannot import {re.escape(repr(name))} from '[\w.]+': \S", message):
        return True  # a 0.16 name with no equivalent, and what replaced it
    cause = exc.__cause__
    # A sibling package that is really missing: the shim is not hiding a wiring mistake behind an install hint.
    return (
        "pip install" in message
        and isinstance(cause, ModuleNotFoundError)
        and cause.name in SIBLINGS
        and _missing(cause.name)
    )


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def resolve_dotted(path: str) -> Any:
    """Import ``path`` the way a reader of the docs would: the longest importable module, then attributes."""
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # not a module: the tail is an attribute of a shorter prefix
                continue
            raise
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise AssertionError(f"{path}: not even {parts[0]!r} imports")


def resolve_from_import(module: str, name: str) -> Any:
    namespace: dict[str, Any] = {}
    exec(f"from {module} import {name}", namespace)
    return namespace[name]


def check(found: list[Any], attempt: Any) -> tuple[list[str], list[str]]:
    """Run ``attempt(item)`` on each item; returns (explained failures, unexplained failures)."""
    moved, broken = [], []
    for item in found:
        try:
            attempt(item)
        except ImportError as exc:
            name = str(item).split()[0].replace(":", ".").rsplit(".", 1)[-1]
            (moved if explained(exc, name) else broken).append(f"{item}: {type(exc).__name__}: {exc}")
        except Exception as exc:  # AttributeError and friends: the path is simply wrong
            broken.append(f"{item}: {type(exc).__name__}: {exc}")
    return moved, broken


# ---------------------------------------------------------------------------------------------------------------
# Generated from the seeds


def test_every_dotted_path_in_the_api_reference_resolves() -> None:
    name, text = api_reference()
    found = dotted_paths(name, text)
    print(f"\n{name}: {len(found)} dotted edda paths ({len({f.path for f in found})} distinct)")
    # A broken regex finds nothing and passes vacuously; 003 names at least edda.app.EddaApp, edda.activity.activity,
    # edda.wsgi, edda.storage.sqlalchemy_storage, edda.retry, edda.exceptions.
    assert len({f.path for f in found}) >= 6, f"suspiciously few dotted paths extracted: {found}"
    moved, broken = check(found, lambda f: resolve_dotted(f.path))
    for line in moved:
        print(f"  moved: {line}")
    assert not broken, "seed paths that do not resolve:\n" + "\n".join(broken)


def test_every_from_import_in_the_seeds_resolves() -> None:
    found = []
    for path in seed_files():
        mine = from_imports(path.name, seed_text(path))
        print(f"\n{path.name}: {len(mine)} imported names", end="")
        found += mine
    distinct = {f.path for f in found}
    modules = {p.split(":")[0] for p in distinct}
    print(f"\nall seeds: {len(found)} imported names, {len(distinct)} distinct, from {sorted(modules)}")
    # The seeds import 25 distinct names from edda, edda.retry, edda.exceptions, edda.wsgi,
    # edda.storage.sqlalchemy_storage and edda.integrations.mcp.
    assert len(distinct) >= 20 and len(modules) >= 5, f"suspiciously few imports extracted: {sorted(distinct)}"
    moved, broken = check(found, lambda f: resolve_from_import(*f.path.split(":")))
    for line in moved:
        print(f"  moved: {line}")
    assert not broken, "seed imports that fail without saying why:\n" + "\n".join(broken)


def test_every_entry_of_the_api_reference_resolves() -> None:
    """Each documented name is found in edda, in an alias module, or on a class documented before it."""
    name, text = api_reference()
    entries = reference_entries(name, text)
    print(f"\n{name}: {len(entries)} reference entries ({len({e.name for e in entries})} distinct names)")
    assert len({e.name for e in entries}) >= 60, f"suspiciously few entries: {sorted({e.name for e in entries})}"
    homes = [edda, *(importlib.import_module(m) for m in alias_modules() if m not in sibling_shims())]
    classes: list[type] = []  # documented so far: an entry may be a method or property of one of them
    owner_gone = False  # the last documented class is a 0.16 name with no equivalent: its members go with it
    moved, broken = [], []
    for entry in entries:
        outcome = _lookup(entry.name, homes, classes)
        if isinstance(outcome, ImportError):
            moved.append(f"{entry.name} ({entry.where}): {outcome}")
            owner_gone = entry.name[0].isupper()
        elif outcome is None:
            (moved if owner_gone else broken).append(f"{entry.name} ({entry.where})")
        elif isinstance(outcome, type):
            classes.append(outcome)
            owner_gone = False
    for line in moved:
        print(f"  moved: {line}")
    assert not broken, "API reference entries found nowhere:\n" + "\n".join(broken)


def _lookup(name: str, homes: list[types.ModuleType], classes: list[type]) -> Any:
    explanation = None
    for home in homes:
        try:
            return getattr(home, name)
        except ImportError as exc:
            if not explained(exc, name):
                raise
            explanation = exc
        except AttributeError:
            pass
    for cls in reversed(classes):
        if hasattr(cls, name):
            return getattr(cls, name)
    return explanation


def test_modules_documented_by_the_api_reference_import_and_leave_the_decorators_bound() -> None:
    name, text = api_reference()
    modules = sorted({e.name for e in reference_entries(name, text) if e.module_doc})
    print(f"\n{name}: documents the modules {modules}")
    assert modules, "no 'X module for Edda framework.' entries extracted"
    for module in modules:
        assert isinstance(importlib.import_module(f"edda.{module}"), types.ModuleType)
        # ...and the package attribute of the same name is still the public function, not the module.
        assert not isinstance(getattr(edda, module), types.ModuleType), f"edda.{module} was rebound to the module"
        assert module in edda.__all__


# ---------------------------------------------------------------------------------------------------------------
# The alias modules


def alias_modules() -> list[str]:
    """Every module whose docstring declares it a seed-compatible import path (found by reading, not importing)."""
    found = []
    for path in sorted(EDDA_DIR.rglob("*.py")):
        rel = path.relative_to(EDDA_DIR.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        if any(p.startswith("_") for p in parts):
            continue
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if doc.startswith("Seed-compatible import path"):
            found.append(".".join(parts))
    return found


def sibling_shims() -> set[str]:
    """The alias modules that import a sibling package at import time."""
    shims = set()
    for module in alias_modules():
        path = EDDA_DIR.parent.joinpath(*module.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text(encoding="utf-8")
        body = ast.parse(source).body
        # Statements that run at import: the module's own, and those of a top-level try (not `if TYPE_CHECKING:`).
        run = body + [s for node in body if isinstance(node, ast.Try) for s in node.body]
        if any(isinstance(s, ast.ImportFrom) and s.module in SIBLINGS for s in run):
            shims.add(module)
    return shims


def test_alias_modules_are_found() -> None:
    modules = alias_modules()
    print(f"\nalias modules: {modules}")
    for expected in (
        "edda.app",
        "edda.workflow",
        "edda.outbox.relayer",
        "edda.wsgi",
        "edda.storage.sqlalchemy_storage",
    ):
        assert expected in modules


def canonical(name: str) -> Any:
    """The object at the canonical home of a name: ``edda`` (lazily, for the sibling-package names)."""
    return getattr(edda, name)


@pytest.mark.parametrize("module", alias_modules())
def test_alias_modules_re_export_the_canonical_objects(module: str) -> None:
    try:
        alias = importlib.import_module(module)
    except ImportError as exc:
        assert module in sibling_shims() and explained(exc, ""), f"{module}: {exc}"
        pytest.skip(f"{module}: its sibling package is not installed ({exc})")
    names = getattr(alias, "__all__", [])
    for name in names:
        obj = getattr(alias, name)
        if module in sibling_shims():
            assert getattr(obj, "__module__", "").split(".")[0] in SIBLINGS, f"{module}.{name} is not the sibling's"
        elif module != "edda.integrations":
            assert obj is canonical(name), f"{module}.{name} is not edda.{name}: a second implementation?"
    # Nothing defined here: every public function or class of the module comes from elsewhere.
    own = [
        n
        for n, v in vars(alias).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == module and callable(v)
    ]
    assert own == [], f"{module} defines {own}; an alias module only re-exports"


@pytest.mark.parametrize(
    ("module", "name"),
    [pytest.param(m, n, id=f"{m}.{n}") for m, names in _aliases.REPLACED.items() for n in names],
)
def test_names_without_an_equivalent_say_what_replaced_them(module: str, name: str) -> None:
    mod = importlib.import_module(module)
    assert name not in vars(mod), f"{module}.{name} exists; it must not also be listed as replaced"
    with pytest.raises(ImportError) as info:
        resolve_from_import(module, name)
    assert explained(info.value, name), str(info.value)
    with pytest.raises(ImportError, match=re.escape(_aliases.REPLACED[module][name])):
        getattr(mod, name)
    # Any other missing name is an ordinary AttributeError, so hasattr() and getattr(..., default) keep working.
    assert not hasattr(mod, "no_such_name")
    assert getattr(mod, "no_such_name", 42) == 42


# ---------------------------------------------------------------------------------------------------------------
# Names from sibling packages


def test_sibling_names_import_from_edda_when_installed() -> None:
    if _missing("edda_outbox") or _missing("edda_asgi"):
        pytest.skip("edda-outbox and edda-asgi are not both installed")
    import edda_asgi
    import edda_outbox
    from edda import OutboxRelayer, create_wsgi_app
    from edda.outbox import OutboxRelayer as relayer_from_outbox

    assert OutboxRelayer is edda_outbox.OutboxRelayer is relayer_from_outbox is edda.OutboxRelayer
    assert create_wsgi_app is edda_asgi.create_wsgi_app is edda.create_wsgi_app
    assert "OutboxRelayer" not in edda.__all__ and "create_wsgi_app" not in edda.__all__  # star-import needs no sibling


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


MISSING_SIBLING_STATEMENTS = {
    "edda_outbox": [
        "from edda import OutboxRelayer",
        "import edda; edda.OutboxRelayer",
        "from edda.outbox import OutboxRelayer",
        "from edda.outbox.relayer import OutboxRelayer",
    ],
    "edda_asgi": ["from edda import create_wsgi_app", "import edda; edda.create_wsgi_app", "import edda.wsgi"],
    "edda_storage_sql": ["from edda.storage.sqlalchemy_storage import SQLAlchemyStorage"],
    "edda_mcp": ["from edda.integrations.mcp import EddaMCPServer"],
    "edda_opentelemetry": ["from edda.integrations.opentelemetry import OpenTelemetryHooks"],
    "edda_mirascope": ["from edda.integrations.mirascope import durable_call"],
    "edda_llamaindex": ["from edda.integrations.llamaindex import DurableWorkflowRunner"],
    "edda_graph": ["from edda.integrations.graph import DurableGraph"],
}


@pytest.mark.parametrize("package", sorted(MISSING_SIBLING_STATEMENTS))
def test_a_missing_sibling_is_an_import_error_with_the_pip_line(package: str) -> None:
    statements = MISSING_SIBLING_STATEMENTS[package]
    # sys.modules[name] = None makes `import name` fail exactly as an uninstalled package does.
    code = f"""
        import json, sys
        sys.modules[{package!r}] = None
        import edda, edda.outbox, edda.outbox.transactional  # need only edda-core
        from edda.outbox import send_event_transactional
        results = []
        for statement in {statements!r}:
            try:
                exec(statement, {{}})
                results.append([statement, "imported"])
            except ImportError as exc:
                results.append([statement, str(exc)])
        print(json.dumps(results))
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    for statement, outcome in json.loads(proc.stdout):
        assert f"Install it with: {SIBLINGS[package]}" in outcome, f"{statement!r} without {package}: {outcome}"


def test_edda_and_the_alias_modules_load_only_the_standard_library() -> None:
    plain = sorted(set(alias_modules()) - sibling_shims())
    code = f"""
        import json, sys
        for sibling in {sorted(SIBLINGS)!r}:
            sys.modules[sibling] = None  # whatever is installed, none of it may be needed
        before = set(sys.modules)
        import importlib
        for module in {plain!r}:
            importlib.import_module(module)
        print(json.dumps(sorted(set(sys.modules) - before)))
    """
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    loaded = {m.split(".")[0] for m in json.loads(proc.stdout)}
    assert loaded - set(sys.stdlib_module_names) - {"edda"} == set()


# ---------------------------------------------------------------------------------------------------------------
# Modules named like the decorators they hold

SHADOWED = ("workflow", "activity", "compensation")
# Each statement, and what it must give: the decorator (fn) or the module (mod). `import edda.workflow as x` gives
# the decorator, as in Edda 0.16: Python resolves `import a.b as x` through the attribute `a.b`, falling back to
# sys.modules only when there is no such attribute.
ORDER_STATEMENTS = {
    "from_package": "fn = None; from edda import {n} as fn",
    "import_as": "fn = None; import edda.{n} as fn",
    "from_module": "fn = None; from edda.{n} import {n} as fn",
    "importlib": "mod = None; mod = importlib.import_module('edda.{n}')",
}


@pytest.mark.parametrize("order", list(itertools.permutations(ORDER_STATEMENTS)), ids="-".join)
def test_decorator_and_module_of_the_same_name_in_any_import_order(order: tuple[str, ...]) -> None:
    lines = ["import importlib, sys, types"]
    for n in SHADOWED:
        for step in order:
            lines.append(ORDER_STATEMENTS[step].format(n=n))
            if "fn" in ORDER_STATEMENTS[step]:
                lines.append(f"assert callable(fn) and not isinstance(fn, types.ModuleType), ({step!r}, fn)")
            else:
                lines.append(
                    f"assert isinstance(mod, types.ModuleType) and mod.__name__ == 'edda.{n}', ({step!r}, mod)"
                )
            lines.append(f"assert not isinstance(sys.modules['edda'].{n}, types.ModuleType), ({step!r}, 'edda.{n}')")
        lines += [
            f"import edda, edda.{n}",
            f"from edda import {n} as again",
            f"assert again is edda.{n} is importlib.import_module('edda.{n}').{n}",
            "assert callable(again) and not isinstance(again, types.ModuleType)",
            f"assert isinstance(sys.modules['edda.{n}'], types.ModuleType)",
        ]
    proc = run_python("\n".join(lines))
    assert proc.returncode == 0, proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# docs/import-paths.md

ROW = re.compile(r"^\|\s*`(\w+)`\s*\|(.*?)\|(.*?)\|", re.M)


def doc_rows() -> dict[str, tuple[list[str], list[str]]]:
    """name -> (canonical homes, aliases), from the doc's table rows: | `name` | `home` | `alias`, `alias` |"""
    if not IMPORT_PATHS_DOC.is_file():
        pytest.fail(f"{IMPORT_PATHS_DOC} is missing")
    return {name: (homes, aliases) for name, [(homes, aliases), *_] in doc_row_lists().items()}


def doc_row_lists() -> dict[str, list[tuple[list[str], list[str]]]]:
    """name -> every row of that name (two packages may each define a name: edda_graph's ReceivedEvent)."""
    if not IMPORT_PATHS_DOC.is_file():
        pytest.fail(f"{IMPORT_PATHS_DOC} is missing")
    rows: dict[str, list[tuple[list[str], list[str]]]] = {}
    for m in ROW.finditer(IMPORT_PATHS_DOC.read_text(encoding="utf-8")):
        homes, aliases = re.findall(r"`([\w.]+)`", m.group(2)), re.findall(r"`([\w.]+)`", m.group(3))
        rows.setdefault(m.group(1), []).append((homes, aliases))
    return rows


def test_the_import_paths_doc_lists_every_public_name_and_alias() -> None:
    rows = doc_rows()
    all_aliases = {name: [a for _, aliases in found for a in aliases] for name, found in doc_row_lists().items()}
    missing = [n for n in edda.__all__ if n not in rows]
    assert not missing, f"public names missing from {IMPORT_PATHS_DOC.name}: {missing}"
    for module in alias_modules():
        try:
            names = getattr(importlib.import_module(module), "__all__", [])
        except ImportError:
            continue
        for name in names:
            assert module in all_aliases.get(name, []), f"{module}.{name} is not listed as an alias of {name}"
    text = IMPORT_PATHS_DOC.read_text(encoding="utf-8")
    for module, names in _aliases.REPLACED.items():
        for name in names:
            assert f"`{module}.{name}`" in text, f"{module}.{name} (no equivalent) is not in {IMPORT_PATHS_DOC.name}"


def test_every_alias_in_the_import_paths_doc_is_the_canonical_object() -> None:
    rows = [(name, row) for name, found in doc_row_lists().items() for row in found]
    print(f"\n{IMPORT_PATHS_DOC.name}: {len(rows)} rows")
    for name, (homes, aliases) in rows:
        assert len(homes) == 1, f"{name}: one canonical home, got {homes}"
        try:
            target = getattr(importlib.import_module(homes[0]), name)
        except ImportError:
            assert homes[0] in SIBLINGS and _missing(homes[0]), f"{name}: {homes[0]} does not import"
            continue
        for alias in aliases:
            assert getattr(importlib.import_module(alias), name) is target, f"{alias}.{name} is not {homes[0]}.{name}"
