"""edda-outbox: the transactional outbox relayer for Edda.

Events written with ``send_event_transactional`` commit atomically with the activity that wrote them; the relayer
then publishes them as CloudEvents over HTTP, at least once, in order per workflow instance, with the outbox event id
as the CloudEvent id (so receivers can deduplicate).

    app = EddaApp(db_url="sqlite:///orders.db", outbox_enabled=True, broker_url="http://broker.local/")
"""

from __future__ import annotations

from edda_outbox._encoding import encode_event
from edda_outbox._relayer import OutboxRelayer

__version__ = "1.0.0"

__all__ = ["OutboxRelayer", "encode_event"]
