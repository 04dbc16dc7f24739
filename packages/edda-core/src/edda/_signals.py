"""The ``BaseException`` signals that end a run early (so that user code's ``except Exception`` cannot swallow them):
a wait, a storage fault, ``ctx.recur()``, and the replayer reaching the end of the recorded history."""

from __future__ import annotations

from typing import Any

__all__ = ["RecurException", "RecurSignal", "ReplayReachedEnd", "StorageFault", "Suspend"]


class Suspend(BaseException):
    """The workflow now waits (timer, event, message): its wait is committed and this run ends.

    Nothing of the run stays in memory; a worker resumes the instance by replaying it when the wait is over.
    A ``BaseException`` so that user code's ``except Exception`` cannot swallow it.
    """


class StorageFault(BaseException):
    """A write of the engine failed at the storage level; the run stops and is retried from history.

    A ``BaseException`` so that user code's ``except Exception`` cannot swallow it.
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ReplayReachedEnd(BaseException):
    """Raised in a dry run (the replayer) when the code asks for a step the history does not have: everything
    recorded replayed, and nothing is executed or written."""

    def __init__(self, step_id: str, requested: str) -> None:
        super().__init__(step_id, requested)
        self.step_id = step_id
        self.requested = requested


class RecurSignal(BaseException):
    """Raised by ``ctx.recur()``: restart the workflow with fresh history and new input."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("workflow recurs")
        self.kwargs = kwargs


RecurException = RecurSignal  # the seed's name
