"""Turning a block's chunks back into Python source: line breaks and indentation restored, nothing else changed.

Indentation is restored statement by statement (see :func:`restore`):

* the line after a header (``if x:``, ``async def f():``) is one level deeper;
* ``else``/``elif``/``except``/``finally`` go back to the ``if``/``try``/loop they belong to;
* a decorator, ``def`` or ``class`` starts at the left margin (the seeds nest no function in flattened text);
* the line after ``return``/``raise``/``continue``/``break``/``pass`` is one level shallower;
* any other line stays at the depth of the one before;
* a comment takes the depth of the next statement (a trailing comment stays on its statement's line);
* lines inside brackets are indented one level per open bracket; a literal block's relative indentation is kept.

Where these rules cannot know where a block ends (a ``return`` after a loop, for instance), a hint in
``layout_hints.py`` gives the depth of that line. The result must parse, and must equal the seed's text once all
whitespace is removed: a restoration can only move whitespace, never change the example.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping

from tests.seed_examples._readers import Chunk
from tests.seed_examples._statements import Segment, bracket_depths, split_statements

__all__ = ["LayoutError", "restore", "signature"]

_TERMINAL = re.compile(r"^(return|raise|continue|break|pass)\b")
_DEF = re.compile(r"^(async\s+def|def|class)\b")
_CLAUSE = re.compile(r"^(else|elif|except|finally)\b")
_OPENS = {
    "else": ("if", "elif", "for", "async for", "while", "try", "except"),
    "elif": ("if", "elif"),
    "except": ("try", "except"),
    "finally": ("try", "except", "else"),
}
_WS = re.compile(r"\s+")
_INDENT = "    "


class LayoutError(ValueError):
    """A block whose layout cannot be restored (or whose hint no longer applies)."""


def signature(text: str) -> str:
    """The block's text without any whitespace: equal for the same example however it was laid out."""
    return _WS.sub("", text)


def _keyword(header: str) -> str:
    if header.startswith("async for"):
        return "async for"
    return header.split(None, 1)[0].rstrip(":")


def _render(seg: Segment, depth: int, original_lines: list[str] | None) -> list[str]:
    lines = seg.text.split("\n")
    base = _INDENT * depth
    if len(lines) == 1:
        return [base + lines[0].strip()]
    out = [base + lines[0].strip()]
    if original_lines is not None:  # a literal block: keep each continuation line's indentation relative to the first
        first = len(original_lines[0]) - len(original_lines[0].lstrip())
        for raw in original_lines[1:]:
            rel = max(len(raw) - len(raw.lstrip()) - first, 0)
            out.append(base + " " * rel + raw.strip() if raw.strip() else "")
        return out
    opened = bracket_depths(seg.text)
    for k, raw in enumerate(lines[1:], start=1):
        text = raw.strip()
        closers = len(text) - len(text.lstrip(")]}"))
        level = opened[k] - closers
        out.append(base + _INDENT * max(level, 0) + text if text else "")
    return out


def restore(chunks: list[Chunk], hints: Mapping[str, int] | None = None) -> str:
    """The block's source. ``hints`` maps a line's text (stripped) to its depth where the rules cannot tell."""
    if len(chunks) == 1 and chunks[0].mode == "indented":
        return _tidy(chunks[0].text)
    hints = dict(hints or {})
    used: set[str] = set()
    out: list[str] = []
    pending_comments: list[tuple[Segment, bool]] = []  # (comment, blank line before it)
    prev: Segment | None = None
    prev_depth = 0
    openers: list[tuple[int, str]] = []  # headers whose bodies may still be open: (depth, keyword)
    chunk_base: int | None = None

    def emit(seg: Segment, depth: int, blank_before: bool, original: list[str] | None) -> None:
        if blank_before and out and out[-1] != "":
            out.append("")
        out.extend(_render(seg, depth, original))

    for chunk_no, chunk in enumerate(chunks):
        mode = chunk.mode
        if chunk_no and out and out[-1] != "":
            out.append("")  # paragraphs of a block were separated by blank lines
        segs = split_statements(chunk.text, joined=(mode == "joined"))
        if segs is None:
            raise LayoutError(f"chunk {chunk_no + 1} is not a sequence of Python statements")
        if mode == "preserved" and (chunk_no == 0 or chunks[chunk_no - 1].mode != "preserved"):
            # a literal block continues the code before it, at the depth of that code's last statement
            chunk_base = 0 if prev is None else prev_depth + (1 if prev.kind == "header" else 0)
        raw_lines = chunk.text.split("\n")
        line_starts = [0]
        for line in raw_lines[:-1]:
            line_starts.append(line_starts[-1] + len(line) + 1)
        last_end = 0
        for offset, seg in segs:
            gap = chunk.text[last_end:offset]
            blank_before = gap.count("\n") >= 2
            same_line = "\n" not in gap and last_end > 0
            last_end = offset + len(seg.text)
            line_no = max(k for k, start in enumerate(line_starts) if start <= offset)
            original = None
            if mode == "preserved":
                original = raw_lines[line_no : line_no + seg.text.count("\n") + 1]
            if seg.kind == "comment":
                if same_line and out:
                    out[-1] += "  " + seg.text
                else:
                    pending_comments.append((seg, blank_before))
                continue
            first_line = seg.text.split("\n", 1)[0].strip()
            if mode == "preserved":
                col = len(raw_lines[line_no]) - len(raw_lines[line_no].lstrip())
                depth = (chunk_base or 0) + col // len(_INDENT)
            elif prev is not None and prev.kind == "header":
                depth = prev_depth + 1
            elif prev is not None and prev.kind == "decorator":
                depth = prev_depth
            elif _CLAUSE.match(first_line):
                kw = _keyword(first_line)
                match = next((d for d, k in reversed(openers) if k in _OPENS[kw] and d < prev_depth), None)
                if match is None:
                    match = next((d for d, k in reversed(openers) if k in _OPENS[kw]), 0)
                depth = match
            elif seg.kind == "decorator" or _DEF.match(first_line):
                depth = 0
            elif prev is not None and _TERMINAL.match(prev.text):
                depth = max(prev_depth - 1, 0)
            else:
                depth = prev_depth
            if first_line in hints:
                depth = hints[first_line]
                used.add(first_line)
            if depth == 0 and out and mode != "preserved" and prev is not None and prev.kind != "decorator":
                if seg.kind == "decorator" or _DEF.match(first_line) or prev_depth > 0:
                    blank_before = True  # a new top-level definition or statement after a body: a blank line
            if pending_comments and blank_before:
                pending_comments[0] = (pending_comments[0][0], True)
                blank_before = False
            for comment, blank in pending_comments:
                emit(comment, depth, blank, None)
            pending_comments = []
            emit(seg, depth, blank_before, original)
            openers = [(d, k) for d, k in openers if d < depth]
            if seg.kind == "header":
                openers.append((depth, _keyword(first_line)))
            prev, prev_depth = seg, depth
    for comment, blank in pending_comments:
        emit(comment, prev_depth + (1 if prev is not None and prev.kind == "header" else 0), blank, None)
    unused = set(hints) - used
    if unused:
        raise LayoutError(f"layout hints that match no line: {sorted(unused)}")
    return _tidy("\n".join(out))


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    indents = [len(line) - len(line.lstrip()) for line in lines if line]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines) + "\n"


def check(raw_chunks: list[Chunk], source: str, *, lang: str) -> None:
    """Raise LayoutError unless ``source`` is the chunks' text with only whitespace moved (and parses, for Python)."""
    if signature("".join(c.text for c in raw_chunks)) != signature(source):
        raise LayoutError("the restored text differs from the seed's text in more than whitespace")
    if lang == "python":
        try:
            ast.parse(source)
        except SyntaxError as exc:
            raise LayoutError(f"the restored text does not parse: {exc}") from exc
