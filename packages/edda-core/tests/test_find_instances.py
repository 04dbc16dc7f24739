"""EddaApp.find_instances: filters, pages, and validation of caller-supplied filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edda import EddaApp, WorkflowContext, workflow
from edda.testing import FakeClock


@workflow
async def order_flow(ctx: WorkflowContext, order_id: str, customer: dict) -> str:
    return order_id


@workflow
async def refund_flow(ctx: WorkflowContext, order_id: str) -> str:
    return order_id


async def test_filters_and_pagination(storage) -> None:  # type: ignore[no-untyped-def]
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    async with EddaApp(storage=storage, clock=clock) as app:
        for i in range(5):
            clock.advance(60)
            await app.wait_for_result(await order_flow.start(order_id=f"ORD-{i}", customer={"id": f"C{i % 2}"}))
        await app.wait_for_result(await refund_flow.start(order_id="ORD-1"))

        found = await app.find_instances(input_filters={"order_id": "ORD-1"})
        assert sorted(r["workflow_name"] for r in found["instances"]) == ["order_flow", "refund_flow"]
        found = await app.find_instances(input_filters={"customer.id": "C1"}, workflow_name="ORDER")
        assert [r.input_data["order_id"] for r in found["instances"]] == ["ORD-3", "ORD-1"]
        found = await app.find_instances(status="completed", started_after=clock.now() - timedelta(seconds=90))
        assert len(found["instances"]) == 3  # ORD-3 (60 s ago), ORD-4 and the refund (now)

        seen: list[str] = []
        token = None
        while True:
            page = await app.find_instances(limit=2, page_token=token)
            seen += [r.instance_id for r in page["instances"]]
            assert page["has_more"] == (page["next_page_token"] is not None)
            token = page["next_page_token"]
            if token is None:
                break
        assert len(seen) == len(set(seen)) == 6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_filters": {"a'; DROP TABLE x; --": 1}}, "must be a dotted path"),
        ({"input_filters": {"a": {"nested": 1}}}, "must be a str, int, float or bool"),
        ({"status": "bogus"}, "is not a workflow status"),
        ({"limit": 0}, "limit must be an int from 1 to 1000"),
        ({"started_after": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"page_token": "garbage!!"}, "page_token is not a token"),
    ],
)
async def test_bad_filters_are_rejected(app: EddaApp, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await app.find_instances(**kwargs)
