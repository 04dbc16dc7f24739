"""Conformance tests for text a backend must refuse or keep exactly, whatever database is underneath.

Identifiers (instance ids, workflow names, channel names, worker ids, outbox event ids) holding NUL, a lone UTF-16
surrogate or a trailing space are refused with :class:`~edda.exceptions.InvalidInputError` before anything is
written: PostgreSQL cannot store NUL in text, no database stores a lone surrogate as UTF-8, and MySQL/MariaDB compare
text ignoring trailing spaces. Values (input, messages, history) hold any string and come back exactly. Free text a
caller cannot correct (an outbox error received from a broker) is stored with those characters replaced.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.exceptions import InvalidInputError
from edda.storage.records import (
    InstanceQuery,
    InstanceUpdate,
    NewMessage,
    NewOutboxEvent,
    StepCommit,
    Subscribe,
)
from edda.testing.storage._helpers import T0, WORKER, completed, new_instance, step

__all__ = ["InputConformance"]

BAD_IDS = [
    pytest.param("a\x00b", "NUL", id="nul"),
    pytest.param("a\ud800b", "surrogate", id="lone-surrogate"),
    pytest.param("order-1 ", "ends with a space", id="trailing-space"),
]
ODD_VALUES = ["nul \x00 inside", "lone \ud800 surrogate", "trailing space ", "\x01\x1f\x7f\u0085", "ünï €💥"]


@pytest.mark.asyncio
class InputConformance:
    """Contract tests for the text a backend refuses or keeps. Subclasses provide the ``storage`` fixture."""

    async def _nothing_stored(self, storage: Any) -> None:
        page = await storage.find_instances(InstanceQuery())
        assert [r.instance_id for r in page.instances] == ["i-1"]
        assert await storage.get_history("i-1") == []

    @pytest.mark.parametrize("bad, says", BAD_IDS)
    async def test_bad_instance_ids_are_refused_before_any_write(self, storage: Any, bad: str, says: str) -> None:
        await storage.create_instance(new_instance())
        with pytest.raises(InvalidInputError, match=f"instance id.*{says}"):
            await storage.create_instance(new_instance(bad))
        with pytest.raises(InvalidInputError, match="workflow name"):
            await storage.create_instance(new_instance("i-2", name=f"wf{bad}"))
        for call in (
            lambda: storage.get_instance(bad),
            lambda: storage.request_cancel(bad, now=T0),
            lambda: storage.get_history(bad),
            lambda: storage.claim_instance(bad, worker_id=WORKER, now=T0, lease_expires_at=T0),
        ):
            with pytest.raises(InvalidInputError, match=says):
                await call()
        await self._nothing_stored(storage)

    @pytest.mark.parametrize("bad, says", BAD_IDS)
    async def test_bad_channel_names_and_targets_are_refused(self, storage: Any, bad: str, says: str) -> None:
        await storage.create_instance(new_instance())
        with pytest.raises(InvalidInputError, match=f"channel name.*{says}"):
            await storage.publish(NewMessage("m1", bad, {}), now=T0)
        with pytest.raises(InvalidInputError, match=f"target instance id.*{says}"):
            await storage.publish(NewMessage("m2", "ok", {}, target_instance_id=bad), now=T0)
        with pytest.raises(InvalidInputError, match=f"channel name.*{says}"):
            await storage.commit_step(step(history=(completed("a:1"),), subscriptions=(Subscribe(bad),)))
        with pytest.raises(InvalidInputError, match=f"channel name.*{says}"):
            await storage.commit_step(step(history=(completed("a:1"),), messages=(NewMessage("m3", bad, {}),)))
        with pytest.raises(InvalidInputError, match=f"channel name.*{says}"):
            await storage.receive_or_wait(step(), channel=bad, step_id="r:1", wait=None)
        await self._nothing_stored(storage)
        _, woken = await storage.publish(NewMessage("m4", "ok", {}), now=T0)
        assert woken == ()

    @pytest.mark.parametrize("bad, says", BAD_IDS)
    async def test_bad_worker_and_outbox_ids_are_refused(self, storage: Any, bad: str, says: str) -> None:
        await storage.create_instance(new_instance())
        with pytest.raises(InvalidInputError, match=f"worker id.*{says}"):
            await storage.register_worker(bad)
        with pytest.raises(InvalidInputError, match=f"worker id.*{says}"):
            await storage.claim_runnable(worker_id=bad, now=T0, lease_expires_at=T0, limit=1)
        with pytest.raises(InvalidInputError, match=f"outbox event id.*{says}"):
            await storage.commit_step(step(history=(completed("a:1"),), outbox=(NewOutboxEvent(bad, "t", "s", {}),)))
        with pytest.raises(InvalidInputError, match=f"outbox event id.*{says}"):
            await storage.get_outbox_event(bad)
        await self._nothing_stored(storage)
        assert await storage.list_outbox() == []

    async def test_nul_in_step_ids_and_filters_is_refused(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        with pytest.raises(InvalidInputError, match="step id"):
            await storage.commit_step(step(history=(completed("a\x00:1"),)))
        with pytest.raises(InvalidInputError, match="instance id filter"):
            await storage.find_instances(InstanceQuery(instance_id="i\x00"))
        with pytest.raises(InvalidInputError, match="input filter 'x'"):
            await storage.find_instances(InstanceQuery(input_filters=(("x", "a\x00"),)))
        page = await storage.find_instances(InstanceQuery(instance_id="i-1 "))  # a filter is no id: spaces are fine
        assert page.instances == []
        await self._nothing_stored(storage)

    async def test_values_keep_any_string_exactly(self, storage: Any) -> None:
        values = {f"k{i}": v for i, v in enumerate(ODD_VALUES)} | {"nested": {"\x00key": ODD_VALUES}}
        record, _ = await storage.create_instance(new_instance(input_data=values))
        assert record.input_data == values
        assert (await storage.get_instance("i-1")).input_data == values
        await storage.commit_step(
            step(history=(completed("a:1", result=values),), update=InstanceUpdate(wait={"note": ODD_VALUES[0]}))
        )
        assert (await storage.get_history("i-1"))[0].event_data["result"] == values
        assert (await storage.get_instance("i-1")).wait == {"note": ODD_VALUES[0]}
        await storage.publish(NewMessage("m1", "ch", values, {"source": ODD_VALUES[1]}), now=T0)
        got = await storage.receive_or_wait(step(), channel="ch", step_id="r:1", wait=None)
        assert got is not None and got.data == values and got.metadata == {"source": ODD_VALUES[1]}
        assert (await storage.get_history("i-1"))[-1].event_data["data"] == values

    async def test_outbox_errors_are_stored_with_unstorable_characters_replaced(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        await storage.commit_step(StepCommit(fence=step().fence, now=T0, outbox=(NewOutboxEvent("e1", "t", "s", {}),)))
        until = T0 + timedelta(seconds=30)
        [claimed] = await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=10)
        assert claimed.event_id == "e1"
        held = await storage.retry_outbox("e1", worker_id="r1", error="502: a\x00b \ud800", next_attempt_at=T0)
        assert held is True
        assert (await storage.get_outbox_event("e1")).last_error == "502: a\ufffdb \\ud800"
        await storage.claim_outbox(worker_id="r1", now=T0, claim_expires_at=until, limit=10)
        assert await storage.finish_outbox("e1", worker_id="r1", status="failed", now=T0, error="x\x00") is True
        assert (await storage.get_outbox_event("e1")).last_error == "x\ufffd"
