"""ASGI 3.0 `http` scope: a cycle seen as an application's scope, receive and send."""

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.native import FileRegion, RequestHead
from porch.server.adapters import EAGER_TASKS, app_failed, start_task
from porch.server.cycle import Cycle
from porch.server.h1 import InvalidResponse, ParsedRequest
from porch.server.lifespan import Lifespan
from porch.server.types import ASGIApp, Message, Scope
from porch.server.websocket import INTERNAL_ERROR, WebSocket, handshake_problem, websocket_scope

if TYPE_CHECKING:
    from porch.server.protocol import HTTPProtocol

logger = logging.getLogger("porch.error")


class ASGICycle(Cycle):
    """A cycle with the ASGI `receive` and `send` callables."""

    __slots__ = ("_final_body_sent", "_start_message")

    def __init__(self, protocol: "HTTPProtocol", request: ParsedRequest) -> None:
        super().__init__(protocol, request)
        self._start_message: Message | None = None
        self._final_body_sent = False  # the last http.request message went out

    async def receive(self) -> Message:
        """The next http.request message; http.disconnect once there is nothing more."""
        if self._final_body_sent or self.response_complete or self.protocol.closed:
            # After the body, receive() waits for the client to go or the response to end,
            # which is how applications listen for a disconnect while they stream.
            await self.wait_for_end()
            return {"type": "http.disconnect"}
        if self.body_complete and self._body_error is None:
            # PERF: a body that has all arrived (most requests have none) needs no waiting.
            self._final_body_sent = True
            return {"type": "http.request", "body": self.take_body(), "more_body": False}
        try:
            body = await self.receive_body()
        except (ClientDisconnected, HTTPError):
            # A broken-off body is answered by the server; to the app the client is gone.
            return {"type": "http.disconnect"}
        more = not self.body_complete or self.body_pending
        if not more:
            self._final_body_sent = True
        return {"type": "http.request", "body": body, "more_body": more}

    async def send(self, message: Message) -> None:
        """Take one http.response.* message from the application."""
        message_type = message["type"]
        if self._start_message is None:
            if message_type != "http.response.start":
                raise RuntimeError(f"ASGI: expected 'http.response.start', got {message_type!r}")
            if self.protocol.closed:
                raise ClientDisconnected("client disconnected")
            self._start_message = message
            return
        if self.response_complete:
            if self.protocol.closed or self._body_error is not None:
                # The server answered for the application (its body broke off, and receive()
                # said http.disconnect): to the application, the client is gone.
                raise ClientDisconnected("client disconnected")
            raise RuntimeError(f"ASGI: {message_type!r} sent after the response completed")
        if self.protocol.closed:
            raise ClientDisconnected("client disconnected")
        if message_type == "http.response.body":
            body = message.get("body", b"")
            if body.__class__ is not bytes:
                body = _as_bytes(body)
            more = message.get("more_body", False)
            if not self.response_started:
                self._start(None if more else len(body))
            self.write(body, more)
            if more and self.protocol.writing_paused:
                await self.drain()
        elif message_type == "http.response.pathsend":
            if self.response_started:
                raise RuntimeError("ASGI: 'http.response.pathsend' after a body message")
            file = open(message["path"], "rb")  # noqa: SIM115 (closed by send_file)
            size = os.fstat(file.fileno()).st_size
            try:
                self._start(size)
            except BaseException:
                file.close()
                raise
            await self.send_file(FileRegion(file, 0, size))
        elif message_type == "http.response.start":
            raise RuntimeError("ASGI: 'http.response.start' sent twice")
        else:
            raise RuntimeError(f"ASGI: unexpected message {message_type!r}")

    def _start(self, body_length: int | None) -> None:
        start = self._start_message
        assert start is not None
        try:
            status = start["status"]
            if status.__class__ is not int:
                status = int(status)
            # PERF: the pairs go to the encoder as they are; it checks every name and value.
            self.start_response(status, start.get("headers", ()), body_length)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponse(
                f"ASGI: malformed 'http.response.start' (status an int, headers pairs of "
                f"bytes): {type(exc).__name__}: {exc}"
            ) from None


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise InvalidResponse(f"ASGI: 'body' must be bytes, not {type(body).__name__}")


class ASGIAdapter:
    """Serves an ASGI 3 application."""

    cycle_class: type[Cycle] = ASGICycle
    runs_inline = EAGER_TASKS  # a task's first step runs within run() on Python 3.12+
    websocket_refusal: str | None = None  # WebSockets are served

    def __init__(
        self, app: ASGIApp, loop: asyncio.AbstractEventLoop, lifespan: str = "auto"
    ) -> None:
        self.app = app
        self.loop = loop
        self.lifespan = Lifespan(app, lifespan)

    def scope(self, cycle: Cycle) -> Scope:
        """The `http` scope of a request."""
        return http_scope(cycle.head, self.lifespan.state)

    def run(self, cycle: Cycle) -> None:
        """Start the application on a request."""
        if cycle.upgrade is not None:
            handshake = serve_websocket(self.app, cycle, self.lifespan.state)
            cycle.task = start_task(self.loop, handshake)
            return
        cycle.task = start_task(self.loop, self._call(cycle))  # type: ignore[arg-type]

    async def _call(self, cycle: ASGICycle) -> None:
        try:
            app: Any = self.app  # typed to return None; what it really returns is checked
            scope = cycle.context = self.scope(cycle)  # the metrics read the route from it
            result = await app(scope, cycle.receive, cycle.send)
        except BaseException as exc:
            app_failed(cycle, exc)
            if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
                raise
            return
        if result is not None:
            app_failed(cycle, RuntimeError(f"ASGI: the application returned {result!r}"))
        elif not cycle.response_complete:
            if cycle.protocol.closed or cycle._body_error is not None:
                cycle.fail()  # told http.disconnect, the application rightly gave up
            else:
                reason = "completing" if cycle.response_started else "starting"
                app_failed(
                    cycle,
                    RuntimeError(f"ASGI: the application returned without {reason} a response"),
                )

    async def startup(self) -> None:
        """Run lifespan startup."""
        await self.lifespan.startup()

    async def shutdown(self) -> None:
        """Run lifespan shutdown."""
        await self.lifespan.shutdown()


async def serve_websocket(app: Any, cycle: Cycle, state: dict[str, Any] | None) -> None:
    """A WebSocket handshake: checked, then the ASGI `app` on its `websocket` scope (with a
    copy of the lifespan `state`); see porch.server.websocket."""
    problem = handshake_problem(cycle.head)
    if problem is not None:
        cycle.keep_alive = False
        cycle.reason = problem
        cycle.send_error(400, problem, [(b"sec-websocket-version", b"13")])
        return
    config = cycle.protocol.config.websocket
    assert config is not None and cycle.upgrade is not None
    socket = WebSocket(cycle, config, cycle.upgrade)
    try:
        scope = cycle.context = websocket_scope(http_scope(cycle.head, state))
        result = await app(scope, socket.receive, socket.send)
    except BaseException as exc:
        if not socket.accepted:
            socket.refuse()
        # Logged (at debug if it only says the client left); an HTTP answer if the
        # handshake had not ended.
        app_failed(cycle, exc, client_gone=socket.closed if socket.accepted else None)
        socket.close(INTERNAL_ERROR, "")
        if not isinstance(exc, Exception) and not isinstance(exc, asyncio.CancelledError):
            raise
        return
    if result is not None:
        logger.error("ASGI: the application returned %r", result)
    if socket.accepted:
        socket.close()  # the application is done with it
    elif not cycle.response_complete:
        socket.refuse()
        if not cycle.protocol.closed:
            app_failed(
                cycle,
                RuntimeError(
                    "ASGI: the application returned without accepting or refusing the WebSocket"
                ),
            )


def http_scope(head: RequestHead, state: dict[str, Any] | None = None) -> Scope:
    """The ASGI `http` scope of a request head (with a copy of the lifespan `state`)."""
    root_path = head.root_path
    scope: Scope = {
        "type": "http",
        # Fresh dicts: middleware may write into a scope, and no other request may see it.
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.http_version,
        "server": head.server,
        "client": head.client,
        "scheme": head.scheme,
        "method": head.method,
        # uvicorn, Starlette and the spec's WSGI notes agree: path includes root_path.
        "root_path": root_path,
        "path": root_path + head.path if root_path else head.path,
        "raw_path": (quote(root_path).encode("ascii") if root_path else b"") + head.raw_path,
        "query_string": head.query,
        "headers": head.headers,
        "extensions": {"http.response.pathsend": {}},
    }
    if head.request_id:
        scope["extensions"]["porch.request_id"] = {"id": head.request_id}
    if state is not None:
        scope["state"] = state.copy()
    return scope
