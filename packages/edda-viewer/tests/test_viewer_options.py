"""The viewer's options: authentication, the loopback rule, database URLs shown without secrets, list filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edda.exceptions import ConfigurationError
from edda_viewer import ViewerAuth
from edda_viewer._filters import FilterError, parse_filters, parse_input_filters
from edda_viewer._options import (
    ViewerOptions,
    check_sqlite_exists,
    describe_database,
    is_loopback,
    normalize_db_url,
    redact,
)

TOKEN = "t0ken-of-enough-length"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
def test_loopback_hosts_need_no_authentication(host: str) -> None:
    assert is_loopback(host)
    assert ViewerOptions(host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "viewer.example.com"])
def test_other_hosts_are_refused_without_authentication(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigurationError, match=f"Refusing to listen on {host}.*--token.*--insecure"):
        ViewerOptions(host=host)
    assert ViewerOptions(host=host, auth=ViewerAuth(token=TOKEN)).auth.enabled
    assert ViewerOptions(host=host, auth=ViewerAuth(username="ops", password="secret-pw")).auth.enabled
    assert ViewerOptions(host=host, insecure=True).insecure


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"token": "short"}, "at least 16 characters"),
        ({"username": "ops"}, "the password is missing"),
        ({"password": "secret-pw"}, "the user name is missing"),
        ({"username": "o:ps", "password": "secret-pw"}, "without ':'"),
        ({"username": "ops", "password": "short"}, "at least 8 characters"),
    ],
)
def test_bad_credentials_are_refused_with_a_reason(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ViewerAuth(**kwargs)


def test_the_password_is_not_in_the_repr() -> None:
    assert "secret-pw" not in repr(ViewerAuth(username="ops", password="secret-pw"))


@pytest.mark.parametrize(
    ("options", "message"),
    [({"port": 0}, "port must be"), ({"port": True}, "port must be"), ({"refresh_interval": 0}, "refresh_interval")],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ViewerOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://edda:Pa55-word@db.internal:5433/orders?sslmode=require", "postgresql: db.internal:5433/orders"),
        ("postgresql+asyncpg://edda:Pa55-word@db.internal/orders", "postgresql: db.internal/orders"),
        ("mysql://root:Pa55-word@127.0.0.1:3306/test", "mysql: 127.0.0.1:3306/test"),
        ("sqlite:///data/app.db", "sqlite: data/app.db"),
        ("sqlite:////abs/app.db", "sqlite: /abs/app.db"),
        ("sqlite:///:memory:", "sqlite (in memory)"),
        ("memory://", "memory (nothing persisted)"),
        (None, "a storage object"),
    ],
)
def test_the_database_is_described_without_user_password_or_query(url: str | None, shown: str) -> None:
    assert describe_database(url) == shown
    assert "Pa55-word" not in shown and "edda:" not in shown and "sslmode" not in shown


def test_a_bare_path_is_a_sqlite_file() -> None:
    assert normalize_db_url("quickstart.db") == "sqlite:///quickstart.db"
    assert normalize_db_url(" postgresql://h/db ") == "postgresql://h/db"
    with pytest.raises(ConfigurationError, match="empty"):
        normalize_db_url("  ")


def test_a_missing_sqlite_file_is_refused_instead_of_created(tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "typo.db"
    with pytest.raises(ConfigurationError, match="There is no SQLite database at .*typo.db"):
        check_sqlite_exists(f"sqlite:///{missing}")
    assert not missing.exists()
    missing.write_bytes(b"")
    check_sqlite_exists(f"sqlite:///{missing}")
    check_sqlite_exists("postgresql://h/db")  # not a file: nothing to check


def test_filters_are_parsed_from_what_the_user_types() -> None:
    filters = parse_filters(
        search="  ORD ",
        status="failed",
        date_from="2025-01-01",
        date_to="2025-01-31",
        input_text='customer.id=C-4; amount=42\nvip=true; code="42"; ratio=0.5',
        page_size=10,
    )
    assert filters.search == "ORD"
    assert filters.status == "failed"
    assert filters.started_after == datetime(2025, 1, 1, tzinfo=UTC)
    assert filters.started_before == datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert filters.input_filters == (
        ("customer.id", "C-4"),
        ("amount", 42),
        ("vip", True),
        ("code", "42"),
        ("ratio", 0.5),
    )
    assert filters.page_size == 10


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"status": "done"}, "status", "not a status"),
        ({"date_from": "01/31/2025"}, "date_from", "not a date"),
        ({"date_from": "2025-02-01", "date_to": "2025-01-01"}, "date_to", "before the 'from' date"),
        ({"input_text": "customer"}, "input", "write path=value"),
        ({"input_text": "1abc=2"}, "input", "not an input path"),
        ({"page_size": 7}, "page_size", "page size must be one of"),
    ],
)
def test_malformed_filters_name_the_field(kwargs: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(FilterError, match=message) as caught:
        parse_filters(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_date_time_without_zone_is_utc() -> None:
    filters = parse_filters(date_from="2025-01-01T10:30")
    assert filters.started_after == datetime(2025, 1, 1, 10, 30, tzinfo=UTC)
    assert parse_input_filters("") == ()


def test_error_texts_lose_the_url_and_the_password() -> None:
    url = "postgresql://edda:p%40ss-W0rd@db.internal:5432/orders"
    text = f"could not connect to {url}; password p@ss-W0rd rejected (p%40ss-W0rd)"
    cleaned = redact(text, url)
    assert cleaned == ("could not connect to postgresql: db.internal:5432/orders; password *** rejected (***)")
    assert redact("plain", None) == "plain"
    assert redact("no password here", "sqlite:///app.db") == "no password here"
