"""The exceptions of the LlamaIndex integration.

::

    Exception
    ├── WorkflowExecutionError   the LlamaIndex workflow failed (a step failed for good, a timeout, bad input)
    └── WorkflowReplayError      a recorded step result no longer fits the workflow's code
"""

from __future__ import annotations

__all__ = ["WorkflowExecutionError", "WorkflowReplayError"]


class WorkflowExecutionError(Exception):
    """The LlamaIndex workflow run by :class:`~edda_llamaindex.DurableWorkflowRunner` failed.

    Its ``__cause__`` is what LlamaIndex raised: a step's exception (after Edda's retries and the step's own
    retry policy), a ``WorkflowTimeoutError``, a ``WorkflowValidationError``...

    Attributes:
        workflow_name: the LlamaIndex workflow's class name.
    """

    def __init__(self, message: str, *, workflow_name: str) -> None:
        super().__init__(message)
        self.workflow_name = workflow_name


class WorkflowReplayError(Exception):
    """A step result recorded in the Edda history cannot be turned back into LlamaIndex events.

    This happens when the workflow's code changed while an instance was in flight: an event class was renamed,
    moved or lost a field. Deploy code whose event classes still read the recorded results, or let in-flight
    instances finish on the old code.

    Attributes:
        step_name: the step whose recorded result failed to load.
        activity_id: the Edda activity id of that result.
    """

    def __init__(self, message: str, *, step_name: str, activity_id: str) -> None:
        super().__init__(message)
        self.step_name = step_name
        self.activity_id = activity_id
