"""Fixtures for the Mirascope integration: the OpenAI-compatible stand-in on 127.0.0.1, Mirascope's real OpenAI
provider pointed at it, and an Edda app on a real SQLite file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from mirascope import llm

from edda import EddaApp, HistoryEvent, RetryPolicy
from edda.storage.records import HistoryEventType

from .mirascope_standin import StandIn, running_standin

# Retries in these tests: three attempts, 10 ms apart (the default policy waits 1 s, 2 s, ...).
QUICK_RETRY = RetryPolicy(initial_interval=0.01, backoff_coefficient=1.0, max_attempts=3)


@pytest.fixture
async def standin() -> AsyncIterator[StandIn]:
    """The stand-in, registered as Mirascope's ``openai/`` provider (base URL and API key, as a user would)."""
    with running_standin() as state:
        provider = llm.register_provider("openai", base_url=state.base_url, api_key="sk-test-standin")
        try:
            yield state
        finally:
            llm.reset_provider_registry()
            await close_clients(provider)


async def close_clients(provider: object) -> None:
    """Close the OpenAI SDK clients a provider holds (each test has its own event loop; a pooled connection left
    open would be reported as an unclosed socket when a later test collects it)."""
    for value in vars(provider).values():
        if isinstance(value, openai.AsyncOpenAI):
            await value.close()
        elif isinstance(value, openai.OpenAI):
            value.close()
        elif isinstance(value, llm.providers.BaseProvider):
            await close_clients(value)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "workflows.db")


@pytest.fixture
async def app(db_url: str) -> AsyncIterator[EddaApp]:
    async with EddaApp(service_name="mirascope-tests", db_url=db_url, default_retry_policy=QUICK_RETRY) as app:
        yield app


async def step_names(app: EddaApp, instance_id: str) -> list[str]:
    """The ids of the completed steps of an instance, in order."""
    history: list[HistoryEvent] = list(await app.storage.get_history(instance_id))
    return [e.activity_id for e in history if e.event_type == HistoryEventType.ACTIVITY_COMPLETED]


async def history_events(app: EddaApp, instance_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    history: list[HistoryEvent] = list(await app.storage.get_history(instance_id))
    return [(e.activity_id, str(e.event_type), dict(e.event_data)) for e in history]


async def wait_status(app: EddaApp, instance_id: str, status: str, timeout: float = 30.0) -> None:
    """Wait until the instance has ``status`` (e.g. suspended in ``waiting_for_event``)."""
    async with asyncio.timeout(timeout):
        while True:
            record = await app.get_instance(instance_id)
            if record is not None and record.status == status:
                return
            if record is not None and record.is_finished:
                raise AssertionError(f"{instance_id} finished as {record.status} instead of reaching {status}")
            await asyncio.sleep(0.01)
