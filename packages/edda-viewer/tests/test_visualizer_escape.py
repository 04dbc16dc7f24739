"""escape_mermaid_label: what it outputs, and that decoding its entity codes gives back the text shown."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edda_viewer.visualizer import escape_mermaid_label
from edda_viewer.visualizer._escape import ELLIPSIS, SAFE_ASCII, unescape_mermaid_label

_ENTITY = re.compile(r"#\d+;")
TEXTS = st.text(alphabet=st.one_of(st.sampled_from(list('"#&<>`$%{}[]|;\\\n ')), st.characters()))


def _shown(text: str) -> str:
    """The text a reader should see: whitespace and control characters collapsed to single spaces."""
    spaced = "".join(" " if c.isspace() or unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(spaced.split())


def test_fstring_braces_become_entities_and_read_back() -> None:
    label = escape_mermaid_label("f'workflow.continue:{session_id}'")
    assert label == "f'workflow.continue:#123;session_id#125;'"
    assert unescape_mermaid_label(label) == "f'workflow.continue:{session_id}'"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ('say "hi"', "say #34;hi#34;"),
        ("a[0] | b; c", "a#91;0#93; #124; b#59; c"),
        ("#quot; & <b>", "#35;quot#59; #38; #60;b#62;"),
        ("`md` $$x$$ %%{init}%%", "#96;md#96; #36;#36;x#36;#36; #37;#37;#123;init#125;#37;#37;"),
        ("back\\slash", "back#92;slash"),
        ("plain text (with) 'quotes', ok: 1+2=3!", "plain text (with) 'quotes', ok: 1+2=3!"),
        ("日本語 😀 ünï", "日本語 😀 ünï"),
        ("zero\u200bwidth \u202e", "zero#8203;width #8238;"),
    ],
)
def test_examples(text: str, escaped: str) -> None:
    assert escape_mermaid_label(text) == escaped


def test_line_breaks_and_tabs_become_single_spaces() -> None:
    assert escape_mermaid_label("  one\n\ntwo\r\n\tthree\u2028four\x00five \x85six  ") == "one two three four five six"


def test_long_text_is_cut_to_max_len_with_an_ellipsis() -> None:
    label = escape_mermaid_label("x" * 100, max_len=20)
    assert label == "x" * 19 + ELLIPSIS
    assert escape_mermaid_label("x" * 20, max_len=20) == "x" * 20
    assert escape_mermaid_label("x" * 100, max_len=None) == "x" * 100
    assert len(escape_mermaid_label("y" * 61)) == 60


def test_cutting_happens_before_escaping_so_no_entity_is_split() -> None:
    label = escape_mermaid_label('"' * 10, max_len=5)
    assert label == "#34;" * 4 + ELLIPSIS


@pytest.mark.parametrize("max_len", [0, -1, 2.5, True, "60"])
def test_bad_max_len_is_refused(max_len: object) -> None:
    with pytest.raises(ValueError, match="max_len must be a positive int or None"):
        escape_mermaid_label("x", max_len=max_len)  # type: ignore[arg-type]


def test_non_string_text_is_refused() -> None:
    with pytest.raises(TypeError, match=r"takes a str, got int; pass str\(value\)"):
        escape_mermaid_label(42)  # type: ignore[arg-type]


def _raw_allowed(ch: str) -> bool:
    if ch in SAFE_ASCII:
        return True
    return ord(ch) > 127 and unicodedata.category(ch)[0] in "LMNPS"


@given(TEXTS, st.one_of(st.none(), st.integers(min_value=1, max_value=120)))
def test_output_alphabet(text: str, max_len: int | None) -> None:
    label = escape_mermaid_label(text, max_len)
    remainder = _ENTITY.sub("", label)
    assert all(_raw_allowed(c) for c in remainder), remainder
    for forbidden in '"#&<>`$%{}[]|;\\\n\r\t':
        assert forbidden not in remainder
    label.encode("utf-8")  # no lone surrogate reaches the page
    for code in _ENTITY.findall(label):
        assert not _raw_allowed(chr(int(code[1:-1])))  # entities only where needed


@given(TEXTS, st.one_of(st.none(), st.integers(min_value=1, max_value=120)))
def test_decoding_gives_the_text_shown(text: str, max_len: int | None) -> None:
    shown = unescape_mermaid_label(escape_mermaid_label(text, max_len))
    full = _shown(text)
    if max_len is None or len(full) <= max_len:
        assert shown == full
    else:
        assert len(shown) <= max_len
        assert shown.endswith(ELLIPSIS)
        assert full.startswith(shown[:-1])
