"""Mounted applications: any native, ASGI or WSGI application served under a path prefix.

The mounted application sees the prefix as its root path (ASGI `root_path`, WSGI `SCRIPT_NAME`)
and the rest as its path. Whatever it speaks, its answer comes back as a native Response, so
the framework sends it the same way on both of its own paths.
"""

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from porch.http.bodies import receive_whole
from porch.http.errors import ClientDisconnected
from porch.http.native import BodyReader, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.asgi import http_scope
from porch.server.loader import detect_interface
from porch.server.types import Message
from porch.server.wsgi import build_environ

if TYPE_CHECKING:
    from porch.web.request import Request

# Pieces of a streamed body waiting for the client before the mounted application waits.
WSGI_BACKLOG = 8
ASGI_BACKLOG = 8

logger = logging.getLogger("porch.error")


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
        raw_path = head.raw_path[len(encoded) :]
        if head.raw_path.startswith(encoded) and (not raw_path or raw_path[:1] == b"/"):
            raw_path = raw_path or b"/"
        else:
            # The prefix came percent-encoded (/leg%61cy/x): the rest, from the decoded path.
            raw_path = quote(head.path[len(self.prefix) :] or "/").encode("ascii")
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
        # The pool of the application serving the request: it may have started a new one.
        executor = request.app.executor if request.app is not None else self.executor
        return await call_wsgi(self.app, head, reader, executor)


async def call_asgi(app: Any, head: RequestHead, reader: BodyReader) -> NativeResponse:
    """Run an ASGI application on one request and return its answer (body streamed)."""
    exchange = _ASGIExchange(reader)
    scope = http_scope(head)
    # Not offered to a mounted application: its file would have to be read back here anyway.
    scope["extensions"] = {
        name: value
        for name, value in scope.get("extensions", {}).items()
        if name != "http.response.pathsend"
    }
    task = asyncio.get_running_loop().create_task(exchange.run(app, scope))
    _running.add(task)
    task.add_done_callback(exchange.finished)
    waiting: list[asyncio.Future[Any]] = [exchange.started, task]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if task.done() and not task.cancelled() and task.exception() is not None:
        exchange.close_now()
        raise task.exception()  # type: ignore[misc]  # not a byte sent yet: a 500 can replace it
    if not exchange.started.done():
        exchange.started.cancel()
        raise RuntimeError("the mounted ASGI application returned without a response")
    start = exchange.started.result()
    headers = [(bytes(name), bytes(value)) for name, value in start.get("headers", ())]
    exchange.task = task
    return NativeResponse(int(start["status"]), headers, exchange)


# The tasks of mounted ASGI applications still running (background work after their answer).
_running: set["asyncio.Task[None]"] = set()


_INCOMPLETE: Any = object()  # the application returned before its last body message


class _ASGIExchange:
    """One request to a mounted ASGI application: its `receive` and `send`, and the body it
    sends back, which the server iterates and closes (closing it tells the application the
    client is gone)."""

    def __init__(self, reader: BodyReader) -> None:
        self.started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None
        self._body = reader.stream()
        self._body_done = False
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue(ASGI_BACKLOG)
        self._ended = False  # the application sent its last body message (or returned)
        self._complete = False  # the application sent its last body message
        self._closed = False  # the server is done with the response
        self._gone = asyncio.Event()  # set once closed: receive() then says http.disconnect

    async def run(self, app: Any, scope: Message) -> None:
        try:
            await app(scope, self.receive, self.send)
        finally:
            if not self._ended and not self._closed:
                self._ended = True
                await self._chunks.put(_INCOMPLETE)

    async def receive(self) -> Message:
        if not self._body_done:
            try:
                chunk = await self._body.__anext__()
            except StopAsyncIteration:
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            except ClientDisconnected:
                self._body_done = True
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": chunk, "more_body": True}
        await self._gone.wait()  # after the body, only the end of the response can come
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if self._closed:
            raise ClientDisconnected("client disconnected")
        if kind == "http.response.start":
            if self.started.done():
                raise RuntimeError("ASGI: 'http.response.start' sent twice")
            self.started.set_result(message)
        elif kind == "http.response.body":
            if not self.started.done():
                raise RuntimeError("ASGI: 'http.response.body' before 'http.response.start'")
            if self._ended:
                raise RuntimeError("ASGI: 'http.response.body' after the response completed")
            data = message.get("body", b"")
            more = message.get("more_body", False)
            if not more:
                self._ended = self._complete = True
            if data:
                await self._chunks.put(bytes(data))  # waits while the client is slow
            if not more:
                await self._chunks.put(None)

    def finished(self, task: "asyncio.Task[None]") -> None:
        """Log what the application raised once its response was over: no one else will."""
        _running.discard(task)
        if task.cancelled() or not (self._complete or self._closed):
            return  # before that, its exception reaches the server (a 500, or a cut response)
        exc = task.exception()
        if exc is not None and not isinstance(exc, ClientDisconnected):
            logger.error("Exception in a mounted ASGI application", exc_info=exc)

    def __aiter__(self) -> "_ASGIExchange":
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._chunks.get()
        if chunk is None:
            raise StopAsyncIteration
        if chunk is _INCOMPLETE:
            if self.task is not None:
                await self.task  # its exception, if it failed mid-response
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """The response is over: wake an application waiting to send or to receive."""
        self._closed = True
        self._gone.set()
        while not self._chunks.empty():
            self._chunks.get_nowait()  # a send waiting for room wakes, and the next one fails


async def call_wsgi(
    app: Callable[..., Any], head: RequestHead, reader: BodyReader, executor: Executor | None
) -> NativeResponse:
    """Run a WSGI application in a worker thread on one request (body streamed back).

    The request body is received first, on the loop, as the server's own WSGI adapter does:
    in memory up to 1 MiB, in a temporary file past it (never whole in memory), so that a slow
    client does not hold a thread either.
    """
    loop = asyncio.get_running_loop()
    environ = build_environ(head, await receive_whole(reader.stream()))
    exchange = _WSGIExchange(loop)
    loop.run_in_executor(executor, exchange.run, app, environ)
    kind, value = await exchange.events.get()
    if kind == "error":
        raise value
    status, headers = value
    encoded = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    return NativeResponse(int(status.split(" ", 1)[0]), encoded, exchange)


class _WSGIExchange:
    """One request to a mounted WSGI application, run in a worker thread; the body it sends
    back, which the server iterates and closes (closing it stops the application's thread)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.room = threading.Semaphore(WSGI_BACKLOG)
        self.gone = threading.Event()  # the client left: the application's iteration must stop
        self.done = False

    def post(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def run(self, app: Callable[..., Any], environ: dict[str, Any]) -> None:
        """Call the application (in a worker thread), posting what it sends to the loop."""
        state: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info is not None and "sent" in state:
                raise exc_info[1].with_traceback(exc_info[2])
            state["start"] = (status, headers)
            return write

        def write(data: bytes) -> None:
            if "start" not in state:
                raise RuntimeError("WSGI: body data before start_response")
            if "sent" not in state:
                state["sent"] = True
                self.post("start", state["start"])
            self.room.acquire()
            if self.gone.is_set():
                raise ClientDisconnected("client disconnected")
            self.post("chunk", bytes(data))

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
            if "start" not in state:
                raise RuntimeError("the mounted WSGI application did not call start_response")
            if "sent" not in state:
                self.post("start", state["start"])
            self.post("end", None)
        except BaseException as exc:
            self.post("error", exc)
        finally:
            environ["wsgi.input"].close()  # the spooled body, in memory or on disk

    def __aiter__(self) -> "_WSGIExchange":
        return self

    async def __anext__(self) -> bytes:
        if self.done:
            raise StopAsyncIteration
        kind, value = await self.events.get()
        if kind == "chunk":
            self.room.release()
            return bytes(value)
        self.done = True
        if kind == "error":
            raise value
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.done = True
        self.gone.set()
        self.room.release()  # a thread waiting for room wakes, sees `gone`, and stops
