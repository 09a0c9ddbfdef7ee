"""ASGI for the framework: a scope becomes a RequestHead, `receive` a body reader, and a native
Response goes out as http.response.* messages. So the application's one dispatch core serves
both porch's native path and any ASGI server (uvicorn, granian, hypercorn)."""

import asyncio
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any

from porch.http.errors import ClientDisconnected
from porch.http.headers import KNOWN_HOSTS, is_host
from porch.http.native import FileRegion, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from porch.web.app import App

logger = logging.getLogger("porch.error")

FILE_CHUNK = 262144


class ASGIBody:
    """A request body read from ASGI `receive` messages (the BodyReader interface)."""

    __slots__ = ("_done", "_receive")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._done = False

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        chunks = [chunk async for chunk in self.stream()]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def stream(self) -> AsyncIterator[bytes]:
        """The rest of the body, chunk by chunk; ClientDisconnected if the client goes."""
        while not self._done:
            message = await self._receive()
            kind = message["type"]
            if kind == "http.request":
                self._done = not message.get("more_body", False)
                body = message.get("body", b"")
                if body:
                    yield body
            elif kind == "http.disconnect":
                self._done = True
                raise ClientDisconnected("client disconnected")


def head_from_scope(scope: Scope) -> RequestHead:
    """The request head of an ASGI http scope; the path is taken relative to root_path."""
    root_path: str = scope.get("root_path", "")
    path: str = scope["path"]
    raw_path: bytes | None = scope.get("raw_path")
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        # Servers after ASGI's clarification include root_path in path; older ones do not.
        path = path[len(root_path) :] or "/"
        if raw_path is not None:
            encoded = root_path.encode()
            raw_path = raw_path[len(encoded) :] if raw_path.startswith(encoded) else None
    query: bytes = scope.get("query_string", b"")
    if raw_path is None:
        from urllib.parse import quote

        raw_path = quote(path).encode("ascii")
    target = raw_path + b"?" + query if query else raw_path
    client = scope.get("client")
    server = scope.get("server")
    head = RequestHead(
        scope.get("method", "GET"),
        target,
        raw_path,
        query,
        scope.get("headers", []),
        scope.get("http_version", "1.1"),
        tuple(client) if client else None,
        tuple(server) if server else None,
        scope.get("scheme", "http"),
        root_path,
    )
    head._path = path  # PERF: already decoded by the server
    return head


async def send_native(response: NativeResponse, send: Send, head: RequestHead) -> None:
    """Send a native response through ASGI `send`."""
    status = response.status
    headers = [(bytes(name), bytes(value)) for name, value in response.headers]
    body = response.body
    if isinstance(body, bytes):
        if status != 204 and status != 304 and not any(n == b"content-length" for n, _ in headers):
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    if isinstance(body, FileRegion):
        await _send_file(status, headers, body, send, head)
        return
    await send({"type": "http.response.start", "status": status, "headers": headers})
    try:
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            for chunk in body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        close: Any = getattr(body, "aclose", None) or getattr(body, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
    await send({"type": "http.response.body", "body": b""})


async def _send_file(
    status: int,
    headers: list[tuple[bytes, bytes]],
    region: FileRegion,
    send: Send,
    head: RequestHead,
) -> None:
    try:
        if not any(name == b"content-length" for name, _ in headers):
            headers.append((b"content-length", str(region.count).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if head.method == "HEAD" or region.count == 0:
            await send({"type": "http.response.body", "body": b""})
            return
        loop = asyncio.get_running_loop()
        fd, offset, left = region.fileno(), region.offset, region.count
        while left > 0:
            data = await loop.run_in_executor(None, os.pread, fd, min(left, FILE_CHUNK), offset)
            if not data:
                raise OSError("file shorter than the region to send (changed on disk?)")
            offset += len(data)
            left -= len(data)
            await send({"type": "http.response.body", "body": data, "more_body": left > 0})
    finally:
        region.close()


async def lifespan(receive: Receive, send: Send, startup: Any, shutdown: Any) -> None:
    """Run an ASGI lifespan scope around the application's startup and shutdown hooks."""
    message: Message = await receive()
    if message["type"] == "lifespan.startup":
        try:
            await startup()
        except BaseException as exc:
            if isinstance(exc, Exception):
                # Logged here, with its traceback: an ASGI server only gets the one-line
                # message below (uvicorn and porch's server log it, TestClient raises with it).
                logger.error("Exception in the application's startup", exc_info=exc)
            await send(
                {"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            if not isinstance(exc, Exception):
                raise
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
    if message["type"] == "lifespan.shutdown":
        try:
            await shutdown()
        except Exception as exc:
            logger.error("Exception in the application's shutdown", exc_info=exc)
            await send(
                {"type": "lifespan.shutdown.failed", "message": f"{type(exc).__name__}: {exc}"}
            )
            return
        await send({"type": "lifespan.shutdown.complete"})


async def serve(app: "App", scope: Scope, receive: Receive, send: Send) -> None:
    """The App's ASGI entry (below any ASGI middleware): http, lifespan and websocket scopes."""
    from porch.web.errors import error_page
    from porch.web.request import Request

    kind = scope["type"]
    if kind == "http":
        head = head_from_scope(scope)
        host = head.header(b"host")
        # Other servers pass Host on unchecked (porch's refuses a bad one): refused here too,
        # so that request.host and base_url, which links are built from, cannot name another
        # host (`example.com:@evil.example`). PERF: a set lookup for known hosts.
        if host is not None and host not in KNOWN_HOSTS and not is_host(host):
            response = error_page(head, 400, "Invalid host header")
        else:
            response = await app.handle(Request(head, ASGIBody(receive), app))
        await send_native(response, send, head)
    elif kind == "lifespan":
        await lifespan(receive, send, app.startup, app.shutdown)
    elif kind == "websocket":
        from porch.web import websocket

        await websocket.serve(app, scope, receive, send)


async def mounted_websocket(app: "App", scope: Scope, receive: Receive, send: Send) -> None:
    """A WebSocket handshake: to the mounted ASGI application whose prefix covers its path (a
    Starlette application's WebSocket routes, say), which sees the prefix as its root path;
    refused (403) when none does."""
    from porch.server.asgi import http_scope

    head = head_from_scope(scope)
    for mount in app.mounts:
        if mount.interface == "asgi" and mount.matches(head.path):
            moved = http_scope(mount.sub_head(head))
            sub = {**scope, **{key: moved[key] for key in ("root_path", "path", "raw_path")}}
            await mount.app(sub, receive, send)
            return
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1000})
