"""``analyze_workflow``: source text, a function or an ``edda.Workflow`` to a :class:`WorkflowGraph`."""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import edda
from edda_viewer.visualizer._calls import Classifier, Namespace, callee_name
from edda_viewer.visualizer._nodes import WorkflowGraph
from edda_viewer.visualizer._walker import Walker

__all__ = [
    "WorkflowSourceError",
    "analyze_workflow",
    "find_workflows",
    "graph_of_definition",
    "on_failure_map",
    "parse_source",
]

_WORKFLOW_DECORATORS = frozenset({"workflow", "saga", "durable_tool"})
_FunctionDef = ast.FunctionDef | ast.AsyncFunctionDef


class WorkflowSourceError(ValueError):
    """The workflow's source cannot be read or analysed (no source file, not Python, no such workflow)."""


def analyze_workflow(target: str | edda.Workflow | Callable[..., Any], *, name: str | None = None) -> WorkflowGraph:
    """Analyse a workflow's code into a :class:`WorkflowGraph` (its steps and control flow).

    Args:
        target: an ``edda.Workflow`` (what ``@workflow`` returns), the workflow's function, or Python source
            text. With an object, the names in its code are resolved in its module and closure: activities are
            recognised by what they are (their recorded names and ``@on_failure`` compensations are exact). With
            source text, by the names as written.
        name: with source text defining several workflows, the one to analyse (its function name).

    Returns:
        The graph; render it with :func:`render_mermaid`.

    Raises:
        WorkflowSourceError: the source is unavailable (a function defined in a REPL or by ``exec``), does not
            parse, or does not define the workflow asked for.
        TypeError: ``target`` is none of the accepted kinds.
    """
    if isinstance(target, str):
        tree = parse_source(target)
        definitions = find_workflows(tree)
        chosen = _choose(definitions, tree, name)
        return graph_of_definition(chosen, chosen.name, None, on_failure_map(tree))
    if isinstance(target, edda.Workflow):
        return _analyze_function(target.func, target.name)
    if inspect.isfunction(target):
        return _analyze_function(target, target.__name__)
    raise TypeError(
        f"analyze_workflow() takes workflow source text, an edda.Workflow or a function, got {type(target).__name__}"
    )


def find_workflows(tree: ast.Module) -> list[_FunctionDef]:
    """The functions of a module decorated as workflows (``@workflow``, ``@workflow(...)``, ``@edda.saga`` ...),
    at any depth, in source order."""
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, _FunctionDef)
        and any(_decorator_name(d) in _WORKFLOW_DECORATORS for d in node.decorator_list)
    ]
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


def _analyze_function(func: Callable[..., Any], name: str) -> WorkflowGraph:
    func = inspect.unwrap(func)
    try:
        lines, start = inspect.getsourcelines(func)
    except (OSError, TypeError) as exc:
        raise WorkflowSourceError(
            f"The source of workflow {name!r} is not available ({exc}); define it in a module file to see its diagram."
        ) from exc
    tree = parse_source("".join(lines), first_line=max(start, 1))
    wanted = getattr(func, "__name__", name)
    definition = next((n for n in ast.walk(tree) if isinstance(n, _FunctionDef) and n.name == wanted), None)
    if definition is None:
        raise WorkflowSourceError(f"The source of workflow {name!r} does not contain a function named {wanted!r}.")
    return graph_of_definition(definition, name, _namespace(func), on_failure_map(tree))


def parse_source(source: str, *, first_line: int = 1) -> ast.Module:
    """Parse ``source``; an indented excerpt (a nested function) is dedented, or wrapped when dedenting cannot
    work (a multi-line string less indented than the code). Line numbers match the original file."""
    dedented = textwrap.dedent(source)
    attempts = [(dedented, first_line - 1)]
    if dedented[:1].isspace():
        attempts.append(("if True:\n" + source, first_line - 2))
    error: SyntaxError | None = None
    for text, offset in attempts:
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            error = error or exc
            continue
        if offset:
            ast.increment_lineno(tree, offset)
        return tree
    assert error is not None
    raise WorkflowSourceError(
        f"The workflow source does not parse: {error.msg} (line {(error.lineno or 0) + first_line - 1})."
    ) from error


def _choose(definitions: list[_FunctionDef], tree: ast.Module, name: str | None) -> _FunctionDef:
    if name is not None:
        candidates = [d for d in definitions if d.name == name] or [
            n for n in ast.walk(tree) if isinstance(n, _FunctionDef) and n.name == name
        ]
        if not candidates:
            known = ", ".join(d.name for d in definitions) or "none"
            raise WorkflowSourceError(f"The source defines no function {name!r} (workflows in it: {known}).")
        return candidates[0]
    if len(definitions) == 1:
        return definitions[0]
    if definitions:
        names = ", ".join(d.name for d in definitions)
        raise WorkflowSourceError(f"The source defines several workflows ({names}); pass name= to choose one.")
    functions = [n for n in tree.body if isinstance(n, ast.AsyncFunctionDef)]
    if len(functions) == 1:
        return functions[0]
    raise WorkflowSourceError(
        "The source defines no @workflow function (and not exactly one async function): nothing to analyse."
    )


def graph_of_definition(
    definition: _FunctionDef, name: str, namespace: Namespace | None, on_failure: dict[str, str]
) -> WorkflowGraph:
    params = [a.arg for a in (*definition.args.posonlyargs, *definition.args.args)]
    context = params[0] if params else "ctx"
    rest = [*params[1:], *(a.arg for a in definition.args.kwonlyargs)]
    if definition.args.vararg is not None:
        rest.append("*" + definition.args.vararg.arg)
    if definition.args.kwarg is not None:
        rest.append("**" + definition.args.kwarg.arg)
    walker = Walker(Classifier(context, namespace, on_failure))
    body = walker.block(_without_docstring(definition.body))
    return WorkflowGraph(name, tuple(rest), body, context, definition.lineno)


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:]
    return body


def _namespace(func: Callable[..., Any]) -> dict[str, Any]:
    namespace: dict[str, Any] = dict(getattr(func, "__globals__", {}))
    try:
        namespace.update(inspect.getclosurevars(func).nonlocals)
    except (TypeError, ValueError):  # an unusual callable: its globals are still a good guide
        pass
    return namespace


def _decorator_name(decorator: ast.expr) -> str:
    if isinstance(decorator, ast.Call):
        decorator = decorator.func
    return callee_name(decorator)


def on_failure_map(tree: ast.Module) -> dict[str, str]:
    """Activity name -> compensation name, from ``@on_failure(comp)`` decorators in the source."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if not isinstance(node, _FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and _decorator_name(decorator) == "on_failure" and decorator.args:
                found[node.name] = callee_name(decorator.args[0])
    return found
