"""Mounted applications: any native, ASGI or WSGI application served under a path prefix.

The mounted application sees the prefix as its root path (ASGI `root_path`, WSGI `SCRIPT_NAME`)
and the rest as its path. Whatever it speaks, its answer comes back as a native Response, so
the framework sends it the same way on both of its own paths.
"""

import asyncio
import inspect
import io
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from porch.http.errors import ClientDisconnected
from porch.http.native import BodyReader, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.asgi import http_scope
from porch.server.loader import detect_interface
from porch.server.types import Message
from porch.server.wsgi import build_environ

if TYPE_CHECKING:
    from porch.web.request import Request

# Pieces of a streamed WSGI body waiting for the client before the application's thread waits.
WSGI_BACKLOG = 8


class Mount:
    """An application served under `prefix`."""

    def __init__(self, prefix: str, app: Any, executor: Executor | None = None) -> None:
        if not prefix.startswith("/"):
            raise ValueError(f"a mount prefix must start with '/': {prefix!r}")
        self.prefix = prefix.rstrip("/")
        self.app = app
        self.executor = executor
        self.interface = detect_interface(app)

    def matches(self, path: str) -> bool:
        """Whether `path` falls under this mount."""
        prefix = self.prefix
        return path == prefix or path.startswith(prefix + "/") or not prefix

    def sub_head(self, head: RequestHead) -> RequestHead:
        """The request as the mounted application sees it."""
        encoded = self.prefix.encode()
        raw_path = head.raw_path[len(encoded) :] if head.raw_path.startswith(encoded) else b""
        raw_path = raw_path or b"/"
        sub = RequestHead(
            head.method,
            head.target,
            raw_path,
            head.query,
            head.headers,
            head.http_version,
            head.client,
            head.server,
            head.scheme,
            head.root_path + self.prefix,
        )
        return sub

    async def handle(self, request: "Request") -> NativeResponse:
        """The mounted application's answer to `request`."""
        head = self.sub_head(request.head)
        reader = request._reader
        if self.interface == "native":
            result = self.app.__porch_http__(head, reader)
            if inspect.isawaitable(result):
                result = await result
            return NativeResponse(result.status, list(result.headers), result.body)
        if self.interface == "asgi":
            return await call_asgi(self.app, head, reader)
        return await call_wsgi(self.app, head, reader, self.executor)


async def call_asgi(app: Any, head: RequestHead, reader: BodyReader) -> NativeResponse:
    """Run an ASGI application on one request and return its answer (body streamed)."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[Message] = loop.create_future()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    finished = asyncio.Event()
    body = reader.stream()

    async def receive() -> Message:
        if not finished.is_set():
            try:
                chunk = await body.__anext__()
            except StopAsyncIteration:
                await finished.wait()  # then only a disconnect (or the end) can come
            except ClientDisconnected:
                return {"type": "http.disconnect"}
            else:
                return {"type": "http.request", "body": chunk, "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if not started.done():
                started.set_result(message)
        elif kind == "http.response.body":
            data = message.get("body", b"")
            if data:
                await chunks.put(bytes(data))
            if not message.get("more_body", False):
                await chunks.put(None)

    async def run() -> None:
        try:
            await app(http_scope(head), receive, send)
        finally:
            finished.set()
            await chunks.put(None)

    task = loop.create_task(run())
    waiting: list[asyncio.Future[Any]] = [started, task]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not started.done():
        started.cancel()
        task.result()  # the application's exception, if any
        raise RuntimeError("the mounted ASGI application returned without a response")
    start = started.result()
    headers = [(bytes(name), bytes(value)) for name, value in start.get("headers", ())]

    async def stream() -> AsyncIterator[bytes]:
        try:
            while (chunk := await chunks.get()) is not None:
                yield chunk
        finally:
            if not task.done():
                finished.set()
                await task

    return NativeResponse(int(start["status"]), headers, stream())


async def call_wsgi(
    app: Callable[..., Any], head: RequestHead, reader: BodyReader, executor: Executor | None
) -> NativeResponse:
    """Run a WSGI application in a worker thread on one request (body streamed back)."""
    loop = asyncio.get_running_loop()
    environ = build_environ(head, io.BytesIO(await reader.read()))
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    room = threading.Semaphore(WSGI_BACKLOG)
    gone = threading.Event()  # the client left: the application's iteration must stop

    def post(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, value))

    def run() -> None:
        state: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info is not None and "sent" in state:
                raise exc_info[1].with_traceback(exc_info[2])
            state["start"] = (status, headers)
            return lambda data: write(data)

        def write(data: bytes) -> None:
            if "sent" not in state:
                state["sent"] = True
                post("start", state["start"])
            room.acquire()
            if gone.is_set():
                raise ClientDisconnected("client disconnected")
            post("chunk", data)

        try:
            result = app(environ, start_response)
            try:
                for chunk in result:
                    if chunk:
                        write(chunk)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            if "sent" not in state:
                post("start", state["start"])
            post("end", None)
        except BaseException as exc:
            post("error", exc)

    loop.run_in_executor(executor, run)
    kind, value = await events.get()
    if kind == "error":
        raise value
    status, headers = value
    encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]

    async def stream() -> AsyncIterator[bytes]:
        try:
            while True:
                kind, value = await events.get()
                if kind == "chunk":
                    room.release()
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            gone.set()
            room.release()  # a thread waiting for room wakes, sees `gone`, and stops

    return NativeResponse(int(status.split(" ", 1)[0]), encoded, stream())
