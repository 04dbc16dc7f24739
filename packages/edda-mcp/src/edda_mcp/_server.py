"""``EddaMCPServer``: durable workflows as Model Context Protocol tools, on the official MCP Python SDK."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette

from edda import EddaApp, Workflow, workflow
from edda.exceptions import ConfigurationError
from edda.storage.protocol import Storage
from edda_mcp._auth import TokenCheck, as_token_verifier
from edda_mcp._http import HttpOptions, build_http_app
from edda_mcp._tasks import DurableMCPServer, TaskSupport
from edda_mcp._tools import DurableTool

__all__ = ["EddaMCPServer"]

_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_INSTRUCTIONS = (
    "Durable tools run long workflows that survive restarts. Calling a durable tool X starts a workflow and returns "
    "its Instance ID at once; call X_status with that instance_id to follow it (respect the suggested poll "
    "interval), X_result to get its result once it has completed, and X_cancel to cancel it (its compensations "
    "run)."
)


class EddaMCPServer:
    """An MCP server whose durable tools are Edda workflows.

    Each ``@server.durable_tool`` function ``X`` is a workflow and becomes four MCP tools: ``X`` (start it; returns
    ``Instance ID: ...``), ``X_status``, ``X_result`` and ``X_cancel`` (cancel it; its compensations run). Serve it
    over streamable HTTP with :meth:`asgi_app` (``/mcp``; the same app receives CloudEvents at ``/``) or over stdio
    with :meth:`run_stdio`.

    Args:
        name: the service name (the EddaApp's ``service_name`` and the MCP server's name).
        db_url: the workflow database (``sqlite:///workflow.db``, ``postgresql://...``, ``mysql://...``).
        outbox_enabled: run the transactional outbox relayer (needs ``edda-outbox``).
        broker_url: where the outbox relayer publishes CloudEvents.
        token_verifier: require ``Authorization: Bearer <token>`` on every HTTP request: an MCP SDK
            ``TokenVerifier`` (``async verify_token(token) -> AccessToken | None``) or a ``check(token) -> bool``
            (sync or async; it must return ``True`` to accept). A request without a token, or with one that is
            refused, gets 401.
        auth: the SDK's ``AuthSettings`` for an OAuth resource server (required scopes, ``resource_server_url`` for
            the protected-resource metadata and audience checks); needs ``token_verifier``.
        instructions: the MCP server's instructions for the model (default: how durable tools are used).
        **app_options: passed to :class:`edda.EddaApp` (``storage=``, ``hooks=``, ``lease_timeout_seconds=``, ...).

    Raises:
        ValueError: ``name`` is empty, or ``auth`` is given without ``token_verifier``.
        TypeError: ``token_verifier`` is neither a ``TokenVerifier`` nor a callable.

    Example::

        server = EddaMCPServer(name="Order Service", db_url="sqlite:///orders.db")

        @server.durable_tool(description="Process customer order")
        async def process_order(ctx: WorkflowContext, order_id: str) -> dict:
            await process_payment(ctx, 99.99)
            return {"status": "completed", "order_id": order_id}

        # uvicorn.run(server.asgi_app(), host="127.0.0.1", port=8000)   or   await server.run_stdio()
    """

    def __init__(
        self,
        name: str,
        db_url: str | None = None,
        *,
        outbox_enabled: bool = False,
        broker_url: str | None = None,
        token_verifier: TokenVerifier | TokenCheck | None = None,
        auth: AuthSettings | None = None,
        instructions: str | None = None,
        **app_options: Any,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("EddaMCPServer needs a non-empty name (the service's name), e.g. 'Order Service'")
        verifier = as_token_verifier(token_verifier)
        if auth is not None and verifier is None:
            raise ValueError(
                "auth=AuthSettings(...) needs a token_verifier to check the bearer tokens it describes; pass "
                "token_verifier=... as well"
            )
        self.name = name
        self._app = EddaApp(
            service_name=name, db_url=db_url, outbox_enabled=outbox_enabled, broker_url=broker_url, **app_options
        )
        self._verifier = verifier
        self._auth = auth
        self._tools: dict[str, DurableTool] = {}
        self._ready_lock = asyncio.Lock()
        tasks = TaskSupport(self._app, self._tools, self.initialize)
        self._mcp = DurableMCPServer(
            name, tasks, instructions=DEFAULT_INSTRUCTIONS if instructions is None else instructions
        )

    def __repr__(self) -> str:
        return f"<EddaMCPServer {self.name!r} durable tools: {', '.join(self._tools) or 'none'}>"

    # -- what it wraps ------------------------------------------------------------------------------------------

    @property
    def app(self) -> EddaApp:
        """The wrapped :class:`edda.EddaApp` (start workflows, read instances, deliver events)."""
        return self._app

    @property
    def storage(self) -> Storage:
        """The workflow storage (``await server.storage.get_instance(id)``, ``get_history(id)``); opened by
        :meth:`initialize` (the HTTP lifespan and :meth:`run_stdio` call it)."""
        return self._app.storage

    @property
    def mcp(self) -> MCPServer[Any]:
        """The MCP SDK server: add plain tools and resources with ``server.mcp.tool()``, ``server.mcp.resource()``."""
        return self._mcp

    @property
    def workflows(self) -> dict[str, Workflow]:
        """The durable tools' workflows, by name."""
        return {name: tool.workflow for name, tool in self._tools.items()}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def initialize(self) -> None:
        """Open the storage, resume unfinished workflows and start the worker. Idempotent, safe to call concurrently."""
        async with self._ready_lock:
            await self._app.initialize()

    async def shutdown(self) -> None:
        """Stop the worker (unfinished workflows resume at the next start) and close the storage. Idempotent."""
        await self._app.shutdown()

    # -- declaring tools and prompts ------------------------------------------------------------------------------

    @overload
    def durable_tool(self, func: Callable[..., Any], /) -> Workflow: ...

    @overload
    def durable_tool(self, /, *, description: str = "") -> Callable[[Callable[..., Any]], Workflow]: ...

    def durable_tool(self, func: Callable[..., Any] | None = None, /, *, description: str = "") -> Any:
        """Declare a durable tool: an async workflow function (first parameter the ``WorkflowContext``) that becomes
        the MCP tools ``X``, ``X_status``, ``X_result`` and ``X_cancel``.

        The start tool's input schema comes from the function's type hints (pydantic models, nested ones included).

        Args:
            func: the workflow function (or an existing ``@workflow``).
            description: what the tool does (default: the function's docstring).

        Returns:
            The :class:`edda.Workflow` (``await process_order.start(order_id="A-1")`` works as for any workflow).

        Raises:
            ConfigurationError: the function is no valid workflow, or one of the four tool names is already taken.
        """

        def register(f: Callable[..., Any]) -> Workflow:
            wf = f if isinstance(f, Workflow) else workflow(f)
            taken = set(self._tools) | {n for tool in self._tools.values() for n in tool.names.all()}
            tool = DurableTool(wf, description or inspect.getdoc(wf.func) or "", app=self._app, ready=self.initialize)
            clash = sorted(taken.intersection(tool.names.all()))
            if clash:
                raise ConfigurationError(
                    f"durable tool {wf.name!r} would add the MCP tool(s) {', '.join(clash)}, which another durable "
                    f"tool of this server already has; rename the workflow function"
                )
            tool.register(self._mcp)
            self._tools[wf.name] = tool
            return wf

        if func is not None:
            return register(func)
        return register

    @overload
    def prompt(self, func: _F, /) -> _F: ...

    @overload
    def prompt(
        self, /, *, name: str | None = None, title: str | None = None, description: str = ""
    ) -> Callable[[_F], _F]: ...

    def prompt(
        self, func: Any = None, /, *, name: str | None = None, title: str | None = None, description: str = ""
    ) -> Any:
        """Declare an MCP prompt (the SDK's ``MCPServer.prompt``): the function's parameters are the prompt's
        arguments; it returns a string, a message (``UserMessage``, ``AssistantMessage``) or a list of them. It may
        read workflow state through :attr:`storage`.

        Returns:
            The function, unchanged.
        """
        decorator = self._mcp.prompt(name=name, title=title, description=description or None)
        if func is not None:
            return decorator(func)
        return decorator

    # -- serving --------------------------------------------------------------------------------------------------

    def asgi_app(
        self,
        *,
        path: str = "/mcp",
        json_response: bool = True,
        stateless_http: bool = True,
        transport_security: TransportSecuritySettings | None = None,
        authenticate_events: bool = True,
    ) -> Starlette:
        """An ASGI application: MCP streamable HTTP at ``path``, CloudEvents at ``/`` (for workflows that wait for
        events) and ``POST /cancel/{instance_id}``. Its lifespan initializes Edda (resuming unfinished workflows) and
        shuts it down. Each call builds a new application.

        Args:
            path: where the MCP endpoint is.
            json_response: answer with JSON rather than an SSE stream.
            stateless_http: no MCP sessions (any worker can answer any request: the workflow state is in the
                database).
            transport_security: the SDK's DNS-rebinding protection; by default only ``Host`` headers of
                127.0.0.1/localhost are accepted on the MCP endpoint. Serving under a public name, pass
                ``TransportSecuritySettings(allowed_hosts=[...], allowed_origins=[...])``.
            authenticate_events: with a token verifier, CloudEvents need the bearer token too (default). ``False``
                lets a broker that cannot send one post events; ``/mcp`` and ``/cancel`` stay protected.

        Raises:
            ImportError: ``edda-asgi`` (which parses CloudEvents) is not installed.
        """
        options = HttpOptions(
            path=path,
            json_response=json_response,
            stateless_http=stateless_http,
            transport_security=transport_security,
            authenticate_events=authenticate_events,
        )
        return build_http_app(
            mcp=self._mcp,
            edda_app=self._app,
            startup=self.initialize,
            shutdown=self.shutdown,
            verifier=self._verifier,
            auth=self._auth,
            options=options,
        )

    async def run_stdio(self) -> None:
        """Serve MCP over stdin/stdout until the client closes the connection (Edda is initialized first and shut
        down afterwards). Print nothing to stdout meanwhile: it carries the protocol."""
        await self.initialize()
        try:
            await self._mcp.run_stdio_async()
        finally:
            await self.shutdown()
