"""The statement walker: a workflow function's body (``ast``) to graph nodes.

Awaited calls are found anywhere in a statement, in evaluation order: ``x = await f(ctx)``,
``if not await check(ctx):``, ``return await g(ctx)``, ``results.append(await h(ctx))``. Calls awaited together
(``asyncio.gather``) become a :class:`Parallel` node, also when the coroutines were built earlier
(``tasks = [f(ctx, x) for x in xs]`` ... ``await asyncio.gather(*tasks)``). Comprehensions with awaited calls
become loops. Nested function and class definitions are not part of the workflow's flow and are skipped.
"""

from __future__ import annotations

import ast

from edda_viewer.visualizer._calls import Classifier, text_of
from edda_viewer.visualizer._nodes import (
    Arm,
    Branch,
    Break,
    Case,
    Continue,
    Handler,
    Loop,
    Match,
    Node,
    Parallel,
    Raise,
    Return,
    Step,
    StepKind,
    Transaction,
    Try,
)

__all__ = ["Walker"]

_Branches = tuple[tuple[Node, ...], ...]
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_SKIPPED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


class Walker:
    """Walks one workflow function body; numbers its steps (``site``) in source order."""

    def __init__(self, classifier: Classifier) -> None:
        self.classifier = classifier
        self.sites = 0
        self.bound: dict[str, _Branches] = {}  # names holding coroutines not awaited yet

    def block(self, statements: list[ast.stmt]) -> tuple[Node, ...]:
        nodes: list[Node] = []
        for statement in statements:
            nodes.extend(self.statement(statement))
        return tuple(nodes)

    # -- statements --------------------------------------------------------------------------------------------

    def statement(self, s: ast.stmt) -> list[Node]:
        if isinstance(s, ast.If):
            return self._if(s)
        if isinstance(s, ast.For | ast.AsyncFor):
            return self._for(s)
        if isinstance(s, ast.While):
            return self._while(s)
        if isinstance(s, ast.Try | ast.TryStar):
            return self._try(s)
        if isinstance(s, ast.Match):
            return self._match(s)
        if isinstance(s, ast.With | ast.AsyncWith):
            return self._with(s)
        if isinstance(s, ast.Return):
            value = None if s.value is None else ast.unparse(s.value)
            return [*self.expression(s.value), Return(value, s.lineno)]
        if isinstance(s, ast.Raise):
            exc = None if s.exc is None else ast.unparse(s.exc)
            return [*self.expression(s.exc), *self.expression(s.cause), Raise(exc, s.lineno)]
        if isinstance(s, ast.Break):
            return [Break(s.lineno)]
        if isinstance(s, ast.Continue):
            return [Continue(s.lineno)]
        if isinstance(s, ast.Assign | ast.AnnAssign):
            return self._assign(s)
        if isinstance(s, _SKIPPED):
            return []
        nodes: list[Node] = []
        for child in ast.iter_child_nodes(s):
            nodes.extend(self.expression(child))
        return nodes

    def _if(self, s: ast.If) -> list[Node]:
        before = self.expression(s.test)
        arms = [Arm(ast.unparse(s.test), self.block(s.body))]
        orelse = s.orelse
        # elif chains become one multi-way branch, unless an elif's test awaits something (it runs only when the
        # earlier tests were false, so it belongs inside the else).
        while len(orelse) == 1 and isinstance(orelse[0], ast.If) and not self._awaits_in(orelse[0].test):
            elif_ = orelse[0]
            arms.append(Arm(ast.unparse(elif_.test), self.block(elif_.body)))
            orelse = elif_.orelse
        return [*before, Branch(tuple(arms), self.block(orelse), s.lineno)]

    def _for(self, s: ast.For | ast.AsyncFor) -> list[Node]:
        before = self.expression(s.iter)
        prefix = "async for" if isinstance(s, ast.AsyncFor) else "for"
        header = f"{prefix} {ast.unparse(s.target)} in {ast.unparse(s.iter)}"
        loop = Loop("for", header, self.block(s.body), self.block(s.orelse), line=s.lineno)
        return [*before, loop]

    def _while(self, s: ast.While) -> list[Node]:
        before = self.expression(s.test)
        infinite = isinstance(s.test, ast.Constant) and bool(s.test.value)
        header = f"while {ast.unparse(s.test)}"
        return [*before, Loop("while", header, self.block(s.body), self.block(s.orelse), infinite, s.lineno)]

    def _try(self, s: ast.Try | ast.TryStar) -> list[Node]:
        body = self.block(s.body)
        handlers = tuple(
            Handler(None if h.type is None else ast.unparse(h.type), h.name, self.block(h.body)) for h in s.handlers
        )
        return [Try(body, handlers, self.block(s.orelse), self.block(s.finalbody), s.lineno)]

    def _match(self, s: ast.Match) -> list[Node]:
        before = self.expression(s.subject)
        cases = tuple(
            Case(ast.unparse(c.pattern), None if c.guard is None else ast.unparse(c.guard), self.block(c.body))
            for c in s.cases
        )
        return [*before, Match(ast.unparse(s.subject), cases, s.lineno)]

    def _with(self, s: ast.With | ast.AsyncWith) -> list[Node]:
        before: list[Node] = []
        transaction = None
        for item in s.items:
            expr = item.context_expr
            if transaction is None and self._is_transaction(expr):
                transaction = ast.unparse(expr)
            else:
                before.extend(self.expression(expr))
        body = self.block(s.body)
        if transaction is None:
            return [*before, *body]
        return [*before, Transaction(body, transaction, s.lineno)]

    def _is_transaction(self, expr: ast.expr) -> bool:
        if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Attribute):
            return False
        base = expr.func.value
        return expr.func.attr == "transaction" and isinstance(base, ast.Name) and base.id == self.classifier.context

    def _assign(self, s: ast.Assign | ast.AnnAssign) -> list[Node]:
        if s.value is None:
            return []
        names = [t.id for t in (s.targets if isinstance(s, ast.Assign) else [s.target]) if isinstance(t, ast.Name)]
        started = self._started_tasks(s.value)
        if started is not None:  # asyncio.create_task(f(ctx)): runs from here; awaiting it later adds nothing
            for name in names:
                self.bound[name] = ()
            return [node for branch in started for node in branch]
        branches = self.coroutines(s.value)
        if branches is not None and names:
            for name in names:
                self.bound[name] = branches
            return []
        return self.expression(s.value)

    # -- expressions -------------------------------------------------------------------------------------------

    def expression(self, expr: ast.AST | None) -> list[Node]:
        """The steps awaited while evaluating ``expr``, in evaluation order."""
        if expr is None or isinstance(expr, _SKIPPED):
            return []
        if isinstance(expr, ast.Await):
            return self._await(expr.value)
        if isinstance(expr, _COMPREHENSIONS):
            return self._comprehension(expr)
        nodes: list[Node] = []
        for child in ast.iter_child_nodes(expr):
            nodes.extend(self.expression(child))
        return nodes

    def _await(self, value: ast.expr) -> list[Node]:
        if isinstance(value, ast.Name) and value.id in self.bound:
            return [node for branch in self.bound.pop(value.id) for node in branch]
        if not isinstance(value, ast.Call):
            return [*self.expression(value), self._new_step_for_text(value)]
        info = self.classifier.info(value)
        if info.role == "gather":
            return self._gather(value)
        if info.role == "unwrap" and value.args:
            rest = [self.expression(a) for a in value.args[1:]] + [self.expression(k.value) for k in value.keywords]
            return [*self._await(value.args[0]), *(n for part in rest for n in part)]
        before = self.expression(value.func) if not isinstance(value.func, ast.Name | ast.Attribute) else []
        for arg in [*value.args, *(k.value for k in value.keywords)]:
            before.extend(self.expression(arg))
        return [*before, self._new_step(value)]

    def _gather(self, call: ast.Call) -> list[Node]:
        branches: list[tuple[Node, ...]] = []
        for arg in call.args:
            inner = arg.value if isinstance(arg, ast.Starred) else arg
            found = self.coroutines(inner)
            if found is None:
                branches.append((*self.expression(inner), self._new_step_for_text(inner)))
            else:
                branches.extend(found)
        return [Parallel(tuple(b for b in branches if b), ast.unparse(call.func), call.lineno)]

    def _comprehension(self, expr: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> list[Node]:
        first, *rest = expr.generators
        before = self.expression(first.iter)
        inner: list[Node] = []
        for generator in rest:
            inner.extend(self.expression(generator.iter))
        for generator in expr.generators:
            for condition in generator.ifs:
                inner.extend(self.expression(condition))
        elements = [expr.key, expr.value] if isinstance(expr, ast.DictComp) else [expr.elt]
        for element in elements:
            inner.extend(self.expression(element))
        if not inner:
            return before
        return [*before, Loop("for", _comprehension_header(expr), tuple(inner), line=expr.lineno)]

    def coroutines(self, expr: ast.expr) -> _Branches | None:
        """The steps of coroutines built but not awaited by ``expr``: ``f(ctx)``, ``[f(ctx), g(ctx)]``,
        ``[f(ctx, x) for x in xs]``, or a name bound to such (``None`` if ``expr`` is none of these)."""
        if isinstance(expr, ast.Name):
            return self.bound.pop(expr.id, None)
        if isinstance(expr, ast.Call):
            info = self.classifier.info(expr)
            if info.role == "gather":
                return (tuple(self._gather(expr)),)
            if info.role == "step" and info.step_like:
                return ((*self._arguments(expr), self._new_step(expr)),)
            return None
        if isinstance(expr, ast.List | ast.Tuple):
            parts = [self.coroutines(e.value if isinstance(e, ast.Starred) else e) for e in expr.elts]
            if not parts or any(p is None for p in parts):
                return None
            return tuple(branch for part in parts if part is not None for branch in part)
        if isinstance(expr, ast.ListComp | ast.GeneratorExp):
            before = self.expression(expr.generators[0].iter)
            inner = self.coroutines(expr.elt)
            if inner is None:
                return None
            body = tuple(node for branch in inner for node in branch)
            return ((*before, Loop("for", _comprehension_header(expr), body, line=expr.lineno)),)
        return None

    def _started_tasks(self, expr: ast.expr) -> _Branches | None:
        if isinstance(expr, ast.Call) and expr.args and self.classifier.info(expr).role == "unwrap":
            name = ast.unparse(expr.func)
            if name.endswith(("create_task", "ensure_future")):
                return self.coroutines(expr.args[0])
        return None

    def _arguments(self, call: ast.Call) -> list[Node]:
        nodes: list[Node] = []
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            nodes.extend(self.expression(arg))
        return nodes

    def _awaits_in(self, expr: ast.expr) -> bool:
        return any(isinstance(n, ast.Await) for n in ast.walk(expr))

    def _new_step(self, call: ast.Call) -> Step:
        step = self.classifier.step(call, self.sites)
        self.sites += 1
        return step

    def _new_step_for_text(self, expr: ast.expr) -> Step:
        """An awaited expression that is not a call (``await task``): shown as written."""
        step = Step(StepKind.CALL, text_of(expr), ast.unparse(expr), self.sites, getattr(expr, "lineno", 0))
        self.sites += 1
        return step


def _comprehension_header(expr: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> str:
    return " ".join(f"for {ast.unparse(g.target)} in {ast.unparse(g.iter)}" for g in expr.generators)
