"""The process's current app, as the module-level API sees it (``Workflow.start``, ``publish``, ``send_event``).

The functions users call without an app in hand find the running app here. They see it only through
:class:`Client`, the few methods they need, so that nothing below the app imports the app (see
docs/architecture.md). ``EddaApp.initialize()`` installs itself; ``shutdown()`` removes itself.
"""

from __future__ import annotations

from typing import Any, Protocol

from edda.clock import Clock, IdSource
from edda.storage.protocol import Storage
from edda.storage.records import ChannelMessageRecord, NewMessage

__all__ = ["Client", "clear_current", "current_client", "set_current"]


class Client(Protocol):
    """What the module-level API needs from the running app."""

    clock: Clock
    ids: IdSource

    @property
    def storage(self) -> Storage: ...

    @property
    def broker_url(self) -> str | None: ...

    async def start_workflow(
        self,
        wf: Any,  # a Workflow or its name (typed loosely: _workflow sits above this module)
        kwargs: dict[str, Any] | None = None,
        *,
        instance_id: str | None = None,
        lock_timeout_seconds: float | None = None,
    ) -> str: ...

    async def wait_for_result(self, instance_id: str, *, timeout: float | None = None) -> Any: ...

    async def resume_workflow(self, instance_id: str) -> bool: ...

    async def publish_message(self, message: NewMessage) -> tuple[ChannelMessageRecord, tuple[str, ...]]: ...

    async def deliver_event(self, event: dict[str, Any]) -> None: ...


_current: Client | None = None


def current_client() -> Client:
    """The most recently initialized app of this process.

    Raises:
        RuntimeError: no app is initialized.
    """
    if _current is None:
        raise RuntimeError(
            "No EddaApp is running: create one and `await app.initialize()` (or `async with EddaApp(...) as app:`) "
            "before starting workflows."
        )
    return _current


def set_current(client: Client) -> None:
    global _current
    _current = client


def clear_current(client: Client) -> None:
    """Forget ``client`` if it is the current one (a newer app stays current)."""
    global _current
    if _current is client:
        _current = None
