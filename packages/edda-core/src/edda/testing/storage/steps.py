"""Conformance tests for :class:`edda.storage.protocol.StepStore`: ``commit_step``, its fencing, its outcome and the
payloads it stores."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from edda.exceptions import LeaseLostError, PayloadTooLargeError
from edda.storage.records import (
    HistoryEventType,
    InstanceUpdate,
    NewHistoryEvent,
)
from edda.testing.storage._helpers import OTHER, T0, WORKER, completed, new_instance, step

__all__ = ["StepStoreConformance"]


@pytest.mark.asyncio
class StepStoreConformance:
    """Contract tests for :class:`~edda.storage.protocol.StepStore`. Subclasses provide the ``storage`` fixture."""

    async def test_commit_step_updates_instance(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        wake = T0 + timedelta(seconds=60)
        await storage.commit_step(
            step(
                update=InstanceUpdate(
                    status="waiting_for_timer",
                    wake_at=wake,
                    wait={"kind": "timer", "id": "sleep:1"},
                    release_lease=True,
                )
            )
        )
        got = await storage.get_instance("i-1")
        assert got.status == "waiting_for_timer" and got.wake_at == wake
        assert got.wait == {"kind": "timer", "id": "sleep:1"}
        assert got.owner_id is None
        assert got.input_data == {"x": 1}  # untouched fields stay

    async def test_fence_rejects_stale_worker_and_writes_nothing(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=1))
        later = T0 + timedelta(seconds=5)
        claimed = await storage.claim_instance(
            "i-1", worker_id=OTHER, now=later, lease_expires_at=later + timedelta(seconds=30)
        )
        assert claimed is not None and claimed.owner_id == OTHER and claimed.lease_epoch == 2
        with pytest.raises(LeaseLostError):
            await storage.commit_step(
                step(history=(completed("a:1", 1),), update=InstanceUpdate(status="completed", output_data=1))
            )
        assert await storage.get_history("i-1") == []
        assert (await storage.get_instance("i-1")).status == "running"
        await storage.commit_step(step(epoch=2, worker=OTHER, history=(completed("a:1", 2),)))
        assert [h.event_data["result"] for h in await storage.get_history("i-1")] == [2]

    async def test_fence_rejects_same_worker_with_old_epoch(self, storage: Any) -> None:
        await storage.create_instance(new_instance(lease=1))
        later = T0 + timedelta(seconds=5)
        await storage.claim_instance("i-1", worker_id=WORKER, now=later, lease_expires_at=later + timedelta(seconds=9))
        with pytest.raises(LeaseLostError):
            await storage.commit_step(step(epoch=1, history=(completed("a:1"),)))

    async def test_commit_step_on_missing_instance_is_lease_lost(self, storage: Any) -> None:
        with pytest.raises(LeaseLostError):
            await storage.commit_step(step("nope", history=(completed("a:1"),)))

    async def test_outcome_reports_cancel_request(self, storage: Any) -> None:
        await storage.create_instance(new_instance())
        assert (await storage.commit_step(step(history=(completed("a:1"),)))).cancel_requested is False
        flagged = await storage.request_cancel("i-1", now=T0)
        assert flagged is not None and flagged.cancel_requested is True
        assert (await storage.commit_step(step(history=(completed("a:2"),)))).cancel_requested is True

    # -- payloads -----------------------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "value",
        [
            "héllo wörld ✓ 日本語 🙂",
            {"nested": {"list": [1, 2.5, None, True, {"deep": ["x"]}], "empty": {}}},
            [],
            0,
            -1.25,
            None,
        ],
    )
    async def test_json_payload_round_trip(self, storage: Any, value: Any) -> None:
        await storage.create_instance(new_instance(input_data={"v": value}))
        await storage.commit_step(step(history=(completed("a:1", value),), update=InstanceUpdate(output_data=value)))
        assert (await storage.get_instance("i-1")).input_data == {"v": value}
        assert (await storage.get_history("i-1"))[0].event_data["result"] == value
        assert (await storage.get_instance("i-1")).output_data == value

    async def test_bytes_round_trip_as_bytes(self, storage: Any) -> None:
        blob = bytes(range(256)) * 4
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(
                    NewHistoryEvent(
                        "a:1", HistoryEventType.ACTIVITY_COMPLETED, {"result_encoding": "bytes"}, payload=blob
                    ),
                ),
                update=InstanceUpdate(output_data=blob),
            )
        )
        assert (await storage.get_history("i-1"))[0].payload == blob
        out = (await storage.get_instance("i-1")).output_data
        assert isinstance(out, bytes) and out == blob

    async def test_five_megabyte_payload(self, storage: Any) -> None:
        limit = storage.capabilities.max_payload_bytes
        if limit is not None and limit < 6 * 1024 * 1024:
            pytest.skip("backend limit is below 6 MB")
        big_text = "ä" * (5 * 1024 * 1024 // 2)
        big_blob = bytes(range(256)) * (5 * 1024 * 1024 // 256)
        await storage.create_instance(new_instance())
        await storage.commit_step(
            step(
                history=(
                    completed("a:1", big_text),
                    NewHistoryEvent("b:1", HistoryEventType.ACTIVITY_COMPLETED, {}, payload=big_blob),
                )
            )
        )
        history = await storage.get_history("i-1")
        assert history[0].event_data["result"] == big_text
        assert history[1].payload == big_blob

    async def test_payload_over_limit_is_rejected_and_writes_nothing(self, storage: Any) -> None:
        limit = storage.capabilities.max_payload_bytes
        if limit is None:
            pytest.skip("backend has no payload limit")
        await storage.create_instance(new_instance())
        with pytest.raises(PayloadTooLargeError):
            await storage.commit_step(step(history=(completed("a:1", "ok"), completed("b:1", "x" * (limit + 1)))))
        assert await storage.get_history("i-1") == []
