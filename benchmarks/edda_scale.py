"""W7-W10 and the user-view variants of W3/W4 for this repository's Edda (see :mod:`benchmarks.scalesys` for the
workflows every system defines; W3-W6's are in :mod:`benchmarks.edda_waits`).

* ``longrun``'s recurring form uses ``await ctx.recur(done=x)`` (the other parameters are kept);
* events carrying data: ``app.handle_cloudevent({..., "data": data, "eddainstanceid": id})``, bytes as bytes;
* the user's result call: ``await app.wait_for_result(id, timeout=...)``;
* HTTP: the ``EddaApp`` itself is the ASGI app (``edda-asgi``); every POST is a CloudEvent.

``edda`` is imported in :meth:`EddaScale.setup` only.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from benchmarks.edda_waits import EddaEvents
from benchmarks.httpserve import AsgiServer
from benchmarks.scalesys import NAP_SECONDS, long_step_body, make_payload, payload_len, record_execution
from benchmarks.spec import EVENT_TYPE, Job


def _define_scale(edda: Any) -> SimpleNamespace:
    """Declare the W7-W10 workflows exactly as a user would."""
    activity, workflow = edda.activity, edda.workflow

    @activity
    async def long_step(ctx: Any, x: int, n: int) -> int:
        return await long_step_body(x, n, ctx.instance_id)

    @workflow
    async def bench_longrun(ctx: Any, k: int, n: int, every: int = 0, done: int = 0) -> dict[str, Any]:
        x = done
        while x < n:
            x = await long_step(ctx, x, n)
            if every and x % every == 0 and x < n:
                await ctx.recur(done=x)
        return {"k": k, "n": n, "last": x, "t": time.monotonic()}

    @activity
    async def add_one(ctx: Any, x: int) -> int:
        record_execution(ctx.instance_id)
        return x + 1

    @activity
    async def double(ctx: Any, x: int) -> int:
        record_execution(ctx.instance_id)
        return x * 2

    @activity
    async def minus_one(ctx: Any, x: int) -> int:
        record_execution(ctx.instance_id)
        return x - 1

    @workflow
    async def bench_tripler(ctx: Any, k: int) -> int:
        return await minus_one(ctx, await double(ctx, await add_one(ctx, k)))

    @activity
    async def produce_text(ctx: Any, size: int) -> str:
        value = make_payload(size, raw=False)
        assert isinstance(value, str)
        return value

    @activity
    async def produce_bytes(ctx: Any, size: int) -> bytes:
        value = make_payload(size, raw=True)
        assert isinstance(value, bytes)
        return value

    @workflow
    async def bench_producer(ctx: Any, k: int, size: int, raw: bool) -> dict[str, Any]:
        value = await (produce_bytes if raw else produce_text)(ctx, size)
        return {"k": k, "len": len(value)}

    @workflow
    async def bench_inbox(ctx: Any, k: int) -> dict[str, Any]:
        event = await edda.wait_event(ctx, EVENT_TYPE)
        return {"k": k, "len": payload_len(event.data), "t": time.monotonic()}

    @workflow
    async def bench_napper(ctx: Any, k: int) -> dict[str, Any]:
        await edda.sleep(ctx, NAP_SECONDS)
        return {"k": k}

    return SimpleNamespace(
        longrun=bench_longrun, tripler=bench_tripler, producer=bench_producer, inbox=bench_inbox, napper=bench_napper
    )


class EddaScale(EddaEvents):
    def __init__(self) -> None:
        super().__init__()
        self._scale: SimpleNamespace | None = None
        self._http: AsgiServer | None = None

    def preload(self) -> None:
        """Import edda (helpers call this before they time their setup)."""
        import edda  # noqa: F401  (lazy: see the module docstring)

    async def setup(self, job: Job, role: str) -> None:
        import edda  # lazy: see the module docstring

        self._scale = _define_scale(edda)  # before initialize(): a restarted worker recovers these at once
        await super().setup(job, role)

    async def launch(self, kind: str, args: dict[str, Any]) -> str:
        assert self._scale is not None
        return str(await getattr(self._scale, kind).start(**args))

    async def deliver_data(self, wid: str, data: Any) -> None:
        await self._app.handle_cloudevent(self._event(data, wid))

    async def user_result(self, wid: str, wait_s: float) -> Any:
        return await self._app.wait_for_result(wid, timeout=wait_s)

    def counts(self) -> tuple[int, int]:
        return self.run_counts.suspended, self.run_counts.completed

    async def serve_http(self) -> tuple[int, str]:
        self._http = await AsgiServer.start(self._app)
        return self._http.port, "/"

    async def stop_http(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    async def teardown(self) -> None:
        await self.stop_http()
        await super().teardown()
