"""EddaApp's options: validated once into frozen AppSettings; 0.16's leader options warn; notify_fallback_interval."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from edda import ConfigurationError, EddaApp
from edda._settings import AppSettings
from edda.storage.memory import InMemoryStorage
from edda.storage.protocol import WakeSource


def test_settings_are_frozen_and_read_through_the_app() -> None:
    app = EddaApp("orders", db_url="memory://", broker_url="http://broker.local/", recovery_interval=2)
    assert isinstance(app.settings, AppSettings)
    assert (app.service_name, app.db_url, app.broker_url) == ("orders", "memory://", "http://broker.local/")
    assert app.settings.recovery_interval == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.settings.recovery_interval = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"notify_fallback_interval": 0}, "notify_fallback_interval"),
        ({"lease_timeout_seconds": -1}, "lease_timeout_seconds"),
        ({"message_retention_days": True}, "message_retention_days"),
        ({"max_workflows_per_batch": "lots"}, "max_workflows_per_batch"),
        ({"broker_url": "broker:8080"}, "broker_url"),
    ],
)
def test_bad_options_name_themselves(options: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        EddaApp(db_url="memory://", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("option", ["leader_heartbeat_interval", "leader_lease_duration"])
def test_the_leader_options_of_0_16_warn_that_they_do_nothing(option: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"{option}=...\\) has no effect"):
        EddaApp(db_url="memory://", **{option: 15})  # type: ignore[arg-type]


class _NotifyingMemory(InMemoryStorage):
    """The reference storage plus a wake-up push, as PostgreSQL's LISTEN/NOTIFY gives."""

    def set_wake_callback(self, callback: Callable[[tuple[str, ...]], None]) -> None:
        self.callback = callback


@pytest.mark.parametrize(("storage", "expected"), [(InMemoryStorage, 0.5), (_NotifyingMemory, 7.0)])
async def test_notify_fallback_interval_spaces_recovery_passes_when_wake_ups_are_pushed(
    storage: type[InMemoryStorage], expected: float
) -> None:
    store = storage()
    assert isinstance(store, WakeSource) == (storage is _NotifyingMemory)
    async with EddaApp(storage=store, recovery_interval=0.5, notify_fallback_interval=7) as app:
        assert await app.worker._next_pass_delay() == expected
