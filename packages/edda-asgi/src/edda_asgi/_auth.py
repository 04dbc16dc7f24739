"""Who may cancel workflows over HTTP: a bearer token, a callable, both, or (by default) anyone who can connect."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from edda_asgi._headers import Headers
from edda_asgi._problems import HTTPProblem

__all__ = ["CancelAuthorizer", "CancelGuard"]

CancelAuthorizer = Callable[[dict[str, Any]], "bool | Awaitable[bool]"]


class CancelGuard:
    """Checks a cancel request: the bearer token first (401), then the authorizer (403).

    Args:
        token: the secret expected as ``Authorization: Bearer <token>``; ``None`` checks no token.
        authorizer: ``authorizer(scope) -> bool`` or an async one; ``None`` checks nothing more.
    """

    def __init__(self, *, token: str | None, authorizer: CancelAuthorizer | None) -> None:
        if token is not None and (not isinstance(token, str) or not token):
            raise ValueError("cancel_token must be a non-empty string (or None to require no token)")
        if authorizer is not None and not callable(authorizer):
            raise ValueError("cancel_authorizer must be a callable taking the ASGI scope and returning a bool")
        self._token = token.encode("utf-8") if token is not None else None
        self._authorizer = authorizer

    @property
    def open(self) -> bool:
        """True when anyone who can reach the endpoint may cancel any workflow."""
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
                    "Cancelling needs the header 'Authorization: Bearer <cancel token>'",
                    error_type="Unauthorized",
                    headers=[("www-authenticate", 'Bearer realm="edda"')],
                )
        if self._authorizer is not None:
            verdict = self._authorizer(scope)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                raise HTTPProblem(403, "Not allowed to cancel this workflow instance", error_type="Forbidden")
