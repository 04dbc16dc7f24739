"""The errors this package raises, and which of Mirascope's errors are worth retrying.

Hierarchy::

    edda.TerminalError
    └── LLMCallError          the provider refused the request, or the model is not usable as configured
    edda.EddaError
    └── ToolLoopLimitError    DurableAgent.chat_with_tool_loop ran out of iterations
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mirascope import llm

from edda.exceptions import EddaError, TerminalError

__all__ = ["LLMCallError", "ToolLoopLimitError", "refused_calls_are_terminal"]

# The same request would fail the same way: retrying costs time and money and cannot succeed. Rate limits (429),
# server errors (5xx), timeouts, lost connections and unparsable model output are left to the retry policy.
_REFUSED = (
    llm.BadRequestError,
    llm.AuthenticationError,
    llm.PermissionError,
    llm.NotFoundError,
)
_NOT_CONFIGURED = (llm.NoRegisteredProviderError, llm.MissingAPIKeyError, llm.FeatureNotSupportedError)


class LLMCallError(TerminalError):
    """An LLM call that cannot succeed by retrying it: the provider refused the request (HTTP 400, 401, 403, 404,
    409 or 422), or no provider/API key is configured for the model. Never retried.

    The Mirascope error is the ``__cause__`` on the first run; on replay the recorded message says the same.
    """


class ToolLoopLimitError(EddaError):
    """``DurableAgent.chat_with_tool_loop`` made ``max_iterations`` LLM calls and the model still asked for tools."""


@contextlib.contextmanager
def refused_calls_are_terminal(model: str) -> Iterator[None]:
    """Turn Mirascope's errors that no retry can fix into :class:`LLMCallError` (a ``TerminalError``)."""
    try:
        yield
    except _REFUSED as exc:
        status = getattr(exc, "status_code", None)
        raise LLMCallError(
            f"The provider refused the LLM call to {model!r} (HTTP {status}, {type(exc).__name__}): {exc}. "
            f"The same request would be refused again, so it is not retried: check the model name, the "
            f"parameters, the messages and the API key."
        ) from exc
    except _NOT_CONFIGURED as exc:
        raise LLMCallError(f"The LLM call to {model!r} cannot be made ({type(exc).__name__}): {exc}") from exc
