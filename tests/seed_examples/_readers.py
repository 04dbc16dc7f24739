"""Finding the code blocks in each seed document, whatever shape its text has.

The seeds come in four shapes, and each has a reader here:

* Markdown (``001_*.readme.md``; ``001_*.txt`` is the same README in the ``readme`` field of a JSON record):
  fenced blocks with their language, layout intact.
* A wheel diff (``002_*.txt``): ``METADATA``'s lines, one per ``|``/number/``+`` record, with their indentation
  stripped. The README inside is Markdown again, so fences still mark the blocks, but the code is "flat".
* A web page flattened to text (``000_*.txt``, ``004_*.txt``): no fences, no indentation, no blank lines. Blocks
  are found line by line: a run of lines that parses as Python statements (see :mod:`._statements`), a run of
  shell commands, a Mermaid diagram, a JSON document, or a short "listing" (program output, a sequence diagram
  in words) right after a line that introduces it (``Execution:``, a ``¶`` heading).
* An API reference flattened to text (``003_*.txt``): docstring examples lost their ``>>>`` prompts and were
  joined into one line (the ``...`` continuation prompts survive and mark line breaks); literal blocks (``::``)
  keep their lines and relative indentation. Blocks are runs of paragraphs that parse as Python, separated by
  captions.

A block is handed on as chunks of text, each with its mode: ``indented`` (exact), ``flat`` (line breaks exact,
indentation lost), ``joined`` (line breaks partly lost) or ``preserved`` (relative indentation exact, the base
unknown). :mod:`._layout` turns chunks back into source.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.seed_examples._statements import split_statements

__all__ = ["Chunk", "RawBlock", "read_seed"]


@dataclass(frozen=True)
class Chunk:
    text: str
    mode: str  # indented | flat | joined | preserved


@dataclass
class RawBlock:
    source: str  # seed file name
    index: int  # 1-based position among the code blocks found in that file
    lang: str  # python | bash | mermaid | json | text
    chunks: list[Chunk] = field(default_factory=list)
    line: int = 0  # 1-based line in the seed text where the block starts (after un-wrapping)


_FENCE = re.compile(r"^```(\w*)\s*$")
_SHELL = re.compile(
    r"^(\$ )?(uv|pip|pip3|python|python3|uvicorn|gunicorn|uwsgi|brew|git|cd|dbmate|DATABASE_URL=\S+ dbmate)( |$)"
)
_MERMAID = re.compile(r"^(%%|graph |subgraph |end$|style |\w+(\[|\s*(-->|<-->|---)))")
_SIGNATURE = re.compile(r"^[A-Za-z_]\w*\([^()]*\)( async)?$")
_DOCTEST_PROMPT = re.compile(r" \.\.\.(?= |$)")


def read_seed(path: Path) -> list[RawBlock]:
    """Every code block in the seed file at ``path``."""
    name = path.name
    text = path.read_text(encoding="utf-8")
    if name.endswith(".md"):
        return _markdown(name, text, mode="indented")
    if text.lstrip().startswith("{"):
        record = json.loads(text)
        return _markdown(name, record["readme"], mode="indented")
    if "@@ -0,0" in text and "METADATA" in text:
        return _markdown(name, _undiff(text), mode="flat")
    if "API Reference" in text[:200]:
        return _api_reference(name, text)
    return _page(name, text)


# --- Markdown ---------------------------------------------------------------------------------------------------


def _markdown(name: str, text: str, *, mode: str) -> list[RawBlock]:
    blocks: list[RawBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i].strip())
        if m is None:
            i += 1
            continue
        lang = (m.group(1) or "text").lower()
        lang = {"sh": "bash", "shell": "bash", "console": "bash", "py": "python"}.get(lang, lang)
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(lines[i + 1 : j])
        blocks.append(RawBlock(name, len(blocks) + 1, lang, [Chunk(body, mode)], line=i + 1))
        i = j + 1
    return blocks


def _undiff(text: str) -> str:
    """The METADATA file of a wheel diff: records are ``|``, ``|``, line number, ``|``, ``+``, the line's text (absent
    for an empty line)."""
    lines = text[text.index("@@ -0,0") :].split("\n")
    out: dict[int, str] = {}
    j = 0
    while j < len(lines):
        if lines[j].isdigit() and j + 2 < len(lines) and lines[j + 1] == "|" and lines[j + 2] == "+":
            nxt = lines[j + 3] if j + 3 < len(lines) else "|"
            out[int(lines[j])] = "" if nxt == "|" else nxt
            j += 3
        else:
            j += 1
    return "\n".join(out.get(k, "") for k in range(1, max(out) + 1))


# --- Flattened pages --------------------------------------------------------------------------------------------


def _is_prose_marker(line: str) -> bool:
    return line.endswith("¶") or line.startswith(("- ", "| ", "|-")) or line == "|"


def _python_run(lines: list[str], i: int) -> int:
    """End (exclusive) of the longest run of lines from ``i`` that parses as Python and ends on a strong statement
    or a comment that follows code; ``i`` if none."""
    best = i
    failures = 0
    for j in range(i + 1, len(lines) + 1):
        if _is_prose_marker(lines[j - 1]):
            break
        segs = split_statements("\n".join(lines[i:j]), joined=False)
        if not segs or not any(s.strong for _, s in segs):
            failures += 1
            if failures > 15:
                break
            continue
        failures = 0
        if (
            segs[-1][1].strong
            or segs[-1][1].kind in ("header", "decorator")
            or (segs[-1][1].kind == "comment" and any(s.strong for _, s in segs[:-1]))
        ):
            best = j
    return best


def _is_listing_line(line: str) -> bool:
    return (
        bool(line)
        and len(line) <= 80
        and not line.endswith((".", ":", "¶"))
        and not _is_prose_marker(line)
        and not line.startswith("#")
    )


def _page(name: str, text: str) -> list[RawBlock]:
    lines = [line.strip() for line in text.splitlines()]
    blocks: list[RawBlock] = []

    def add(lang: str, start: int, end: int) -> None:
        blocks.append(RawBlock(name, len(blocks) + 1, lang, [Chunk("\n".join(lines[start:end]), "flat")], start + 1))

    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        # Shell commands, with the comments between and before them.
        j = i
        while j < len(lines) and lines[j].startswith("#") and not _SHELL.match(lines[j]):
            j += 1
        if j < len(lines) and _SHELL.match(lines[j]):
            while j < len(lines) and (_SHELL.match(lines[j]) or lines[j].startswith("#")):
                j += 1
            add("bash", i, j)
            i = j
            continue
        if line.startswith("%%{") or line.startswith("graph "):
            j = i + 1
            while j < len(lines) and _MERMAID.match(lines[j]):
                j += 1
            add("mermaid", i, j)
            i = j
            continue
        if line == "{":
            j = i + 1
            while j <= len(lines):
                try:
                    json.loads("\n".join(lines[i:j]))
                    break
                except ValueError:
                    j += 1
            add("json", i, j)
            i = j
            continue
        end = _python_run(lines, i)
        if end > i:
            add("python", i, end)
            i = end
            continue
        prev = lines[i - 1] if i else ""
        if prev.endswith((":", "¶")) and _is_listing_line(line):
            j = i
            while j < len(lines) and _is_listing_line(lines[j]) and _python_run(lines, j) == j:
                j += 1
            add("text", i, j)
            i = j
            continue
        i += 1
    return blocks


# --- API reference ----------------------------------------------------------------------------------------------


def _paragraphs(text: str) -> list[tuple[int, list[str]]]:
    out: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for n, line in enumerate(text.splitlines()):
        if line.strip():
            if not current:
                start = n
            current.append(line.rstrip())
        elif current:
            out.append((start, current))
            current = []
    if current:
        out.append((start, current))
    return out


def _code_prefix(lines: list[str]) -> tuple[int, str]:
    """How many leading lines of a paragraph are Python, and their mode: ``preserved`` (the lines as they are) or
    ``joined`` (one line holding several statements, ``...`` prompts marking some of the breaks)."""
    # Several lines are a literal block (kept as they are); a single line is a docstring example whose lines were
    # joined. Prose may follow code in the same paragraph ("Note", "Yields:"), so shorter prefixes are tried too.
    candidates = [(n, "preserved" if n > 1 else "joined") for n in range(len(lines), 0, -1)]
    for n, mode in candidates:
        if mode == "joined":
            segs = split_statements(_DOCTEST_PROMPT.sub("\n", lines[0]), joined=True)
        else:
            segs = split_statements(_dedent("\n".join(lines[:n])), joined=False)
        if not segs or not any(s.strong for _, s in segs):
            continue
        if segs[-1][1].kind == "stmt" and not segs[-1][1].strong:
            continue  # prose right after code ("Note", "Example") parses as a bare name
        return n, mode
    return 0, ""


def _dedent(text: str) -> str:
    lines = text.splitlines()
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines)


def _api_reference(name: str, text: str) -> list[RawBlock]:
    blocks: list[RawBlock] = []
    current: RawBlock | None = None

    def flush() -> None:
        nonlocal current
        if current is not None and current.chunks:
            current.index = len(blocks) + 1
            blocks.append(current)
        current = None

    for start, lines in _paragraphs(text):
        if len(lines) == 1 and _SIGNATURE.match(lines[0].strip()):
            flush()
            continue
        shell_at = next((k for k, line in enumerate(lines) if line.startswith("$ ")), None)
        code_lines = lines if shell_at is None else lines[:shell_at]
        # comments right before a shell command introduce it
        while shell_at is not None and code_lines and code_lines[-1].startswith("#"):
            code_lines = code_lines[:-1]
        n, mode = _code_prefix(code_lines) if code_lines else (0, "")
        if n:
            if current is None:
                current = RawBlock(name, 0, "python", [], line=start + 1)
            chunk_text = _DOCTEST_PROMPT.sub("\n", lines[0]) if mode == "joined" else _dedent("\n".join(lines[:n]))
            current.chunks.append(Chunk(chunk_text, mode))
        if shell_at is not None:
            flush()
            shell_start = len(code_lines)
            blocks.append(
                RawBlock(name, len(blocks) + 1, "bash", [Chunk("\n".join(lines[shell_start:]), "flat")], start + 1)
            )
            continue
        if n < len(lines):
            flush()
    flush()
    return blocks
