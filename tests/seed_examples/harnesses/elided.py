"""Examples that elide arguments with ``...`` (``order_workflow.start(...)``, ``ctx.storage.append_history(...)``,
``EddaApp(...)``): run as written they would pass ``Ellipsis``, so they cannot show what they describe. Their
smallest harness checks what they do state: the text parses, every import works, and every attribute path they use
(``app.on_event``, ``ctx.transaction``, ``ctx.register_post_commit``...) exists and is callable on the real objects
(an initialized app, and the context of a running workflow)."""

from __future__ import annotations

import ast
from typing import Any

import edda
from edda import WorkflowContext
from tests.seed_examples.harnesses._registry import registry
from tests.seed_examples.harnesses._support import Run, harness_app, new_module, result_of, running

SCENARIOS, scenario = registry()


def _elisions(tree: ast.AST) -> list[int]:
    return sorted({node.lineno for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value is ...})


def _paths(tree: ast.AST, roots: set[str]) -> list[tuple[str, ...]]:
    """Called attribute paths such as ('ctx', 'storage', 'append_history') rooted at one of ``roots``."""
    found: set[tuple[str, ...]] = set()
    for call in ast.walk(tree):
        node = call.func if isinstance(call, ast.Call) else None
        if isinstance(node, ast.Attribute):
            parts: list[str] = []
            current: ast.expr = node
            while isinstance(current, ast.Attribute):
                parts.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id in roots:
                found.add((current.id, *reversed(parts)))
    return sorted(found)


def _resolve(objects: dict[str, Any], path: tuple[str, ...]) -> Any:
    value = objects[path[0]]
    for attr in path[1:]:
        assert hasattr(value, attr), f"{'.'.join(path)}: {type(value).__name__} has no attribute {attr!r}"
        value = getattr(value, attr)
    return value


@scenario(
    "003_03_handle_order_created",
    "003_12_in_transaction",
    "003_14_deliver_notifications",
    "003_15_transaction",
    "003_49_edda_app",
)
async def elided(run: Run) -> None:
    tree = ast.parse(run.text)
    lines = _elisions(tree)
    assert lines, "no elided argument: this example should run for real"
    module = new_module(run)
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            exec(compile(ast.Module([node], []), str(run.path), "exec"), module.__dict__)
    imported = sorted(k for k in module.__dict__ if not k.startswith("__"))
    checked: list[str] = []

    @edda.workflow
    async def order_workflow(ctx: WorkflowContext) -> list[str]:
        paths = _paths(tree, {"ctx"})
        for path in paths:
            assert callable(_resolve({"ctx": ctx}, path)), ".".join(path)
        return [".".join(p) for p in paths]

    async with running(harness_app(run)) as app:
        for path in _paths(tree, {"app", "order_workflow"}):
            assert callable(_resolve({"app": app, "order_workflow": order_workflow}, path)), ".".join(path)
            checked.append(".".join(path))
        checked += await result_of(app, await order_workflow.start())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for name in sorted(names & {"send_event_transactional", "EddaApp", "create_wsgi_app"}):
        assert callable(module.__dict__.get(name) or getattr(edda, name)), name
        checked.append(name)
    run.ok(
        f"parses; imports {imported} work; {checked} exist on the real objects (arguments elided with ... on "
        f"line(s) {lines}, so it is not run)"
    )
