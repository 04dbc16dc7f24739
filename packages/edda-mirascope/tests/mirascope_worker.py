"""A worker process for the SIGKILL test: a workflow that makes three sequential LLM calls with Mirascope.

    python mirascope_worker.py DB_URL INSTANCE_ID

The OpenAI provider is configured the way a deployment would be, from the environment: ``OPENAI_BASE_URL`` (the
stand-in) and ``OPENAI_API_KEY``. Starts the workflow under INSTANCE_ID, or, if it exists (a killed worker started
it), lets recovery take it over; prints the JSON result.
"""

from __future__ import annotations

import asyncio
import json
import sys

from edda import EddaApp, WorkflowContext, workflow
from edda_mirascope import durable_call


@durable_call("openai/gpt-4o-mini")
def ask(question: str) -> str:
    return question


@workflow
async def three_questions(ctx: WorkflowContext) -> list[str]:
    first = (await ask(ctx, "question 1"))["content"]
    second = (await ask(ctx, f"question 2 (after {first})"))["content"]
    third = (await ask(ctx, f"question 3 (after {second})"))["content"]
    return [first, second, third]


async def main(db_url: str, instance_id: str) -> None:
    # A short lease, so a fresh process takes over the killed one's instance within seconds.
    async with EddaApp(
        service_name="mirascope-crash", db_url=db_url, lease_timeout_seconds=2, recovery_interval=0.1
    ) as app:
        if await app.get_instance(instance_id) is None:
            await three_questions.start(instance_id=instance_id)
        result = await app.wait_for_result(instance_id, timeout=120)
        print(json.dumps({"result": result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
