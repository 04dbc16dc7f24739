"""What an extracted Python block is: a whole program or a fragment, which names it leaves to a harness, and its
slug (the readable part of its id)."""

from __future__ import annotations

import ast
import builtins
import re

__all__ = ["free_names", "is_program", "slug", "top_level_await"]

_BUILTINS = set(dir(builtins)) | {"__name__", "__file__"}


class _Scopes(ast.NodeVisitor):
    """Names read somewhere in the module that no enclosing scope binds (a rough symtable that also accepts code
    symtable rejects, such as ``await`` or ``return`` at module level)."""

    def __init__(self) -> None:
        self.free: set[str] = set()
        self.stack: list[set[str]] = [set()]
        self.loads: list[tuple[str, list[set[str]]]] = []

    @staticmethod
    def _bound_in(body: list[ast.stmt] | list[ast.AST]) -> set[str]:
        names: set[str] = set()
        for node in body:
            for sub in _walk_scope(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
                    names.add(sub.id)
                elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(sub.name)
                elif isinstance(sub, ast.Import | ast.ImportFrom):
                    for alias in sub.names:
                        names.add((alias.asname or alias.name).split(".")[0])
                elif isinstance(sub, ast.ExceptHandler) and sub.name:
                    names.add(sub.name)
                elif isinstance(sub, ast.Global | ast.Nonlocal):
                    names.update(sub.names)
        return names

    def run(self, tree: ast.Module) -> set[str]:
        self._scope(tree.body, set())
        return self.free

    def _scope(self, body: list, params: set[str]) -> None:
        self.stack.append(self._bound_in(body) | params)
        for node in body:
            self._visit(node)
        self.stack.pop()

    def _visit(self, node: ast.AST) -> None:
        for sub in _walk_scope(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                if sub.id not in _BUILTINS and not any(sub.id in scope for scope in self.stack):
                    self.free.add(sub.id)
            elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                args = sub.args
                params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
                params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
                for default in [*args.defaults, *args.kw_defaults]:
                    if default is not None:
                        self._visit(default)
                if not isinstance(sub, ast.Lambda):
                    for deco in sub.decorator_list:
                        self._visit(deco)
                    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                        if arg is not None and arg.annotation is not None:
                            self._visit(arg.annotation)
                    if sub.returns is not None:
                        self._visit(sub.returns)
                    self._scope(sub.body, params)
                else:
                    self.stack.append(params)
                    self._visit(sub.body)
                    self.stack.pop()
            elif isinstance(sub, ast.ClassDef):
                for expr in [*sub.bases, *sub.decorator_list, *(k.value for k in sub.keywords)]:
                    self._visit(expr)
                self._scope(sub.body, set())
            elif isinstance(sub, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
                targets = {n.id for g in sub.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
                self.stack.append(targets)
                for child in ast.iter_child_nodes(sub):
                    self._visit(child)
                self.stack.pop()


def _walk_scope(node: ast.AST):
    """Like ast.walk, but yields a function, class or comprehension without descending into it."""
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        if isinstance(
            current,
            ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef
            | ast.Lambda
            | ast.ListComp
            | ast.SetComp
            | ast.GeneratorExp
            | ast.DictComp,
        ):
            continue
        todo.extend(reversed(list(ast.iter_child_nodes(current))))


def free_names(source: str) -> list[str]:
    """Names the code reads but never binds (what a harness has to define), sorted."""
    return sorted(_Scopes().run(ast.parse(source)))


def top_level_await(source: str) -> bool:
    """Whether the code awaits (or returns) outside any function, as a fragment of a function body does."""
    tree = ast.parse(source)
    for stmt in tree.body:
        for node in _walk_scope(stmt):
            if isinstance(node, ast.Await | ast.AsyncFor | ast.AsyncWith | ast.Return):
                return True
    return False


def is_program(source: str) -> bool:
    """A whole program: it runs as a module as it stands (no await outside a function, no undefined name)."""
    return not top_level_await(source) and not free_names(source)


def slug(source: str) -> str:
    """A short readable name: the first workflow's name, else the first function or class, else what it calls."""
    tree = ast.parse(source)
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    top = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    for node in top:
        if any(_decorator_name(d) in ("workflow", "saga") for d in getattr(node, "decorator_list", [])):
            return _clean(node.name)
    if top:
        return _clean(top[0].name)
    if defs:
        return _clean(defs[0].name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name:
                return _clean(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            return _clean(node.targets[0].id)
    if isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Dict):
        keys = [k.value for k in tree.body[0].value.keys if isinstance(k, ast.Constant)]
        return _clean("_".join(str(k) for k in keys[:2]) or "data")
    return "block"


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return getattr(node, "id", "")


def _clean(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower()).strip("_")[:40]
