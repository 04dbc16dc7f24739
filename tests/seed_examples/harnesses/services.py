"""Clients for the services the examples call without defining them (``email_service``, ``llm_client``,
``payment_service``, ``http_client``, ``external_service``, ``db``). Each talks to a real server: a JSON service
on loopback (standins.JsonService) or, for ``db``, an SQLite database with the ``inventory`` table the query reads."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx

from tests.seed_examples.harnesses.standins import JsonService, serve

_ids = itertools.count(1)


def _routes() -> dict[str, Any]:
    return {
        "/email/send": lambda body: {"id": f"msg-{next(_ids)}"},
        "/llm/generate": lambda body: {"text": f"answer to [{body['prompt']}]"},
        "/payments/charge": lambda body: {"id": f"txn-{next(_ids)}", "amount": body["amount"]},
        "/process": lambda body: {"processed": body},
        "/api/data": lambda body: {"value": 42},
    }


class Flaky:
    """A route that answers 500 to its first ``fails`` calls, then like ``ok``."""

    def __init__(self, fails: int, ok: Any) -> None:
        self.fails = fails
        self.ok = ok
        self.calls = 0

    def __call__(self, body: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fails:
            return 500, {"error": f"failure {self.calls} of {self.fails}"}
        return self.ok(body)


@contextlib.asynccontextmanager
async def services(**overrides: Any) -> AsyncIterator[SimpleNamespace]:
    """The JSON service on loopback; ``overrides`` replace routes (path -> handler)."""
    service = JsonService({**_routes(), **overrides})
    async with serve(service, lifespan="off") as url:
        yield SimpleNamespace(url=url, service=service)


async def _post(url: str, payload: Any) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.post(url, json=payload)
        response.raise_for_status()
        return response.json()


class EmailService:
    def __init__(self, base: str) -> None:
        self.base = base

    async def send(self, email: str, message: str) -> Any:
        return SimpleNamespace(**await _post(f"{self.base}/email/send", {"to": email, "message": message}))


class LlmClient:
    """A stand-in for an LLM client: ``generate(prompt)`` asks the loopback service and returns its text."""

    def __init__(self, base: str) -> None:
        self.base = base

    async def generate(self, prompt: str) -> str:
        return (await _post(f"{self.base}/llm/generate", {"prompt": prompt}))["text"]


class PaymentService:
    def __init__(self, base: str) -> None:
        self.base = base

    async def charge(self, amount: float) -> Any:
        return SimpleNamespace(**await _post(f"{self.base}/payments/charge", {"amount": amount}))


class ExternalService:
    def __init__(self, base: str) -> None:
        self.base = base

    async def process(self, data: Any) -> Any:
        return await _post(f"{self.base}/process", data)


class AsyncHttp:
    """What ``await httpx.get(url)`` / ``await http_client.get(url)`` in the examples expect: an awaitable ``get``
    returning an httpx response (made by a real ``httpx.AsyncClient``)."""

    async def get(self, url: str, **options: Any) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(url, **options)


class InventoryDb:
    """``await db.query(sql, *params)`` on a real SQLite database holding an ``inventory`` table."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute("CREATE TABLE inventory (id TEXT PRIMARY KEY, stock INTEGER)")
        self.conn.executemany("INSERT INTO inventory VALUES (?, ?)", stock.items())
        self.queries: list[tuple[Any, ...]] = []

    async def query(self, sql: str, *params: Any) -> int:
        self.queries.append((sql, *params))
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else 0
