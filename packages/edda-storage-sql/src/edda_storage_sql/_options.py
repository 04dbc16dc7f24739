"""The options of ``SQLAlchemyStorage``, validated once into a frozen record that the executors read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edda.exceptions import ConfigurationError
from edda_storage_sql._url import DatabaseTarget

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "OPTIONS", "StorageOptions"]

MIB = 1024 * 1024
DEFAULT_MAX_PAYLOAD_BYTES = 16 * MIB
OPTIONS = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
    "auto_migrate",
    "max_payload_bytes",
    "echo",
    "use_listen_notify",
)


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class StorageOptions:
    """The storage's options (see :class:`~edda_storage_sql.SQLAlchemyStorage` for each), checked on creation.

    Raises:
        ConfigurationError: a value has the wrong type or is out of range (checked in field order).
    """

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30
    pool_recycle: int = 3600
    pool_pre_ping: bool = True
    auto_migrate: bool = True
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES
    echo: bool = False
    use_listen_notify: bool | None = None

    def __post_init__(self) -> None:
        _check_int("pool_size", self.pool_size, 1)
        _check_int("max_overflow", self.max_overflow, 0)
        timeout = self.pool_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(f"pool_timeout must be a number of seconds > 0, got {timeout!r}")
        object.__setattr__(self, "pool_timeout", float(timeout))
        _check_int("pool_recycle", self.pool_recycle, -1)
        _check_bool("pool_pre_ping", self.pool_pre_ping)
        _check_bool("auto_migrate", self.auto_migrate)
        _check_bool("echo", self.echo)
        if self.max_payload_bytes is not None:
            _check_int("max_payload_bytes", self.max_payload_bytes, 1)

    @property
    def payload_explicit(self) -> bool:
        """Whether the user chose ``max_payload_bytes`` (a lowered limit is then logged as a warning)."""
        return self.max_payload_bytes != DEFAULT_MAX_PAYLOAD_BYTES

    def listen_notify(self, target: DatabaseTarget) -> bool:
        """Whether to use PostgreSQL LISTEN/NOTIFY on ``target`` (on by default there, off elsewhere).

        Raises:
            ConfigurationError: ``use_listen_notify=True`` on another database.
        """
        if self.use_listen_notify and target.dialect != "postgresql":
            raise ConfigurationError(
                f"use_listen_notify=True needs PostgreSQL; this is {target.describe()}. Leave it None (auto) "
                f"or False: other databases are polled."
            )
        return target.dialect == "postgresql" and self.use_listen_notify is not False
