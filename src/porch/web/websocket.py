"""WebSocket routes of a porch App: `@app.websocket(path)` and the `WebSocket` handlers get.

A WebSocket route takes the same path converters, typed parameters (query, header, cookie)
and dependencies as an HTTP route; its handler gets the connection as its `WebSocket`
parameter, a Request (headers, cookies, query, path parameters, client, `app`) with messages:

    @app.websocket("/ws/rooms/<slug:room>")
    async def chat(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async for message in ws.iter_json():
            await ws.send_json({"room": room, "said": message})

Before `accept()` the handshake is still an HTTP request: a parameter that does not validate,
or an HTTPError the handler or a dependency raises, answers the handshake with the error's
status (through ASGI's `websocket.http.response`; 403 where the server lacks it). A handshake
no route takes goes to a mounted ASGI application whose prefix covers it, else gets 403. An
exception once accepted closes the connection with 1011 and is logged; a handler that returns
with the connection open closes it with 1000. The App's hooks (before_request...) are for HTTP
requests and do not run here; its error handlers answer an error before accept. Served by any
ASGI server; under `porch run`, the App's HTTP routes keep porch's native path and its
WebSockets come through its ASGI face.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from porch.http.native import RequestHead
from porch.server.types import Message, Receive, Scope, Send
from porch.web.request import Request

if TYPE_CHECKING:
    from porch.web.app import App

T = TypeVar("T")
# WebSocket close codes (RFC 6455 §7.4.1).
NORMAL_CLOSURE, INTERNAL_ERROR, POLICY_VIOLATION = 1000, 1011, 1008
CONNECTING, OPEN, CLOSED = "connecting", "open", "closed"


class WebSocketDisconnect(Exception):
    """The client closed the connection (or it dropped): `code` and `reason` say how."""

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


class _NoBody:
    """A handshake has no body."""

    async def read(self) -> bytes:
        return b""

    async def stream(self) -> AsyncIterator[bytes]:
        return
        yield


class WebSocket(Request):
    """One WebSocket connection as a handler sees it."""

    def __init__(self, head: RequestHead, app: "App", scope: Scope, receive: Receive, send: Send):
        super().__init__(head, _NoBody(), app)
        self.scope = scope
        self._receive = receive
        self._send = send
        self.connection_state = CONNECTING  # then OPEN once accepted, then CLOSED
        self.subprotocols: list[str] = list(scope.get("subprotocols", ()))

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Complete the handshake (with one of the client's `subprotocols`, and headers)."""
        if self.connection_state != CONNECTING:
            raise RuntimeError("the WebSocket is already accepted or closed")
        message: Message = {"type": "websocket.accept", "headers": headers or []}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        await self._send(message)
        self.connection_state = OPEN

    async def receive_message(self) -> Message:
        """The next message as ASGI gives it (`websocket.receive` or `websocket.disconnect`)."""
        if self.connection_state == CONNECTING:
            raise RuntimeError("accept() the WebSocket before receiving from it")
        if self.connection_state == CLOSED:
            raise WebSocketDisconnect(NORMAL_CLOSURE)
        message: Message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self.connection_state = CLOSED
            raise WebSocketDisconnect(
                message.get("code", NORMAL_CLOSURE), message.get("reason") or ""
            )
        return message

    async def receive_text(self) -> str:
        """The next message, which must be text (1003 closes a binary one)."""
        return str(await self._receive_kind("text"))

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (1003 closes a text one)."""
        return bytes(await self._receive_kind("bytes"))

    async def _receive_kind(self, kind: str) -> Any:
        message = await self.receive_message()
        data = message.get(kind)
        if data is None:
            reason = f"expected a {'text' if kind == 'text' else 'binary'} message"
            await self.close(1003, reason)
            raise WebSocketDisconnect(1003, reason)
        return data

    async def receive_json(self) -> Any:
        """The next message (text or binary) decoded as JSON; 1007 closes one that is not."""
        message = await self.receive_message()
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            await self.close(1007, "the message is not JSON")
            raise WebSocketDisconnect(1007, "the message is not JSON") from None

    def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client closes."""
        return _until_closed(self.receive_text)

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client closes."""
        return _until_closed(self.receive_bytes)

    def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages until the client closes."""
        return _until_closed(self.receive_json)

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self._send({"type": "websocket.send", "bytes": data})

    async def send_json(self, value: Any) -> None:
        """`value` as a JSON text message (what a handler may return as JSON, it may send)."""
        from porch.web.responses import encode_json

        await self._send({"type": "websocket.send", "text": encode_json(value).decode()})

    # Request.close() lets go of a spooled body, after a `def` handler; a WebSocket route's
    # handler is async and a handshake has no body, so the name is the connection's here.
    async def close(  # type: ignore[override]
        self, code: int = NORMAL_CLOSURE, reason: str = ""
    ) -> None:
        """Close the connection (before accept: refuse the handshake, 403)."""
        if self.connection_state == CLOSED:
            return
        self.connection_state = CLOSED
        await self._send({"type": "websocket.close", "code": code, "reason": reason})


async def _until_closed(receive: Callable[[], Awaitable[T]]) -> AsyncIterator[T]:
    """What `receive` gives, message after message, until the client closes."""
    try:
        while True:
            yield await receive()
    except WebSocketDisconnect:
        return


async def serve(app: "App", scope: Scope, receive: Receive, send: Send) -> None:
    """A WebSocket handshake to the App: its route, else a mounted application, else 403."""
    from porch.web.asgi import head_from_scope, mounted_websocket

    head = head_from_scope(scope)
    table = app.table
    found = table.find(head.path)
    route = found[0].get(WEBSOCKET) if found is not None else None
    if found is None or route is None:
        await mounted_websocket(app, scope, receive, send)
        return
    socket = WebSocket(head, app, scope, receive, send)
    socket.path_params = found[1]
    socket.route = route
    socket.hooks = route.hooks
    head.route = route.path
    await receive()  # websocket.connect: accept() answers it
    try:
        await route.handler.call(socket, None)
    except WebSocketDisconnect:
        return  # the client left while the handler read: nothing went wrong here
    except Exception as exc:
        await _failed(app, socket, exc, scope, send)
        return
    if socket.connection_state == OPEN:
        await socket.close()
    elif socket.connection_state == CONNECTING:
        await socket.close()  # neither accepted nor refused: refused (403)


async def _failed(app: "App", socket: WebSocket, exc: Exception, scope: Scope, send: Send) -> None:
    """The handler raised: before accept, the handshake gets the error's answer (its error
    handler's, else the default page, logged if it is not an HTTPError); after, 1011."""
    from porch.web.asgi import send_native
    from porch.web.errors import error_response, log_exception

    if socket.connection_state != CONNECTING:
        if not isinstance(exc, OSError):  # not merely a client that left
            log_exception(socket, exc)
        if socket.connection_state == OPEN:
            socket.connection_state = CLOSED
            try:
                await send({"type": "websocket.close", "code": INTERNAL_ERROR, "reason": ""})
            except OSError:
                pass
        return
    response = await error_response(app, socket, exc)
    socket.connection_state = CLOSED
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": POLICY_VIOLATION})
        return

    async def denial(message: Message) -> None:
        await send({**message, "type": "websocket." + message["type"]})

    await send_native(response, denial, socket.head)


# The routing table's name for a WebSocket route's "method": no HTTP request matches it.
WEBSOCKET = "WEBSOCKET"
