"""Exceptions raised by Edda.

Hierarchy::

    Exception
    └── EddaError                         base of everything Edda raises on purpose
        ├── TerminalError                 raised by user code: never retried
        │   ├── PayloadTooLargeError      a value exceeds the storage's payload limit
        │   └── SessionUnavailableError   ctx.session used where no database session exists (also a RuntimeError)
        ├── RetryExhaustedError           an activity failed on every allowed attempt
        ├── ActivityTimeoutError          an activity attempt ran past its timeout_seconds (also a TimeoutError)
        ├── EventTimeoutError             wait_event()/receive() timed out
        ├── ConfigurationError            bad EddaApp / decorator / storage options (also a ValueError)
        ├── StorageNotFoundError          no storage plugin for a URL scheme (also a LookupError)
        ├── StorageUnavailableError       the database cannot be reached
        ├── InvalidInputError             workflow input does not match its type hints (also a ValueError)
        ├── SerializationError            a value cannot be stored as JSON/bytes (also a TypeError)
        ├── NonDeterminismError           workflow code no longer matches its recorded history
        ├── WorkflowNotFoundError         unknown instance id or workflow name (also a LookupError)
        ├── WorkflowStateError            operation not allowed in the instance's state (e.g. cancel a finished one)
        ├── OutboxEventNotFoundError      unknown outbox event id (also a LookupError)
        ├── OutboxStateError              re-send/skip not allowed in the outbox event's status
        ├── WorkflowFailedError           wait_for_result() on a failed instance
        ├── WorkflowCancelledException    raised inside a cancelled workflow; wait_for_result() on a cancelled one
        ├── LeaseLostError                another worker owns the instance now; this worker's write was fenced off
        └── ChannelModeConflictError      a channel is already used with another mode

Control flow that must pass through user ``except Exception`` blocks (suspending a waiting workflow, recurring)
uses ``BaseException`` subclasses defined in the engine; they are not errors.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActivityTimeoutError",
    "ChannelModeConflictError",
    "ConfigurationError",
    "EddaError",
    "EventTimeoutError",
    "InvalidInputError",
    "LeaseLostError",
    "OutboxEventNotFoundError",
    "OutboxStateError",
    "NonDeterminismError",
    "PayloadTooLargeError",
    "RetryExhaustedError",
    "SerializationError",
    "SessionUnavailableError",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "TerminalError",
    "WorkflowCancelledException",
    "WorkflowFailedError",
    "WorkflowNotFoundError",
    "WorkflowStateError",
]


class EddaError(Exception):
    """Base class of the errors Edda raises."""


class TerminalError(EddaError):
    """A non-retryable failure: raise it from an activity to stop retrying at once.

    The workflow sees the ``TerminalError`` (the same type on replay) and may catch it.
    """


class PayloadTooLargeError(TerminalError):
    """A value is larger than the configured payload limit. Never retried."""


class SessionUnavailableError(TerminalError, RuntimeError):
    """``ctx.session`` was used where there is no database session: outside an activity, in a sync activity, or
    with a storage that has none (``memory://``). A programming error, so never retried."""


class RetryExhaustedError(EddaError):
    """An activity failed on every attempt its retry policy allowed.

    The last attempt's exception is ``__cause__``. Retry metadata is attached:

    Attributes:
        total_attempts: attempts made, including the first.
        total_duration_ms: milliseconds from the first attempt's start to the last failure.
        errors: one ``{"attempt", "error_type", "message"}`` dict per failed attempt.
        last_error: the last of ``errors``.
    """

    def __init__(
        self,
        message: str,
        *,
        total_attempts: int = 0,
        total_duration_ms: int = 0,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.total_attempts = total_attempts
        self.total_duration_ms = total_duration_ms
        self.errors: list[dict[str, Any]] = list(errors or [])
        self.last_error: dict[str, Any] | None = self.errors[-1] if self.errors else None
        self.exhausted = True


class ActivityTimeoutError(EddaError, TimeoutError):
    """An attempt of an activity did not finish within the activity's ``timeout_seconds`` (start to close).

    Retryable: the retry policy sees it like any other exception, so the activity is tried again per its policy
    (exclude it with ``RetryPolicy(non_retryable_error_types=(ActivityTimeoutError,))``); when attempts run out the
    workflow gets :class:`RetryExhaustedError` with this as its ``__cause__``. The attempt's clock starts when the
    attempt starts and is recorded, so a crash does not reset it. Also a builtin ``TimeoutError``.
    """


class EventTimeoutError(EddaError):
    """``wait_event()`` (or ``receive()``) did not get its event within ``timeout_seconds``."""


class ConfigurationError(EddaError, ValueError):
    """An option passed to Edda is invalid. The message says which and how to fix it."""


class StorageNotFoundError(EddaError, LookupError):
    """No storage is registered for a database URL's scheme."""


class StorageUnavailableError(EddaError):
    """The database could not be reached (the message names dialect, host and port, never the URL)."""


class StorageConflictError(StorageUnavailableError):
    """The database rolled a transaction back to resolve a deadlock or serialization conflict; nothing of it was
    written. Like a lost connection, the engine retries the run from the workflow's history."""


class InvalidInputError(EddaError, ValueError):
    """Workflow input does not match the workflow function's signature or type hints. Nothing was stored."""


class SerializationError(EddaError, TypeError):
    """A value cannot be stored: it is neither JSON-compatible, bytes, a pydantic model, a dataclass nor an enum."""


class NonDeterminismError(EddaError):
    """The workflow's code no longer matches its recorded history.

    Attributes:
        position: 1-based position in the history where code and history disagree.
        recorded: description of the recorded step (or ``None`` if the history ended there).
        requested: description of the step the code asks for now (or ``None`` if it asks for none).
    """

    def __init__(self, message: str, *, position: int, recorded: str | None, requested: str | None) -> None:
        super().__init__(message)
        self.position = position
        self.recorded = recorded
        self.requested = requested


class WorkflowNotFoundError(EddaError, LookupError):
    """No workflow instance with that id, or no workflow registered under that name."""


class WorkflowStateError(EddaError):
    """The operation is not allowed in the instance's current state (for example cancelling a completed one)."""

    def __init__(self, message: str, *, instance_id: str, status: str) -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.status = status


class OutboxEventNotFoundError(EddaError, LookupError):
    """No outbox event has the given id."""


class OutboxStateError(EddaError):
    """The outbox event's status does not allow the operation (re-send a published event, skip a skipped one).

    Attributes:
        event_id: the event.
        status: its current status.
    """

    def __init__(self, message: str, *, event_id: str, status: str) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.status = status


class WorkflowFailedError(EddaError):
    """The workflow instance ended in status ``failed``.

    Attributes:
        instance_id: the instance.
        error_type: the type name of the exception that failed it.
        error_message: its message.
    """

    def __init__(self, instance_id: str, error_type: str, error_message: str) -> None:
        super().__init__(f"Workflow instance {instance_id!r} failed with {error_type}: {error_message}")
        self.instance_id = instance_id
        self.error_type = error_type
        self.error_message = error_message


class WorkflowCancelledException(EddaError):
    """The workflow instance was cancelled.

    Raised inside the workflow at its next step after ``cancel_workflow()`` (compensations then run), and by
    ``wait_for_result()`` for a cancelled instance.
    """


class LeaseLostError(EddaError):
    """This worker no longer owns the instance (its lease expired and another worker took over).

    The write was rejected as a whole, so the new owner's progress is intact; this worker stops running the instance.
    """


class ChannelModeConflictError(EddaError):
    """A channel is already subscribed with a different mode (``competing`` vs ``broadcast``)."""
