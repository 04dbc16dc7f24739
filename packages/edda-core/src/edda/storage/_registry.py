"""Resolution of database URL schemes to storage backends (see :mod:`edda.storage`)."""

from __future__ import annotations

import re
import threading
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

from edda.exceptions import ConfigurationError, StorageNotFoundError
from edda.storage.memory import InMemoryStorage

__all__ = ["available_schemes", "open_storage", "register", "resolve_scheme"]

ENTRY_POINT_GROUP = "edda.storage"

_INSTALL_HINTS = {
    "sqlite": 'pip install "edda-storage-sql[sqlite]"',
    "postgresql": 'pip install "edda-storage-sql[postgresql]"',
    "postgres": 'pip install "edda-storage-sql[postgresql]"',
    "mysql": 'pip install "edda-storage-sql[mysql]"',
    "mariadb": 'pip install "edda-storage-sql[mysql]"',
}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class StorageFactory(Protocol):
    def from_url(self, url: str, **options: Any) -> Any: ...


_runtime: dict[str, Any] = {}
_entry_points: dict[str, EntryPoint] | None = None
_lock = threading.Lock()


def _builtins() -> dict[str, Any]:
    return {"memory": InMemoryStorage}


def register(scheme: str, factory: Any) -> None:
    """Register ``factory`` (anything with ``from_url(url, **options)``) for ``scheme``; it takes precedence over
    built-ins and entry points."""
    if not callable(getattr(factory, "from_url", None)):
        raise ConfigurationError(f"A storage factory needs a from_url(url, **options) method; got {factory!r}")
    _runtime[scheme.lower()] = factory


def _scan_entry_points() -> dict[str, EntryPoint]:
    global _entry_points
    with _lock:
        if _entry_points is None:
            _entry_points = {ep.name.lower(): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        return _entry_points


def available_schemes() -> list[str]:
    """Every scheme that can be opened now (runtime registrations, built-ins, installed plugins)."""
    return sorted(set(_runtime) | set(_builtins()) | set(_scan_entry_points()))


def resolve_scheme(url: str) -> str:
    """The URL's scheme, lower-cased (``postgresql+asyncpg``). Never echoes the URL in errors."""
    if not isinstance(url, str):
        raise ConfigurationError(f"db_url must be a string like 'sqlite:///workflow.db', got {type(url).__name__}")
    match = _SCHEME_RE.match(url)
    if match is None:
        raise ConfigurationError(
            "db_url has no scheme; expected a URL such as 'sqlite:///workflow.db', "
            "'postgresql://user@host/db', 'mysql://user@host/db' or 'memory://'."
        )
    return match.group(1).lower()


def _lookup(scheme: str) -> Any | None:
    if scheme in _runtime:
        return _runtime[scheme]
    builtins = _builtins()
    if scheme in builtins:
        return builtins[scheme]
    ep = _scan_entry_points().get(scheme)
    return ep.load() if ep is not None else None


def open_storage(url: str, **options: Any) -> Any:
    """Build the storage for ``url`` (tries the full scheme, then the part before ``+``). Does no I/O.

    Raises:
        StorageNotFoundError: no backend for the scheme; the message names the ``pip install`` that provides it.
    """
    scheme = resolve_scheme(url)
    candidates = [scheme] + ([scheme.split("+", 1)[0]] if "+" in scheme else [])
    for candidate in candidates:
        factory = _lookup(candidate)
        if factory is not None:
            return factory.from_url(url, **options)
    base = candidates[-1]
    hint = _INSTALL_HINTS.get(base)
    how = f"Install it with: {hint}" if hint else "Install a package that registers it in the 'edda.storage' group"
    raise StorageNotFoundError(
        f"No Edda storage is installed for database URL scheme {scheme!r}. {how}. "
        f"Schemes available now: {', '.join(available_schemes())}."
    )
