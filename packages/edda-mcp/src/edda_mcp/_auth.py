"""Bearer tokens: the MCP SDK's ``TokenVerifier``, or 0.16's simple ``token_verifier(token) -> bool`` adapted to one."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from mcp.server.auth.provider import AccessToken, TokenVerifier

__all__ = ["PredicateTokenVerifier", "TokenCheck", "as_token_verifier"]

TokenCheck: TypeAlias = Callable[[str], "bool | Awaitable[bool]"]
"""``check(token) -> bool`` (or an async one): is this bearer token acceptable?"""


class PredicateTokenVerifier:
    """An MCP SDK :class:`~mcp.server.auth.provider.TokenVerifier` built from a yes/no check of the token.

    Args:
        check: ``check(token) -> bool`` or ``async check(token) -> bool``. A sync check runs on the event loop:
            keep it quick (compare with ``hmac.compare_digest``), or make it async if it does I/O.
        client_id: the client id recorded for accepted tokens (the SDK binds sessions to it).
        scopes: the scopes granted to accepted tokens.

    Example::

        verifier = PredicateTokenVerifier(lambda token: hmac.compare_digest(token, SECRET))
    """

    def __init__(self, check: TokenCheck, *, client_id: str = "edda-mcp-client", scopes: Sequence[str] = ()) -> None:
        if not callable(check):
            raise TypeError(f"check must be a callable taking the token and returning a bool, got {check!r}")
        self._check = check
        self._client_id = client_id
        self._scopes = list(scopes)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The access granted to ``token``, or ``None`` if the check says no."""
        verdict = self._check(token)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not True:
            return None
        return AccessToken(token=token, client_id=self._client_id, scopes=list(self._scopes))


def as_token_verifier(value: TokenVerifier | TokenCheck | None) -> TokenVerifier | None:
    """``value`` as a ``TokenVerifier``: an SDK verifier (it has ``verify_token``) is used as it is, a callable is
    wrapped in :class:`PredicateTokenVerifier`.

    Raises:
        TypeError: ``value`` is neither.
    """
    if value is None:
        return None
    if callable(getattr(value, "verify_token", None)):
        return value  # type: ignore[return-value]
    if callable(value):
        return PredicateTokenVerifier(value)  # type: ignore[arg-type]
    raise TypeError(
        "token_verifier must be an MCP TokenVerifier (an object with `async verify_token(token) -> AccessToken | "
        f"None`) or a callable `check(token) -> bool`; got {type(value).__name__}"
    )
