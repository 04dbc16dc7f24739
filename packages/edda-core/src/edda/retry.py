"""Retry policies for activities.

Resolution order for an activity's policy: ``@activity(retry_policy=...)``, then
``EddaApp(default_retry_policy=...)``, then :data:`DEFAULT_RETRY_POLICY` (5 attempts, 1 s, x2, 60 s cap, 300 s total).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edda.exceptions import ConfigurationError, TerminalError

__all__ = [
    "AGGRESSIVE_RETRY",
    "CONSERVATIVE_RETRY",
    "DEFAULT_RETRY_POLICY",
    "INFINITE_RETRY",
    "NO_RETRY",
    "RetryPolicy",
]


@dataclass(frozen=True)
class RetryPolicy:
    """How an activity is retried after an exception.

    Attributes:
        initial_interval: delay in seconds before the first retry.
        backoff_coefficient: multiplier applied to the delay after each retry.
        max_interval: cap on a single delay, in seconds.
        max_attempts: attempts including the first; ``None`` for no limit.
        max_duration: total seconds after the first attempt's start beyond which no retry starts; ``None`` for no limit.
        retryable_error_types: exception types that are retried.
        non_retryable_error_types: exception types never retried (checked first).

    ``TerminalError`` is never retried, whatever the policy says.
    """

    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval: float = 60.0
    max_attempts: int | None = 5
    max_duration: float | None = 300.0
    retryable_error_types: tuple[type[BaseException], ...] = field(default=(Exception,))
    non_retryable_error_types: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_attempts is not None and (not isinstance(self.max_attempts, int) or self.max_attempts < 1):
            raise ConfigurationError(
                f"RetryPolicy.max_attempts must be a positive int or None (no limit), got {self.max_attempts!r}"
            )
        for name in ("initial_interval", "max_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.backoff_coefficient, int | float) or self.backoff_coefficient < 1:
            raise ConfigurationError(
                f"RetryPolicy.backoff_coefficient must be >= 1.0, got {self.backoff_coefficient!r}"
            )
        if self.max_duration is not None and (not isinstance(self.max_duration, int | float) or self.max_duration < 0):
            raise ConfigurationError(f"RetryPolicy.max_duration must be >= 0 or None, got {self.max_duration!r}")

    def calculate_delay(self, attempt: int) -> float:
        """Delay in seconds before the retry that follows failed attempt ``attempt`` (1-indexed).

        ``initial_interval * backoff_coefficient ** (attempt - 1)``, capped at ``max_interval``.
        """
        if attempt < 1:
            raise ValueError(f"attempt is 1-indexed, got {attempt}")
        try:
            delay = self.initial_interval * (self.backoff_coefficient ** (attempt - 1))
        except OverflowError:
            return float(self.max_interval)
        return float(min(delay, self.max_interval))

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried: never a ``TerminalError``, then the two type lists, in that order."""
        if isinstance(error, TerminalError):
            return False
        if self.non_retryable_error_types and isinstance(error, self.non_retryable_error_types):
            return False
        return isinstance(error, self.retryable_error_types)


DEFAULT_RETRY_POLICY = RetryPolicy()
"""5 attempts; delays 1, 2, 4, 8 s; 60 s cap; stop after 300 s."""

AGGRESSIVE_RETRY = RetryPolicy(
    initial_interval=0.1, backoff_coefficient=1.5, max_interval=10.0, max_attempts=10, max_duration=60.0
)
"""Fast retries for low-latency services: 10 attempts starting at 100 ms."""

CONSERVATIVE_RETRY = RetryPolicy(
    initial_interval=5.0, backoff_coefficient=2.0, max_interval=300.0, max_attempts=3, max_duration=900.0
)
"""Few, slow retries for rate-limited or expensive services."""

INFINITE_RETRY = RetryPolicy(max_attempts=None, max_duration=None)
"""Retry until it succeeds (use with care)."""

NO_RETRY = RetryPolicy(max_attempts=1)
"""Fail on the first error."""
