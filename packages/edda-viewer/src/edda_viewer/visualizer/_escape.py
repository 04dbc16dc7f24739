"""Escaping text for Mermaid's quoted labels (``id["..."]``, ``id{{"..."}}``, ``-->|"..."|``).

Inside double quotes Mermaid takes everything up to the next ``"``, then renders the text as HTML after decoding
its own entity codes (``#quot;``, ``#35;``, ``#128512;``). So a label is safe when it has no raw ``"``, no raw
``#`` (``#name;`` would be read as an entity), no ``&`` or ``<>`` (read as HTML), no backtick (a label in
backticks is a Markdown string), no ``$`` (``$$...$$`` is KaTeX), no ``%`` or ``{`` (``%%{init: ...}%%``
directives are matched anywhere in the text), and no line breaks. Every such character becomes a numeric entity
code, which Mermaid renders as the character itself: the reader sees the original text.

0.16.2 replaced braces by parentheses and dropped brackets and quotes (its issue #7 fix), which changed what
the reader saw; entity codes keep the text exact. The Mermaid-structural characters ``[]{}|;\\`` are encoded
too even though the quotes already protect them, so that the escaped text is safe in any quoted position.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["ELLIPSIS", "SAFE_ASCII", "escape_mermaid_label", "unescape_mermaid_label"]

ELLIPSIS = "…"
SAFE_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ()',.:=+-*/!?@^~_")
"""The ASCII characters that appear raw in an escaped label; every other ASCII character is an entity code."""

# Unicode categories kept raw: letters, marks, numbers, punctuation, symbols. Format (Cf), private-use (Co),
# unassigned (Cn) and surrogate (Cs) code points become entity codes; control characters and separators are
# whitespace and collapse to one space.
_RAW_CATEGORIES = frozenset("LMNPS")
_WHITESPACE = re.compile(r"\s+")
_ENTITY = re.compile(r"#(\d+);")


def escape_mermaid_label(text: str, max_len: int | None = 60) -> str:
    """Make ``text`` safe inside a Mermaid double-quoted label, keeping what the reader sees.

    Runs of whitespace (newlines included) become one space; text longer than ``max_len`` characters is cut to
    ``max_len`` characters ending in ``…``; then every character Mermaid or HTML would interpret (``"#&<>$%``,
    backticks, ``[]{}|;\\``, invisible and unpaired code points) becomes a numeric entity code (``#34;``) that
    Mermaid renders as the character itself.

    Args:
        text: the label as the reader should see it (an f-string's source, an event type, anything).
        max_len: the longest label shown, in characters (``None``: no limit).

    Returns:
        The escaped label, to be put between double quotes: ``f'{node_id}["{escape_mermaid_label(text)}"]'``.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: ``max_len`` is not a positive integer or ``None``.

    Example::

        >>> escape_mermaid_label("wait_event: f'order.{order_id}'")
        "wait_event: f'order.#123;order_id#125;'"
    """
    if not isinstance(text, str):
        raise TypeError(f"escape_mermaid_label() takes a str, got {type(text).__name__}; pass str(value)")
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
        raise ValueError(f"max_len must be a positive int or None, got {max_len!r}")
    shown = _WHITESPACE.sub(" ", "".join(_visible(ch) for ch in text)).strip()
    if max_len is not None and len(shown) > max_len:
        shown = shown[: max_len - 1].rstrip() + ELLIPSIS
    return "".join(_encode(ch) for ch in shown)


def unescape_mermaid_label(label: str) -> str:
    """The text a reader sees for a label made by :func:`escape_mermaid_label` (entity codes decoded)."""
    return _ENTITY.sub(lambda m: chr(int(m.group(1))), label)


def _visible(ch: str) -> str:
    """Whitespace and control characters as a space; everything else unchanged."""
    if ch.isspace() or unicodedata.category(ch) == "Cc":
        return " "
    return ch


def _encode(ch: str) -> str:
    if ch in SAFE_ASCII:
        return ch
    if ord(ch) > 127 and unicodedata.category(ch)[0] in _RAW_CATEGORIES:
        return ch
    return f"#{ord(ch)};"
