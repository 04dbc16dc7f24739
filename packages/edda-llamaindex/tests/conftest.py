"""Fixtures for the LlamaIndex integration: an Edda app on a real SQLite file, quick retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edda import EddaApp, RetryPolicy
from edda.storage.records import HistoryEventType
from tests.integration.databases import temporary_database

# Three attempts, 10 ms apart (the default policy waits 1 s, 2 s, ...).
QUICK_RETRY = RetryPolicy(initial_interval=0.01, backoff_coefficient=1.0, max_attempts=3)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'llamaindex.db'}"


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[EddaApp]:
    async with EddaApp(service_name="llamaindex-tests", db_url=db_url, default_retry_policy=QUICK_RETRY) as app:
        yield app


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
async def any_db_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EddaApp]:
    """An app on a fresh database of each kind; PostgreSQL and MySQL skip (saying how to enable them) unless
    EDDA_TEST_POSTGRES_URL / EDDA_TEST_MYSQL_URL name a server."""
    async with temporary_database(request.param, tmp_path) as url:
        async with EddaApp(service_name="llamaindex-tests", db_url=url, default_retry_policy=QUICK_RETRY) as app:
            yield app


async def wait_status(app: EddaApp, instance_id: str, status: str, timeout: float = 60.0) -> None:
    """Wait until the instance has ``status`` (e.g. ``waiting_for_event``)."""
    async with asyncio.timeout(timeout):
        while True:
            record = await app.get_instance(instance_id)
            if record is not None and record.status == status:
                return
            await asyncio.sleep(0.02)


async def run_ended(app: EddaApp, instance_id: str, timeout: float = 60.0) -> None:
    """Wait until no task of this app runs the instance (a waiting instance keeps nothing in memory)."""
    async with asyncio.timeout(timeout):
        while instance_id in app.worker.tasks:
            await asyncio.sleep(0.01)


async def completed_steps(app: EddaApp, instance_id: str) -> list[str]:
    """The names of the activities the instance completed, in history order."""
    history = await app.storage.get_history(instance_id)
    return [e.event_data["activity_name"] for e in history if e.event_type == HistoryEventType.ACTIVITY_COMPLETED]


async def history_types(app: EddaApp, instance_id: str) -> list[tuple[str, str]]:
    """``(activity id, event type)`` of every history entry."""
    return [(e.activity_id, str(e.event_type)) for e in await app.storage.get_history(instance_id)]
