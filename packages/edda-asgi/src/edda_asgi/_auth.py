"""Who may post events, and who may cancel workflows: a bearer token, a callable, both, or (by default) anyone who
can connect. The two endpoints have a guard each, configured alike."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from edda_asgi._headers import Headers
from edda_asgi._problems import HTTPProblem

__all__ = ["Authorizer", "CancelAuthorizer", "RequestGuard"]

Authorizer = Callable[[dict[str, Any]], "bool | Awaitable[bool]"]
CancelAuthorizer = Authorizer  # the name of 1.0.0


class RequestGuard:
    """Checks a request: the bearer token first (401), then the authorizer (403).

    Args:
        token: the secret expected as ``Authorization: Bearer <token>``; ``None`` checks no token.
        authorizer: ``authorizer(scope) -> bool`` or an async one; ``None`` checks nothing more.
        option: the prefix of the options, for messages (``"cancel"`` for ``cancel_token``/``cancel_authorizer``).
        action: what the request does, for messages (``"cancel this workflow instance"``).
    """

    def __init__(self, *, token: str | None, authorizer: Authorizer | None, option: str, action: str) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError(f"{option}_token must be a non-empty string (or None to require no token)")
        if authorizer is not None and not callable(authorizer):
            raise ValueError(f"{option}_authorizer must be a callable taking the ASGI scope and returning a bool")
        self._token = token.encode("utf-8") if token is not None else None
        self._authorizer = authorizer
        self._option = option
        self._action = action

    @property
    def open(self) -> bool:
        """True when anyone who can reach the endpoint may use it."""
        return self._token is None and self._authorizer is None

    async def check(self, scope: dict[str, Any], headers: Headers) -> None:
        """Raises:
        HTTPProblem: 401 without the right bearer token, 403 when the authorizer says no.
        """
        if self._token is not None:
            scheme, _, credentials = (headers.get("authorization") or "").partition(" ")
            given = credentials.strip().encode("latin-1")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given, self._token):
                raise HTTPProblem(
                    401,
                    f"Requests to {self._action} need the header 'Authorization: Bearer <{self._option}_token>'",
                    error_type="Unauthorized",
                    headers=[("www-authenticate", 'Bearer realm="edda"')],
                )
        if self._authorizer is not None:
            verdict = self._authorizer(scope)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                raise HTTPProblem(403, f"Not allowed to {self._action}", error_type="Forbidden")
