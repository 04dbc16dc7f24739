"""``EddaApp(outbox_enabled=True)`` without ``broker_url`` starts, as the seed README's CloudEvents snippet does, and
says at startup where its outbox events will go."""

from __future__ import annotations

import logging

import pytest

from edda import EddaApp
from edda._app import DEFAULT_BROKER_URL


async def test_outbox_without_broker_url_starts_and_logs_the_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edda")
    app = EddaApp(db_url="memory://", service_name="order-service", outbox_enabled=True)
    async with app:
        assert app._relayer is not None
        assert (
            app._relayer.broker_url == DEFAULT_BROKER_URL == "http://broker-ingress.knative-eventing.svc.cluster.local"
        )
        assert app.broker_url is None  # send_event without a broker still delivers to this app's own workflows
    started = [r for r in caplog.records if r.name == "edda" and "Outbox relayer started" in r.getMessage()]
    assert len(started) == 1
    assert started[0].levelno == logging.INFO
    message = started[0].getMessage()
    assert DEFAULT_BROKER_URL in message and "broker_url=" in message  # where, and how to change it


async def test_an_explicit_broker_url_is_logged_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="edda")
    url = "https://alice:s3cret@broker.example:8443/default/default?token=abc"
    async with EddaApp(db_url="memory://", outbox_enabled=True, broker_url=url) as app:
        assert app._relayer.broker_url == url
    [message] = [r.getMessage() for r in caplog.records if "Outbox relayer started" in r.getMessage()]
    assert "https://broker.example:8443/default/default" in message
    assert "s3cret" not in message and "alice" not in message and "abc" not in message
    assert "default Knative" not in message
