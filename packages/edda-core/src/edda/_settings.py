"""``AppSettings``: the options of an :class:`edda.EddaApp`, validated once, frozen."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from edda.exceptions import ConfigurationError
from edda.retry import RetryPolicy

__all__ = ["AppSettings", "BatchSize", "check_leader_options", "display_url"]

BatchSize = int | Literal["auto", "auto:cpu"]


@dataclass(frozen=True, kw_only=True)
class OutboxOptions:
    """How the outbox relayer of an ``EddaApp(outbox_enabled=True, outbox_options=...)`` publishes events.

    The defaults ride out a broker outage of hours: a failing event is retried with exponential backoff (from
    ``backoff_base`` seconds, doubling, capped at ``backoff_max``, with jitter) until it is published, while the
    later events of its instance wait behind it (order per instance).

    Attributes:
        max_retries: retries after the first attempt before a transiently failing event is marked ``failed``;
            ``None`` (default) = retry until it succeeds. A failed event holds back its instance's later events
            until it is re-sent (``app.resend_outbox_event``) or skipped (``app.skip_outbox_event``).
        backoff_base: seconds before the first retry.
        backoff_max: the longest wait between two attempts.
        poll_interval: seconds between looks at the outbox when nothing wakes the relayer.
        batch_size: events sent concurrently per pass (at most one per instance).
        max_age_hours: events older than this are marked ``expired`` instead of sent (``None``: no limit).
        timeout: seconds per HTTP request.
        claim_seconds: how long a relayer's claim on an event keeps other relayers off it (must exceed
            ``timeout``).
    """

    max_retries: int | None = None
    backoff_base: float = 1.0
    backoff_max: float = 300.0
    poll_interval: float = 1.0
    batch_size: int = 10
    max_age_hours: float | None = None
    timeout: float = 10.0
    claim_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.max_retries is not None and (
            isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0
        ):
            raise ConfigurationError(f"OutboxOptions.max_retries must be an int >= 0 or None, got {self.max_retries!r}")

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of ``edda_outbox.OutboxRelayer``."""
        return asdict(self)


@dataclass(frozen=True)
class AppSettings:
    """What an app was configured with (see :class:`edda.EddaApp` for each option's meaning).

    Raises:
        ConfigurationError: an option is out of range or of the wrong type (the message names it).
    """

    service_name: str = "edda"
    db_url: str | None = None
    outbox_enabled: bool = False
    broker_url: str | None = None
    outbox_options: OutboxOptions = field(default_factory=OutboxOptions)
    default_retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    message_retention_days: float = 7
    instance_retention_days: float | None = None
    use_listen_notify: bool | None = None
    notify_fallback_interval: float | None = None
    max_workflows_per_batch: BatchSize = 10
    auto_migrate: bool = True
    lease_timeout_seconds: float = 30.0
    recovery_interval: float = 1.0
    run_workflows: bool = True
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.service_name, str) or not self.service_name:
            raise ConfigurationError("service_name must be a non-empty string, e.g. EddaApp(service_name='orders')")
        if self.broker_url is not None and (
            not isinstance(self.broker_url, str) or not self.broker_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError(
                "broker_url must be an http:// or https:// URL (where CloudEvents are POSTed), "
                "e.g. 'http://broker-ingress.knative-eventing.svc.cluster.local'"
            )
        if not isinstance(self.default_retry_policy, RetryPolicy):
            raise ConfigurationError("default_retry_policy must be a RetryPolicy")
        batch = self.max_workflows_per_batch
        if not (isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1) and batch not in (
            "auto",
            "auto:cpu",
        ):
            raise ConfigurationError(
                f"max_workflows_per_batch must be a positive int, 'auto' or 'auto:cpu', got {batch!r}"
            )
        if not isinstance(self.outbox_options, OutboxOptions):
            raise ConfigurationError(
                f"outbox_options must be an edda.outbox.OutboxOptions, got {type(self.outbox_options).__name__}: "
                "EddaApp(outbox_enabled=True, outbox_options=OutboxOptions(backoff_max=60))"
            )
        if not isinstance(self.run_workflows, bool):
            raise ConfigurationError(f"run_workflows must be True or False, got {self.run_workflows!r}")
        positive = [
            ("lease_timeout_seconds", self.lease_timeout_seconds),
            ("recovery_interval", self.recovery_interval),
            ("message_retention_days", self.message_retention_days),
        ]
        if self.notify_fallback_interval is not None:
            positive.append(("notify_fallback_interval", self.notify_fallback_interval))

        for name, value in positive:
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        days = self.instance_retention_days
        if days is not None and (isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= 36500):
            raise ConfigurationError(
                f"instance_retention_days must be a number of days, more than 0 and at most 36500, or None to keep "
                f"finished instances forever; got {days!r}"
            )


def check_leader_options(leader_heartbeat_interval: Any, leader_lease_duration: Any) -> None:
    """0.16's leader-election options: accepted so its code runs, but Edda elects no leader (every background duty
    is idempotent and runs on every worker), so setting them warns that they have no effect."""
    for name, value in (
        ("leader_heartbeat_interval", leader_heartbeat_interval),
        ("leader_lease_duration", leader_lease_duration),
    ):
        if value is not None:
            warnings.warn(
                f"EddaApp({name}=...) has no effect: Edda elects no leader (every background duty is idempotent and "
                f"runs on every worker). Remove the option; see docs/migrating-from-0.16.md.",
                DeprecationWarning,
                stacklevel=3,
            )


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment (they may hold credentials), for logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
