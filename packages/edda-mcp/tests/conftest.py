"""Fixtures for the edda-mcp tests. The helpers live in edda_mcp_testkit.py, the test server in edda_mcp_testapp.py
and its models in edda_mcp_testmodels.py; this folder is put on sys.path so the tests import them by those (unique)
names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from edda_mcp_testkit import ServerFiles, make_files  # noqa: E402


@pytest.fixture
def files(tmp_path: Path) -> ServerFiles:
    return make_files(tmp_path / "server")
