"""The storage registry: schemes, plugins, errors that help and never leak a URL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from edda import EddaApp
from edda.exceptions import ConfigurationError, StorageNotFoundError
from edda.storage import InMemoryStorage, _registry, available_schemes, open_storage, register, resolve_scheme


def test_memory_is_built_in() -> None:
    assert isinstance(open_storage("memory://"), InMemoryStorage)
    assert "memory" in available_schemes()


def test_full_scheme_then_base_scheme() -> None:
    assert resolve_scheme("PostgreSQL+asyncpg://u:p@h/db") == "postgresql+asyncpg"
    assert isinstance(open_storage("memory+fast://"), InMemoryStorage)


def test_unknown_scheme_names_the_fix_and_hides_the_url() -> None:
    with pytest.raises(StorageNotFoundError) as info:
        open_storage("oracle://admin:s3cret-pass@db.example.com/prod")
    message = str(info.value)
    assert "'oracle'" in message and "Schemes available now:" in message and "memory" in message
    assert "s3cret-pass" not in message and "db.example.com" not in message


def test_missing_plugin_names_the_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_entry_points", {})  # as if edda-storage-sql were not installed
    with pytest.raises(StorageNotFoundError) as info:
        open_storage("postgresql://user:hunter2@localhost/db")
    assert 'pip install "edda-storage-sql[postgresql]"' in str(info.value)
    assert "hunter2" not in str(info.value)


def test_url_without_scheme() -> None:
    with pytest.raises(ConfigurationError, match="has no scheme"):
        open_storage("workflow.db")
    with pytest.raises(ConfigurationError, match="must be a string"):
        open_storage(None)  # type: ignore[arg-type]


def test_runtime_registration_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, dict]] = []

    class Custom:
        @classmethod
        def from_url(cls, url: str, **options: object) -> InMemoryStorage:
            made.append((url, options))
            return InMemoryStorage()

    monkeypatch.setattr(_registry, "_runtime", {})
    register("custom", Custom)
    assert isinstance(open_storage("custom://x", pool_size=3), InMemoryStorage)
    assert made == [("custom://x", {"pool_size": 3})]
    with pytest.raises(ConfigurationError, match="from_url"):
        register("bad", object())


async def test_app_resolves_db_url_through_the_registry() -> None:
    app = EddaApp(db_url="memory://")
    await app.initialize()
    try:
        assert isinstance(app.storage, InMemoryStorage)
    finally:
        await app.shutdown()


def test_sqlalchemy_shim_without_the_package_explains_the_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = textwrap.dedent("""
        import sys
        sys.modules["edda_storage_sql"] = None  # simulate: not installed
        try:
            from edda.storage.sqlalchemy_storage import SQLAlchemyStorage
        except ImportError as exc:
            print(exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "edda-storage-sql[sqlite]"' in out
