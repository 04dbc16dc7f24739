"""Fixtures for the viewer's tests (helpers are in ``viewer_test_support``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))  # viewer_test_support and viewer_demo_workflows (the processes import it too)

from tests.integration.databases import temporary_database  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a fresh PostgreSQL database when EDDA_TEST_POSTGRES_URL is set."""
    async with temporary_database(request.param, tmp_path) as url:
        yield url
