"""A worker process for the SIGKILL test: a LlamaIndex workflow whose three steps each ask the LLM stand-in.

    python llamaindex_worker.py DB_URL INSTANCE_ID LLM_BASE_URL

Starts the Edda workflow under INSTANCE_ID, or, if it exists (a killed worker started it), lets recovery take it
over on the same SQLite file; prints the JSON result.
"""

from __future__ import annotations

import asyncio
import json
import sys

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

from edda import EddaApp, WorkflowContext, workflow
from edda_llamaindex import DurableWorkflowRunner
from tests.integration.llm_standin import ask_llm

LLM = sys.argv[3] if len(sys.argv) > 3 else ""  # the stand-in's base URL


class Outlined(Event):
    outline: str


class Drafted(Event):
    draft: str


class Essay(Workflow):
    @step
    async def outline(self, ctx: Context, ev: StartEvent) -> Outlined:
        await ctx.store.set("topic", ev.topic)
        return Outlined(outline=await asyncio.to_thread(ask_llm, LLM, f"outline {ev.topic}"))

    @step
    async def draft(self, ev: Outlined) -> Drafted:
        return Drafted(draft=await asyncio.to_thread(ask_llm, LLM, f"draft from [{ev.outline}]"))

    @step
    async def polish(self, ctx: Context, ev: Drafted) -> StopEvent:
        topic = await ctx.store.get("topic")  # written by the first step, in the killed process
        return StopEvent(result=await asyncio.to_thread(ask_llm, LLM, f"polish {topic}: [{ev.draft}]"))


runner = DurableWorkflowRunner(Essay)


@workflow
async def essay(ctx: WorkflowContext, topic: str) -> str:
    return await runner.run(ctx, topic=topic)


async def main(db_url: str, instance_id: str) -> None:
    async with EddaApp(service_name="llamaindex-crash", db_url=db_url, lease_timeout_seconds=2) as app:
        if await app.get_instance(instance_id) is None:
            await essay.start(instance_id=instance_id, topic="durability")
        result = await app.wait_for_result(instance_id, timeout=120)
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
