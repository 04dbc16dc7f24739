"""Recognising Python statements in text whose line breaks or indentation were lost.

The seeds' flattened pages keep a code block's lines but drop their indentation; the API reference goes further
and joins a docstring example's lines with spaces (a doctest's ``...`` prompts survive as line separators, its
``>>>`` prompts do not). This module finds the statements in such text: :func:`split_statements` cuts a string
into logical lines, each of which must parse as one simple statement, a compound-statement header (``if x:``),
a decorator or a comment, and together account for the whole string. Statements are taken as long as they can
be and comments as short as they can be, so ``x = f(a) y = g(b)`` becomes two assignments, ``raise E(m)`` stays
whole, and ``# Get session session = ctx.session`` is a comment and an assignment (a statement right after a
comment, or anywhere in joined text, must be one that a line of prose could not parse as; see ``_is_weak``).
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from dataclasses import dataclass

__all__ = ["Segment", "bracket_depths", "classify", "split_statements"]

_COMPOUND = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Match,
)
_TRY_STAR = getattr(ast, "TryStar", ast.Try)
_HEADER_PROBES = (
    "{s}\n    pass\n",
    "if 1:\n    pass\n{s}\n    pass\n",  # else: / elif ...:
    "try:\n    pass\n{s}\n    pass\n",  # except ...: / finally:
    "{s}\n    pass\nexcept Exception:\n    pass\n",  # try:
    "{s}\n    pass\nelse:\n    pass\n",  # for/while with an else clause (never needed alone, harmless)
)


@dataclass(frozen=True)
class Segment:
    """One logical line: ``kind`` is stmt, header, decorator or comment; ``strong`` is False for statements that
    a line of prose could also parse as (a bare name, a constant, an annotation)."""

    text: str
    kind: str
    strong: bool


def _parse(src: str) -> ast.Module | None:
    try:
        return ast.parse(src)
    except (SyntaxError, ValueError):
        return None


def _is_weak(node: ast.stmt) -> bool:
    if isinstance(node, ast.AnnAssign):
        return True
    if isinstance(node, ast.Expr):
        return not isinstance(node.value, ast.Call | ast.Await | ast.Yield | ast.YieldFrom | ast.Lambda)
    return False


def bracket_depths(text: str) -> list[int]:
    """For each physical line of ``text``, how many brackets are open at its start."""
    depths = [0] * (text.count("\n") + 1)
    depth = 0
    line = 1
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            while line < min(tok.start[0], len(depths)):
                line += 1
                depths[line - 1] = depth
            if tok.type == tokenize.OP and tok.string in "([{":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]}":
                depth -= 1
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return depths


@functools.lru_cache(maxsize=65536)
def classify(text: str) -> Segment | None:
    """What ``text`` (one logical line, possibly spanning physical lines inside brackets) is, or None."""
    s = text.strip()
    if not s:
        return None
    if "\n" in s and not all(bracket_depths(s)[1:]):
        return None  # a logical line continues onto another physical line only inside brackets
    if s.startswith("#"):
        return Segment(s, "comment", False) if "\n" not in s else None
    if _strip_trailing_comment(s) != s:
        return None  # a comment at the end is a segment of its own
    if s.startswith("@"):
        tree = _parse(f"{s}\ndef _f():\n    pass\n")
        return Segment(s, "decorator", True) if tree is not None and len(tree.body) == 1 else None
    if s.endswith(":"):
        for probe in _HEADER_PROBES:
            tree = _parse(probe.format(s=s))
            if tree is not None and len(tree.body) == 1:
                return Segment(s, "header", True)
        return None
    tree = _parse(s)
    if tree is None or len(tree.body) != 1:
        return None
    node = tree.body[0]
    if isinstance(node, _COMPOUND) or isinstance(node, _TRY_STAR):
        return None  # a one-line compound statement: its body is cut off as separate lines
    return Segment(s, "stmt", not _is_weak(node))


def _strip_trailing_comment(s: str) -> str:
    """``s`` without a ``# comment`` on its last line (found by tokenising, so a ``#`` inside a string stays)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(s).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return s
    lines = s.splitlines(keepends=True)
    for tok in tokens:
        if tok.type == tokenize.COMMENT and tok.start[0] == len(lines):
            return s[: sum(len(line) for line in lines[:-1]) + tok.start[1]].rstrip()
    return s


_BOUNDARY = re.compile(r"\s+")


def split_statements(text: str, *, joined: bool) -> list[tuple[int, Segment]] | None:
    """Cut ``text`` into logical lines ``(offset in text, segment)``, or None if it is not Python statements.

    ``joined`` says whether statements may also end in the middle of a physical line (the API reference's joined
    docstring lines); otherwise they end only at line breaks. A comment always ends at a line break. In joined
    text every statement must be a strong one (see ``_is_weak``): prose is made of bare words.
    """
    # Candidate ends: every line break and the end of the text; in joined text also every run of spaces on the first
    # line (the doctest's ``>>>`` lines were joined there; each ``...`` line after it is one source line).
    first_break = text.find("\n") if "\n" in text else len(text)
    ends: list[tuple[int, int, bool]] = []  # (end of segment, start of next, is a line break)
    for m in _BOUNDARY.finditer(text):
        newline = "\n" in m.group()
        before_comment = text.startswith("#", m.end())  # a trailing comment is a segment of its own
        if newline or before_comment or (joined and m.start() < first_break):
            ends.append((m.start(), m.end(), newline))
    ends.append((len(text), len(text), True))

    @functools.cache
    def parse_from(pos: int, after_comment: bool) -> tuple[tuple[int, Segment], ...] | None:
        while pos < len(text) and text[pos] in " \t\n":
            pos += 1
        if pos >= len(text):
            return ()
        is_comment = text[pos] == "#"
        # A comment ends as early as it can (prose rarely parses as code); a statement as late as it can, so that
        # ``raise Error(...)`` is not cut into ``raise`` and a call.
        for end, nxt, newline in ends if is_comment else reversed(ends):
            if end <= pos:
                continue
            piece = text[pos:end]
            if is_comment:
                seg = Segment(piece.strip(), "comment", False)
            else:
                seg = classify(piece)
                if seg is None:
                    continue
                if (after_comment or joined) and not seg.strong:
                    continue  # in joined text, a bare name or constant is a word of the prose around the code
            rest = parse_from(nxt, is_comment and not newline)
            if rest is not None:
                return ((pos, seg), *rest)
            if is_comment and newline:
                return None  # a comment cannot run past the end of its line
        return None

    result = parse_from(0, False)
    return list(result) if result is not None else None
