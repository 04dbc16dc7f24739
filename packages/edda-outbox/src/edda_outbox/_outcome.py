"""What a delivery attempt means for the event: published, try again later, or give up now.

- 2xx: published.
- 400, 413, 415, 422 and 3xx: permanent: the receiver rejected this event itself (malformed, too large, a media
  type it does not take, a redirect the relayer will not follow) and will reject it again, so it is recorded as
  failed at once. A failed event holds back the later events of its instance until an operator re-sends or skips
  it (``EddaApp.resend_outbox_event`` / ``skip_outbox_event``).
- everything else (404, 401/403, 408, 409, 429, 5xx, connection failures, timeouts): transient: a broker that is
  being deployed, restarted or reconfigured answers these for a while; retried with backoff (``Retry-After``
  honoured).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["Outcome", "classify_error", "classify_response"]

_PERMANENT_STATUSES = frozenset({400, 413, 415, 422})


@dataclass(frozen=True)
class Outcome:
    """The verdict on one attempt.

    Attributes:
        kind: ``"published"``, ``"retry"`` or ``"failed"``.
        error: what went wrong (``None`` when published).
        retry_after: seconds the receiver asked us to wait (``Retry-After``), if any.
    """

    kind: str
    error: str | None = None
    retry_after: float | None = None


def classify_response(response: httpx.Response, *, now: datetime | None = None) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("published")
    detail = response.text[:200].strip()
    error = f"HTTP {status} {response.reason_phrase}" + (f": {detail}" if detail else "")
    if 300 <= status < 400:
        error += f" (redirect to {response.headers.get('location', '?')}; point broker_url at the final address)"
        return Outcome("failed", error)
    if status in _PERMANENT_STATUSES:
        return Outcome("failed", error)
    return Outcome("retry", error, _retry_after(response.headers.get("retry-after"), now))


def classify_error(exc: BaseException) -> Outcome:
    """A request that got no answer: always transient (the receiver may have processed it; same id on retry)."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return Outcome("retry", f"request {kind}: {type(exc).__name__}: {exc}".rstrip(": "))


def _retry_after(value: str | None, now: datetime | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
