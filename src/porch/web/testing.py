"""TestClient: call an application in-process, as httpx would over the network.

`TestClient(app)` is an `httpx.Client` (`client.get(url, params=..., headers=...)`,
`client.post(url, data=..., json=..., files=...)`, cookies kept between calls) whose requests
go straight into the application, through its native path (`path="native"`, the default for a
porch App) or its ASGI path (`path="asgi"`), on an event loop of the client's own. Used as a
context manager, it runs the application's startup and shutdown hooks (ASGI lifespan).
"""

import asyncio
import inspect
import threading
from collections.abc import AsyncIterable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx

from porch.http.errors import HTTPError
from porch.http.native import FileRegion, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.asgi import http_scope
from porch.server.loader import detect_interface
from porch.server.types import Message

T = TypeVar("T")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")


class _Portal:
    """An event loop on a thread of its own, running coroutines for the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="porch-test")
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class _BytesBody:
    """A request body that has all arrived (the BodyReader interface)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        data, self._data = self._data, b""
        return data

    async def stream(self) -> Any:
        data, self._data = self._data, b""
        if data:
            yield data


class _Transport(httpx.BaseTransport):
    def __init__(self, client: "TestClient") -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.client._portal_run(self.client._call(request))


class TestClient(httpx.Client):
    """An httpx client whose requests go straight into `app`, in-process."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        path: str | None = None,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        **options: Any,
    ) -> None:
        if path is None:
            path = "native" if hasattr(app, "__porch_http__") else "asgi"
        if path not in ("native", "asgi"):
            raise ValueError("path must be 'native' or 'asgi'")
        if path == "native" and not hasattr(app, "__porch_http__"):
            raise ValueError("path='native' needs an application with __porch_http__")
        if path == "asgi" and not _speaks_asgi(app):
            raise ValueError(
                "TestClient calls native and ASGI applications; mount a WSGI application "
                "in a porch App (app.mount) to test it"
            )
        self.app = app
        self.path = path
        self.client_address = client
        self._portal: _Portal | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_queues: tuple[asyncio.Queue[Message], asyncio.Queue[Message]]
        # The lifespan state the application keeps (ASGI "state"); each request sees a copy.
        self.state: dict[str, Any] = {}
        super().__init__(base_url=base_url, transport=_Transport(self), **options)

    def _portal_run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._portal is None:
            self._portal = _Portal()
        return self._portal.run(coroutine)

    # Requests.

    def _head(self, request: httpx.Request) -> RequestHead:
        url = request.url
        raw_path = url.raw_path.partition(b"?")[0] or b"/"
        query = url.query
        headers = [(name.lower(), value) for name, value in request.headers.raw]
        port = url.port or (443 if url.scheme == "https" else 80)
        return RequestHead(
            request.method,
            url.raw_path,
            raw_path,
            query,
            headers,
            "1.1",
            self.client_address,
            (url.host, port),
            url.scheme,
            "",
        )

    async def _call(self, request: httpx.Request) -> httpx.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, request.read)
        head = self._head(request)
        if self.path == "native":
            try:
                native = self.app.__porch_http__(head, _BytesBody(body))
                if inspect.isawaitable(native):
                    native = await native
            except HTTPError as error:  # as porch's server answers it
                text = f"{error.status} {error.detail}\n".encode()
                native = NativeResponse(error.status, [_TEXT, *error.headers], text)
            return await _collect(native, head, request)
        return await self._call_asgi(head, body, request)

    async def _call_asgi(
        self, head: RequestHead, body: bytes, request: httpx.Request
    ) -> httpx.Response:
        sent_body = False
        done = asyncio.Event()
        start: Message = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            await self.app(http_scope(head, self.state), receive, send)
        finally:
            done.set()
        if not start:
            raise RuntimeError("the application returned without a response")
        headers = [(bytes(n), bytes(v)) for n, v in start.get("headers", ())]
        content = b"" if head.method == "HEAD" else b"".join(chunks)
        # A stream, not content: httpx would add a Content-Length the application did not send.
        return httpx.Response(
            int(start["status"]),
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
        )

    # Startup and shutdown.

    def __enter__(self) -> "TestClient":
        super().__enter__()
        try:
            self._portal_run(self._start())
        except BaseException:
            self._close_portal()
            super().__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                self._portal_run(self._stop())
        finally:
            super().__exit__(*exc)
            self._close_portal()

    def close(self) -> None:
        """Close the client and stop its event loop's thread."""
        super().close()
        self._close_portal()

    def _close_portal(self) -> None:
        if self._portal is not None:
            self._portal.close()
            self._portal = None

    async def _start(self) -> None:
        if not _speaks_asgi(self.app):
            return  # a native-only application has no lifespan to run
        requests: asyncio.Queue[Message] = asyncio.Queue()
        replies: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}

        async def send(message: Message) -> None:
            await replies.put(message)

        task = asyncio.get_running_loop().create_task(self.app(scope, requests.get, send))
        await requests.put({"type": "lifespan.startup"})
        reply = await _reply(task, replies)
        if reply is None:
            # The application does not do lifespan (as the spec allows, it raised or returned).
            if not task.cancelled():
                task.exception()  # retrieved: not an error left unseen
            return
        if reply["type"] == "lifespan.startup.failed":
            await asyncio.wait([task], timeout=5)
            raise RuntimeError(f"application startup failed: {reply.get('message', '')}")
        self._lifespan = task
        self._lifespan_queues = (requests, replies)

    async def _stop(self) -> None:
        task = self._lifespan
        assert task is not None
        self._lifespan = None
        requests, replies = self._lifespan_queues
        await requests.put({"type": "lifespan.shutdown"})
        reply = await _reply(task, replies)
        await asyncio.wait([task], timeout=5)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise RuntimeError("application shutdown failed") from task.exception()
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"application shutdown failed: {reply.get('message', '')}")


async def _reply(task: "asyncio.Task[Any]", replies: "asyncio.Queue[Message]") -> Message | None:
    """The application's next lifespan message, or None if it ends without sending one."""
    getting = asyncio.ensure_future(replies.get())
    await asyncio.wait([getting, task], return_when=asyncio.FIRST_COMPLETED)
    if getting.done():
        return getting.result()
    getting.cancel()
    return None


def _speaks_asgi(app: Any) -> bool:
    """Whether `app` is an ASGI application (porch's App is one; StaticFiles is native only)."""
    if hasattr(app, "__porch_http__"):
        return callable(app) and inspect.iscoroutinefunction(type(app).__call__)
    return detect_interface(app) == "asgi"


async def _collect(
    native: NativeResponse, head: RequestHead, request: httpx.Request
) -> httpx.Response:
    """An httpx response from a native one, as porch's server would frame it."""
    body = native.body
    headers = [(bytes(n), bytes(v)) for n, v in native.headers]
    if isinstance(body, bytes):
        content = body
    elif isinstance(body, FileRegion):
        try:
            loop = asyncio.get_running_loop()
            content = b""
            if head.method != "HEAD":
                content = await loop.run_in_executor(None, _read_region, body)
        finally:
            body.close()
        if not any(n == b"content-length" for n, _ in headers):
            headers.append((b"content-length", str(body.count).encode()))
    else:
        parts: list[bytes] = []
        try:
            if isinstance(body, AsyncIterable):
                parts = [chunk async for chunk in body]
            else:
                parts = list(_iterate(body))
        finally:
            close: Any = getattr(body, "aclose", None) or getattr(body, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result
        content = b"".join(parts)
    status = native.status
    no_body = status in (204, 304) or status < 200
    if (
        isinstance(body, bytes)
        and not no_body
        and (content or head.method != "HEAD")
        and not any(n == b"content-length" for n, _ in headers)
    ):
        # As porch's server frames it: a whole body gets its length (a HEAD's empty one
        # says nothing of the GET's); a stream is chunked.
        headers.append((b"content-length", str(len(content)).encode()))
    if head.method == "HEAD" or no_body:
        content = b""
    return httpx.Response(
        status, headers=headers, stream=httpx.ByteStream(content), request=request
    )


def _read_region(region: FileRegion) -> bytes:
    import os

    return os.pread(region.fileno(), region.count, region.offset)


def _iterate(body: Any) -> Iterator[bytes]:
    yield from body
