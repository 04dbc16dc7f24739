"""Edda: durable execution for Python, as a library in your own process.

Workflows survive crashes and restarts by deterministic replay of a history kept in your database.

    from edda import EddaApp, workflow, activity, WorkflowContext
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

# The seed's module paths edda.activity, edda.compensation and edda.workflow share their names with the decorators
# bound below. Importing a submodule makes it an attribute of its package, which would replace the decorator: loaded
# here first, they are already in sys.modules when user code imports them, and the decorators bound afterwards stay.
import edda.activity as _activity_module
import edda.compensation as _compensation_module
import edda.workflow as _workflow_module
from edda import _aliases
from edda._activity import Activity, activity
from edda._app import EddaApp
from edda._channels import (
    ChannelMessage,
    join_group,
    leave_group,
    publish,
    receive,
    send_to,
    subscribe,
    unsubscribe,
    wait_message,
)
from edda._compensation import compensation, on_failure, register_compensation
from edda._context import WorkflowContext
from edda._events import EventMetadata, ReceivedEvent, send_event, wait_event
from edda._outbox import send_event_transactional
from edda._run import RecurException
from edda._settings import OutboxOptions
from edda._waits import ReceiveTimeoutError, sleep, sleep_until, wait_timer, wait_until
from edda._workflow import Workflow, get_all_workflows, saga, workflow
from edda.clock import Clock, IdSource
from edda.exceptions import (
    ActivityTimeoutError,
    ChannelModeConflictError,
    ConfigurationError,
    EddaError,
    EventTimeoutError,
    InvalidInputError,
    LeaseLostError,
    NonDeterminismError,
    OutboxEventNotFoundError,
    OutboxStateError,
    PayloadTooLargeError,
    RetryExhaustedError,
    SerializationError,
    SessionUnavailableError,
    StorageNotFoundError,
    StorageUnavailableError,
    TerminalError,
    WorkflowCancelledException,
    WorkflowFailedError,
    WorkflowNotFoundError,
    WorkflowStateError,
)
from edda.hooks import HooksBase, WorkflowHooks
from edda.retry import AGGRESSIVE_RETRY, CONSERVATIVE_RETRY, DEFAULT_RETRY_POLICY, INFINITE_RETRY, NO_RETRY, RetryPolicy
from edda.storage.records import HistoryEvent, InstanceRecord, InstanceStatus, OutboxEvent

if _typing.TYPE_CHECKING:
    from edda_asgi import create_wsgi_app as create_wsgi_app  # pyright: ignore[reportMissingImports]
    from edda_outbox import OutboxRelayer as OutboxRelayer  # pyright: ignore[reportMissingImports]

del _activity_module, _compensation_module, _workflow_module

__version__ = "1.0.0"

__all__ = [
    "wait_until",
    "wait_timer",
    "sleep_until",
    "sleep",
    "ReceiveTimeoutError",
    "wait_event",
    "send_event",
    "ReceivedEvent",
    "EventMetadata",
    "unsubscribe",
    "subscribe",
    "join_group",
    "leave_group",
    "wait_message",
    "saga",
    "send_to",
    "receive",
    "publish",
    "ChannelMessage",
    "AGGRESSIVE_RETRY",
    "CONSERVATIVE_RETRY",
    "DEFAULT_RETRY_POLICY",
    "INFINITE_RETRY",
    "NO_RETRY",
    "Activity",
    "ActivityTimeoutError",
    "ChannelModeConflictError",
    "Clock",
    "ConfigurationError",
    "EddaApp",
    "EddaError",
    "EventTimeoutError",
    "HistoryEvent",
    "HooksBase",
    "IdSource",
    "InstanceRecord",
    "InstanceStatus",
    "InvalidInputError",
    "LeaseLostError",
    "OutboxEventNotFoundError",
    "OutboxStateError",
    "NonDeterminismError",
    "OutboxEvent",
    "PayloadTooLargeError",
    "RecurException",
    "RetryExhaustedError",
    "RetryPolicy",
    "SerializationError",
    "SessionUnavailableError",
    "StorageNotFoundError",
    "StorageUnavailableError",
    "TerminalError",
    "Workflow",
    "WorkflowCancelledException",
    "WorkflowContext",
    "WorkflowFailedError",
    "WorkflowHooks",
    "WorkflowNotFoundError",
    "WorkflowStateError",
    "activity",
    "compensation",
    "get_all_workflows",
    "on_failure",
    "register_compensation",
    "send_event_transactional",
    "OutboxOptions",
    "workflow",
]

# Names whose code lives in a sibling package, each with the shim module that imports it (and, when the package is
# missing, raises an ImportError naming the `pip install` line). Imported on first use, so `import edda` stays
# stdlib-only. They are not in __all__: `from edda import *` must not need the siblings.
_FROM_SIBLINGS = {"OutboxRelayer": "edda.outbox.relayer", "create_wsgi_app": "edda.wsgi"}


def __getattr__(name: str) -> _typing.Any:
    """PEP 562: ``OutboxRelayer`` (edda-outbox) and ``create_wsgi_app`` (edda-asgi), imported on first use."""
    shim = _FROM_SIBLINGS.get(name)
    if shim is not None:
        return getattr(_importlib.import_module(shim), name)
    if name in _aliases.REPLACED["edda"]:
        _aliases.replaced(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
