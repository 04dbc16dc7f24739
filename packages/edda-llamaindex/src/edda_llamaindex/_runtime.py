"""``EddaRuntime``: LlamaIndex's asyncio runtime, with each step recorded by a :class:`StepRecorder`.

LlamaIndex lets a runtime wrap the step functions it registers (that is how its durable runtimes plug in); this one
keeps the asyncio control loop unchanged and swaps in the recorded steps. One runtime serves one run.
"""

from __future__ import annotations

from typing import Any

from workflows.context.serializers import BaseSerializer
from workflows.events import StartEvent
from workflows.plugins.basic import BasicRuntime
from workflows.runtime.types.internal_state import BrokerState
from workflows.runtime.types.plugin import ExternalRunAdapter, RegisteredWorkflow
from workflows.workflow import Workflow

from edda_llamaindex._steps import StepRecorder

__all__ = ["EddaRuntime"]


class EddaRuntime(BasicRuntime):
    """The asyncio runtime whose registered steps are the recorder's activities."""

    def __init__(self, recorder: StepRecorder) -> None:
        super().__init__()
        self._recorder = recorder
        self._registered: dict[int, RegisteredWorkflow] = {}

    def get_registered(self, workflow: Workflow) -> RegisteredWorkflow | None:
        return self._registered.get(id(workflow))

    def register(self, workflow: Workflow) -> RegisteredWorkflow:
        plain = super().register(workflow)
        registered = RegisteredWorkflow(
            workflow=workflow, workflow_run_fn=plain.workflow_run_fn, steps=self._recorder.wrap(plain.steps)
        )
        self._registered[id(workflow)] = registered
        return registered

    def get_serializer(self, workflow: Workflow) -> BaseSerializer:
        return workflow.serializer if workflow.serializer is not None else self._recorder.codec

    def run_workflow(
        self,
        run_id: str,
        workflow: Workflow,
        init_state: BrokerState,
        start_event: StartEvent | None = None,
        serialized_state: dict[str, Any] | None = None,
        serializer: BaseSerializer | None = None,
    ) -> ExternalRunAdapter:
        adapter = super().run_workflow(
            run_id,
            workflow,
            init_state,
            start_event=start_event,
            serialized_state=serialized_state,
            serializer=serializer,
        )
        self._recorder.attach_store(adapter.get_state_store(()))
        return adapter
