"""A workflow started from inside an activity (or an on_event handler, which runs as one) is a workflow of its own:
its run does not inherit the activity's transaction scope, so its waits and activities work."""

from __future__ import annotations

from edda import EddaApp, WorkflowContext, activity, wait_event, workflow


@activity
async def child_step(ctx: WorkflowContext, n: int) -> int:
    return n + 1


@workflow
async def started_child(ctx: WorkflowContext, n: int) -> int:
    value = await child_step(ctx, n)
    event = await wait_event(ctx, f"child.go.{n}")
    return value + event.data["extra"]


@activity
async def start_child(ctx: WorkflowContext, n: int) -> str:
    return await started_child.start(n=n, instance_id=f"child-{n}")


@workflow
async def parent_starting_a_child(ctx: WorkflowContext, n: int) -> str:
    return await start_child(ctx, n)


async def test_a_workflow_started_in_an_activity_runs_as_a_workflow() -> None:
    async with EddaApp(service_name="start-from-activity", db_url="memory://") as app:
        parent = await parent_starting_a_child.start(n=4)
        assert await app.wait_for_result(parent, timeout=5) == "child-4"
        event = {"type": "child.go.4", "source": "t", "id": "go-4", "eddainstanceid": "child-4", "data": {"extra": 10}}
        await app.handle_cloudevent(event)
        assert await app.wait_for_result("child-4", timeout=5) == 15


async def test_an_on_event_handler_starts_a_workflow_that_waits() -> None:
    app = EddaApp(service_name="start-from-handler", db_url="memory://")

    @app.on_event("child.requested")
    async def start_it(event: object) -> None:
        await started_child.start(n=7, instance_id="child-7")

    async with app:
        await app.handle_cloudevent({"type": "child.requested", "source": "t", "id": "r-1", "data": {}}, wait=True)
        await app.handle_cloudevent(
            {"type": "child.go.7", "source": "t", "id": "go-7", "eddainstanceid": "child-7", "data": {"extra": 1}}
        )
        assert await app.wait_for_result("child-7", timeout=5) == 9
