"""What differs between SQLite, PostgreSQL and MySQL/MariaDB: value conversions and a few SQL fragments.

Timestamps are stored as timezone-aware UTC with microsecond precision everywhere: PostgreSQL ``TIMESTAMPTZ``, MySQL
``DATETIME(6)`` holding UTC, SQLite integer microseconds since the Unix epoch (sortable, exact, cheap to convert).
Everything read back is a timezone-aware ``datetime`` in UTC.

``input_filters`` of ``find_instances`` match a JSON value at a dotted path with exact type semantics (the string
``"5"`` is not the number ``5``; ``True`` matches only a JSON boolean; ``5`` matches ``5.0``). Each dialect has its own
JSON functions for that; paths and values are always bound parameters, never spliced into the SQL.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from edda.exceptions import ConfigurationError
from edda_storage_sql._codec import encode_json

__all__ = ["Dialect", "MySQLDialect", "PostgresDialect", "SQLiteDialect", "dialect_for", "like_pattern", "to_utc"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def to_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC ``datetime`` (a naive one is taken to be UTC already)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def like_pattern(needle: str) -> str:
    """A ``LIKE ... ESCAPE '!'`` pattern matching ``needle`` as a lower-cased literal substring."""
    escaped = needle.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _check_filter(path: Any, value: Any) -> list[str]:
    if not isinstance(path, str) or not path:
        raise ConfigurationError(
            f"An input filter path must be a non-empty dotted string like 'customer.id', got {path!r}"
        )
    parts = path.split(".")
    for part in parts:
        if not part or '"' in part or "\\" in part or any(ord(c) < 32 for c in part):
            raise ConfigurationError(
                f"Input filter path {path!r} is not supported: each dotted part must be non-empty and contain no "
                f"double quote, backslash or control character."
            )
    if value is not None and not isinstance(value, str | int | float | bool):
        raise ConfigurationError(
            f"Input filter {path!r} compares against a {type(value).__name__}; only str, int, float, bool and None "
            f"can be matched."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigurationError(f"Input filter {path!r} compares against {value!r}, which JSON cannot hold.")
    return parts


class Dialect:
    """Conversions and SQL fragments of one database family."""

    name: ClassVar[str]
    multi_process: ClassVar[bool] = True
    returning: ClassVar[bool] = True

    # -- values ------------------------------------------------------------------------------------------------------

    def ts_in(self, value: datetime | None) -> Any:
        """A ``datetime`` as the driver should bind it."""
        return None if value is None else _aware(value)

    def ts_out(self, value: Any) -> datetime | None:
        """A timestamp read from the driver, as an aware UTC ``datetime``."""
        return None if value is None else to_utc(value)

    def bool_in(self, value: bool) -> Any:
        return value

    # -- SQL fragments -------------------------------------------------------------------------------------------------

    def lock_suffix(self) -> str:
        """Appended to the ``SELECT`` that picks rows to claim (row locks that skip rows other workers hold)."""
        return " FOR UPDATE SKIP LOCKED"

    def json_filter(self, index: int, path: str, value: Any) -> tuple[str, dict[str, Any]]:
        """A condition on ``input_data`` matching ``value`` at ``path``, and its parameters."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    name = "sqlite"
    multi_process = False

    def ts_in(self, value: datetime | None) -> Any:
        return None if value is None else (_aware(value) - _EPOCH) // _MICROSECOND

    def ts_out(self, value: Any) -> datetime | None:
        return None if value is None else _EPOCH + timedelta(microseconds=value)

    def bool_in(self, value: bool) -> Any:
        return 1 if value else 0

    def lock_suffix(self) -> str:
        return ""  # one writer connection per process: nothing to lock against

    def json_filter(self, index: int, path: str, value: Any) -> tuple[str, dict[str, Any]]:
        parts = _check_filter(path, value)
        p = f"f{index}_path"
        params: dict[str, Any] = {p: "$" + "".join(f'."{part}"' for part in parts)}
        kind = f"json_type(input_data, :{p})"
        if value is None:
            return f"{kind} = 'null'", params
        if isinstance(value, bool):
            return f"{kind} = '{'true' if value else 'false'}'", params
        v = f"f{index}_value"
        params[v] = value
        if isinstance(value, str):
            return f"({kind} = 'text' AND json_extract(input_data, :{p}) = :{v})", params
        return f"({kind} IN ('integer', 'real') AND json_extract(input_data, :{p}) = :{v})", params


class PostgresDialect(Dialect):
    name = "postgresql"

    def json_filter(self, index: int, path: str, value: Any) -> tuple[str, dict[str, Any]]:
        parts = _check_filter(path, value)
        params: dict[str, Any] = {}
        expr = "CAST(input_data AS jsonb)"
        for i, part in enumerate(parts):  # ``->`` with a text key never indexes into an array, unlike ``#>``
            key = f"f{index}_k{i}"
            params[key] = part
            expr += f" -> CAST(:{key} AS text)"
        v = f"f{index}_value"
        params[v] = encode_json(value)[0]
        # jsonb equality: same JSON type and value; numbers compare numerically (5 = 5.0)
        return f"{expr} = CAST(CAST(:{v} AS text) AS jsonb)", params


class MySQLDialect(Dialect):
    name = "mysql"
    returning = False

    def ts_in(self, value: datetime | None) -> Any:
        return None if value is None else _aware(value).astimezone(UTC).replace(tzinfo=None)

    def ts_out(self, value: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def bool_in(self, value: bool) -> Any:
        return 1 if value else 0

    def json_filter(self, index: int, path: str, value: Any) -> tuple[str, dict[str, Any]]:
        parts = _check_filter(path, value)
        p = f"f{index}_path"
        params: dict[str, Any] = {p: "$" + "".join(f'."{part}"' for part in parts)}
        node = f"JSON_EXTRACT(input_data, :{p})"
        kind = f"JSON_TYPE({node})"
        if value is None:
            return f"{kind} = 'NULL'", params
        v = f"f{index}_value"
        if isinstance(value, bool):
            params[v] = "true" if value else "false"
            return f"({kind} = 'BOOLEAN' AND JSON_UNQUOTE({node}) = :{v})", params
        params[v] = value
        if isinstance(value, str):  # compare bytes: the default collations ignore case
            return f"({kind} = 'STRING' AND CAST(JSON_UNQUOTE({node}) AS BINARY) = CAST(:{v} AS BINARY))", params
        if isinstance(value, int):  # exact for big integers, numeric against doubles
            return (
                f"(({kind} IN ('INTEGER', 'UNSIGNED INTEGER') AND CAST(JSON_UNQUOTE({node}) AS DECIMAL(65, 0)) = :{v})"
                f" OR ({kind} IN ('DOUBLE', 'DECIMAL') AND JSON_UNQUOTE({node}) + 0e0 = :{v}))",
                params,
            )
        numeric = "('INTEGER', 'UNSIGNED INTEGER', 'DOUBLE', 'DECIMAL')"
        return f"({kind} IN {numeric} AND JSON_UNQUOTE({node}) + 0e0 = :{v})", params


_DIALECTS: dict[str, Dialect] = {"sqlite": SQLiteDialect(), "postgresql": PostgresDialect(), "mysql": MySQLDialect()}


def dialect_for(name: str) -> Dialect:
    """The dialect object for ``sqlite``, ``postgresql`` or ``mysql``."""
    return _DIALECTS[name]
