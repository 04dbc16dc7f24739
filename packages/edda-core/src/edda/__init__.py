"""Edda: durable execution for Python, as a library in your own process.

Workflows survive crashes and restarts by deterministic replay of a history kept in your database.

    from edda import EddaApp, workflow, activity, WorkflowContext
"""

from __future__ import annotations

from edda._activity import Activity, activity
from edda._app import EddaApp
from edda._channels import ChannelMessage, publish, receive, send_to, subscribe, unsubscribe
from edda._compensation import compensation, on_failure, register_compensation
from edda._context import WorkflowContext
from edda._engine import RecurException
from edda._events import EventMetadata, ReceivedEvent, send_event, wait_event
from edda._outbox import send_event_transactional
from edda._waits import ReceiveTimeoutError, sleep, sleep_until, wait_timer, wait_until
from edda._workflow import Workflow, get_all_workflows, workflow
from edda.clock import Clock, IdSource
from edda.exceptions import (
    ChannelModeConflictError,
    ConfigurationError,
    EddaError,
    EventTimeoutError,
    InvalidInputError,
    LeaseLostError,
    NonDeterminismError,
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

__version__ = "0.1.0"

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
    "workflow",
]
