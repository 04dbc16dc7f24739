"""The events a LlamaIndex workflow uses to wait durably: ``DurableSleepEvent``, ``DurableWaitEvent``, ``ResumeEvent``.

They build on LlamaIndex's human-in-the-loop pair: the two waits are ``InputRequiredEvent``\\ s (a step may return one
without another step consuming it, and it is published to the run's event stream), ``ResumeEvent`` is a
``HumanResponseEvent`` (a step may accept it without another step producing it). The runner sees the wait on the
stream, waits with Edda's durable ``sleep`` / ``wait_event`` and sends the ``ResumeEvent`` back in.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from workflows.events import HumanResponseEvent, InputRequiredEvent

__all__ = ["DurableSleepEvent", "DurableWaitEvent", "ResumeEvent"]


class DurableSleepEvent(InputRequiredEvent):
    """Return it from a step to pause the workflow durably for ``seconds``.

    The process is free meanwhile (the Edda workflow waits in the database, not in memory). When the time has passed,
    the step that accepts :class:`ResumeEvent` receives ``ResumeEvent(data=resume_data)``.

    Attributes:
        seconds: how long to sleep (0 or more).
        resume_data: handed to the resuming step as ``ResumeEvent.data`` (JSON-compatible).
    """

    seconds: float = Field(ge=0)
    resume_data: Any = None

    def __init__(self, seconds: float | None = None, resume_data: Any = None, **params: Any) -> None:
        if seconds is not None:
            params["seconds"] = seconds
        params["resume_data"] = resume_data
        super().__init__(**params)


class DurableWaitEvent(InputRequiredEvent):
    """Return it from a step to wait durably for a CloudEvent of ``event_type``.

    The event arrives through ``app.handle_cloudevent(...)``, an HTTP POST to the app, or ``send_event(...)``; the
    step that accepts :class:`ResumeEvent` then receives its data. With ``timeout_seconds`` and no event in time, it
    receives ``ResumeEvent(timed_out=True)`` instead.

    Attributes:
        event_type: the CloudEvent type to wait for.
        timeout_seconds: give up after this long (``None``: wait as long as it takes).
    """

    event_type: str = Field(min_length=1)
    timeout_seconds: float | None = Field(default=None, ge=0)

    def __init__(self, event_type: str | None = None, timeout_seconds: float | None = None, **params: Any) -> None:
        if event_type is not None:
            params["event_type"] = event_type
        params["timeout_seconds"] = timeout_seconds
        super().__init__(**params)


class ResumeEvent(HumanResponseEvent):
    """What a durable wait hands back to the workflow: accept it in the step that continues after the wait.

    Attributes:
        data: after a :class:`DurableSleepEvent`, its ``resume_data``; after a :class:`DurableWaitEvent`, the received
            CloudEvent's data (a dict, or bytes for a binary event).
        event_type: the received CloudEvent's type (``None`` after a sleep).
        metadata: the received CloudEvent's attributes (``source``, ``id``, ``time``, ...; empty after a sleep).
        timed_out: ``True`` when a ``DurableWaitEvent`` with ``timeout_seconds`` got no event in time.
    """

    data: Any = None
    event_type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    timed_out: bool = False

    def __init__(self, data: Any = None, **params: Any) -> None:
        params["data"] = data
        super().__init__(**params)
