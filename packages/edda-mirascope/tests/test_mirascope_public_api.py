"""The public surface: exported names, the seed's import path ``edda.integrations.mirascope``, and the error when
edda-mirascope is missing."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import edda_mirascope
from edda import Activity, TerminalError
from edda_mirascope import DurableResponse

PUBLIC = [
    "DurableAgent",
    "DurableCall",
    "DurableDeps",
    "DurableResponse",
    "LLMCallError",
    "ToolLoopLimitError",
    "call",
    "call_with_messages",
    "durable_call",
]


def test_all_is_exactly_the_public_names() -> None:
    assert sorted(edda_mirascope.__all__) == PUBLIC
    public = {n for n in vars(edda_mirascope) if not n.startswith("_")} - {"annotations"}
    assert public == set(PUBLIC)


def test_the_seed_import_path_gives_the_same_objects() -> None:
    from edda.integrations import mirascope as shim

    assert sorted(shim.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(shim, name) is getattr(edda_mirascope, name), name


def test_a_durable_call_is_an_activity_and_refusals_are_terminal() -> None:
    @edda_mirascope.durable_call("openai/gpt-4o-mini")
    def hello(name: str) -> str:
        return f"Hello {name}"

    assert isinstance(hello, Activity) and hello.name == "hello" and hello.model == "openai/gpt-4o-mini"
    assert issubclass(edda_mirascope.LLMCallError, TerminalError)


def test_a_response_survives_the_round_trip_through_a_dict() -> None:
    response = DurableResponse(
        content="hi",
        model="openai/gpt-4o-mini",
        provider="openai",
        usage={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        tool_calls=[{"id": "call_1", "name": "f", "args": {"x": 1}}],
        stop_reason="tool_calls",
        raw={"id": "resp_1"},
    )
    assert DurableResponse.from_dict(response.to_dict()) == response
    assert response.has_tool_calls
    with pytest.raises(ValueError, match="pass response_model"):
        response.parse(dict)
    with pytest.raises(TypeError, match="needs the dict a durable LLM call returned"):
        DurableResponse.from_dict({"text": "hi"})


def test_without_edda_mirascope_the_seed_path_names_the_install_line() -> None:
    code = """
        import sys
        sys.modules["edda_mirascope"] = None  # as if edda-mirascope were not installed
        import edda  # edda-core alone still imports
        from edda.integrations.mirascope import durable_call
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "pip install edda-mirascope" in proc.stderr


def test_importing_edda_does_not_load_mirascope() -> None:
    code = "import sys, edda; print(any(m.split('.')[0] in ('mirascope', 'edda_mirascope') for m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
