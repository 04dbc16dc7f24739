"""The viewer's options, validated once: where it listens, who may use it, and which database it reads.

Standard library only (plus ``edda.exceptions``), so the command line can check its arguments before NiceGUI loads.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edda.exceptions import ConfigurationError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "MIN_TOKEN_LENGTH",
    "ViewerAuth",
    "ViewerOptions",
    "check_sqlite_exists",
    "describe_database",
    "is_loopback",
    "normalize_db_url",
    "redact",
]

MIN_TOKEN_LENGTH = 16
MIN_PASSWORD_LENGTH = 8
_TOKEN_HINT = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(24))"'


@dataclass(frozen=True)
class ViewerAuth:
    """Who may use the viewer: a token, a user name and password (HTTP basic auth), or both.

    With a token, open the viewer once as ``http://host:port/?token=<token>`` (the browser then keeps a session
    cookie) or send ``Authorization: Bearer <token>``. With a user name and password, the browser asks for them.

    Args:
        token: a secret of at least 16 characters.
        username: the user name of basic auth (with ``password``).
        password: the password of basic auth, at least 8 characters (with ``username``).

    Raises:
        ConfigurationError: a token is too short, or only one of user name and password is given.
    """

    token: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.token is not None and (not isinstance(self.token, str) or len(self.token) < MIN_TOKEN_LENGTH):
            raise ConfigurationError(
                f"The viewer's token must have at least {MIN_TOKEN_LENGTH} characters; {_TOKEN_HINT}"
            )
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "user name"
            raise ConfigurationError(
                f"Basic auth needs both a user name and a password; the {missing} is missing "
                "(--user/EDDA_VIEWER_USER and --password/EDDA_VIEWER_PASSWORD)."
            )
        if self.username is not None and (
            not isinstance(self.username, str) or not self.username or ":" in self.username
        ):
            raise ConfigurationError("The viewer's user name must be a non-empty string without ':'.")
        if self.password is not None and (
            not isinstance(self.password, str) or len(self.password) < MIN_PASSWORD_LENGTH
        ):
            raise ConfigurationError(f"The viewer's password must have at least {MIN_PASSWORD_LENGTH} characters.")

    @property
    def enabled(self) -> bool:
        """Whether any authentication is configured."""
        return self.token is not None or self.username is not None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``127.0.0.0/8``, ``::1``) or ``localhost``."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class ViewerOptions:
    """Where the viewer listens and what it allows.

    Raises:
        ConfigurationError: a bad port or refresh interval, or a non-loopback ``host`` without authentication and
            without ``insecure``.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    auth: ViewerAuth = field(default_factory=ViewerAuth)
    insecure: bool = False
    read_only: bool = False
    refresh_interval: float = 2.0
    title: str = "Edda"
    retention_days: float | None = None  # the apps' instance_retention_days: the list says what it deletes

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigurationError("host must be a non-empty string such as '127.0.0.1'")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ConfigurationError(f"port must be an int from 1 to 65535, got {self.port!r}")
        if not isinstance(self.auth, ViewerAuth):
            raise ConfigurationError("auth must be a ViewerAuth")
        interval = self.refresh_interval
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0.1 <= interval <= 3600:
            raise ConfigurationError(f"refresh_interval must be a number of seconds from 0.1 to 3600, got {interval!r}")
        days = self.retention_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 36500):
            raise ConfigurationError(
                f"retention_days (--retention-days) must be a number of days, above 0 and at most 36500, got {days!r}"
            )
        if not is_loopback(self.host) and not self.auth.enabled and not self.insecure:
            raise ConfigurationError(
                f"Refusing to listen on {self.host}, which is not a loopback address, without authentication: anyone "
                "who can reach it could read your workflows' data and start or cancel workflows. Configure a token "
                "(--token or EDDA_VIEWER_TOKEN) or basic auth (--user and --password, or EDDA_VIEWER_USER and "
                "EDDA_VIEWER_PASSWORD), or pass --insecure (insecure=True) if something in front of the viewer "
                "already authenticates users."
            )


def normalize_db_url(value: str) -> str:
    """A database URL, or a bare SQLite file path (``quickstart.db``) turned into ``sqlite:///quickstart.db``."""
    value = value.strip()
    if not value:
        raise ConfigurationError("The database URL is empty; pass --db sqlite:///edda.db or set EDDA_DB_URL.")
    if "://" not in value:
        return f"sqlite:///{value}"
    return value


def _sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite://`` URL, or None for another database or an in-memory one."""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0].lower() != "sqlite":
        return None
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        return None
    return path


def check_sqlite_exists(url: str) -> None:
    """Refuse to open a SQLite file that does not exist (a typo would otherwise create an empty database).

    Raises:
        ConfigurationError: the file is missing; the message names the path (a SQLite URL carries no password).
    """
    path = _sqlite_path(url)
    if path is not None and not Path(path).exists():
        raise ConfigurationError(
            f"There is no SQLite database at {os.path.abspath(path)!r}. Point --db (or EDDA_DB_URL) at the file your "
            "app uses, e.g. --db sqlite:///quickstart.db, or run your app once to create it."
        )


def describe_database(url: str | None) -> str:
    """What to show about a database: its kind, host, port and name, never the user, password or query."""
    if not url:
        return "a storage object"
    parts = urlsplit(url)
    kind = parts.scheme.split("+")[0].lower() or "database"
    sqlite_path = _sqlite_path(url)
    if kind == "sqlite":
        return f"sqlite: {sqlite_path}" if sqlite_path else "sqlite (in memory)"
    if kind == "memory":
        return "memory (nothing persisted)"
    try:
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "?", ""
    name = parts.path.lstrip("/")
    return f"{kind}: {host}{port}/{name}" if name else f"{kind}: {host}{port}"


def redact(text: str, url: str | None) -> str:
    """``text`` with ``url`` replaced by its description and its password masked (an error raised by a driver may
    quote either)."""
    if not url:
        return text
    text = text.replace(url, describe_database(url))
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(str(secret), "***")
    return text
