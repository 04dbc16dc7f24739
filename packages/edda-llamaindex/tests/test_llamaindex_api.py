"""The public names, the seed's import path, and what happens when recorded results no longer fit the code."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent

import edda_llamaindex
from edda import EddaApp, WorkflowContext, WorkflowFailedError, workflow
from edda_llamaindex import DurableWaitEvent, DurableWorkflowRunner, ResumeEvent

from .conftest import wait_status


def test_the_public_names_are_exactly_these() -> None:
    assert sorted(edda_llamaindex.__all__) == [
        "DurableSleepEvent",
        "DurableWaitEvent",
        "DurableWorkflowRunner",
        "ResumeEvent",
        "WorkflowExecutionError",
        "WorkflowReplayError",
    ]


def test_the_seed_import_path_is_the_same_api() -> None:
    from edda.integrations import llamaindex

    for name in edda_llamaindex.__all__:
        assert getattr(llamaindex, name) is getattr(edda_llamaindex, name)
    assert sorted(llamaindex.__all__) == sorted(edda_llamaindex.__all__)


def test_without_the_package_the_seed_path_names_the_pip_line() -> None:
    code = """
        import sys
        sys.modules["edda_llamaindex"] = None  # as if edda-llamaindex were not installed
        try:
            from edda.integrations.llamaindex import DurableWorkflowRunner
        except ImportError as exc:
            print(exc)
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pip install edda-llamaindex" in proc.stdout


def test_importing_edda_does_not_import_llamaindex() -> None:
    code = (
        "import sys, edda; print(sorted(m for m in sys.modules if m.split('.')[0] in ('workflows', 'edda_llamaindex')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def versioned(event_class: type[Event]) -> Any:
    """An Edda workflow named ``evolving`` whose LlamaIndex steps pass ``event_class`` along, then wait."""

    class Evolving(Workflow):
        @step
        async def first(self, ev: StartEvent) -> event_class:  # type: ignore[valid-type]
            return event_class(note="recorded")

        @step
        async def second(self, ev: event_class) -> DurableWaitEvent:  # type: ignore[valid-type]
            return DurableWaitEvent("evolving.go")

        @step
        async def third(self, ev: ResumeEvent) -> StopEvent:
            return StopEvent(result="done")

    runner = DurableWorkflowRunner(Evolving)

    async def evolving(ctx: WorkflowContext) -> Any:
        return await runner.run(ctx)

    return workflow(evolving)


async def test_a_recorded_event_class_that_is_gone_is_a_replay_error(app: EddaApp) -> None:
    class Note(Event):  # defined here, so only the first version can load it
        note: str

    class Memo(Event):
        note: str

    first_version = versioned(Note)
    iid = await first_version.start()
    await wait_status(app, iid, "waiting_for_event")

    versioned(Memo)  # "deploy" new code under the same workflow name: Note is gone
    await app.handle_cloudevent({"specversion": "1.0", "type": "evolving.go", "source": "t", "id": "e1", "data": {}})

    with pytest.raises(WorkflowFailedError, match=r"WorkflowReplayError.*step 'first'.*cannot be loaded"):
        await app.wait_for_result(iid, timeout=60)
