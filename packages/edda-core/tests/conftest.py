from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edda import EddaApp
from edda.storage.memory import InMemoryStorage
from edda.testing import FakeClock


@pytest.fixture
def storage() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
async def app(storage: InMemoryStorage) -> AsyncIterator[EddaApp]:
    app = EddaApp(service_name="test", storage=storage, recovery_interval=0.05)
    await app.initialize()
    yield app
    await app.shutdown()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake_time_app(storage: InMemoryStorage, clock: FakeClock) -> AsyncIterator[EddaApp]:
    """An app on a fake clock: retry backoff and timers take no real time."""
    app = EddaApp(service_name="test", storage=storage, clock=clock, recovery_interval=0.05)
    await app.initialize()
    yield app
    await app.shutdown()
