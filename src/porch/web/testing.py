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

from porch.http.native import FileRegion, RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.asgi import http_scope
from porch.server.types import Message

T = TypeVar("T")


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
        self.app = app
        self.path = path
        self.client_address = client
        self._portal: _Portal | None = None
        self._lifespan: asyncio.Task[None] | None = None
        self._lifespan_queue: asyncio.Queue[Message] | None = None
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
            native = self.app.__porch_http__(head, _BytesBody(body))
            if inspect.isawaitable(native):
                native = await native
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
            await self.app(http_scope(head), receive, send)
        finally:
            done.set()
        if not start:
            raise RuntimeError("the application returned without a response")
        headers = [(bytes(n), bytes(v)) for n, v in start.get("headers", ())]
        content = b"" if head.method == "HEAD" else b"".join(chunks)
        return httpx.Response(
            int(start["status"]), headers=headers, content=content, request=request
        )

    # Startup and shutdown.

    def __enter__(self) -> "TestClient":
        super().__enter__()
        self._portal_run(self._start())
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._lifespan is not None:
                self._portal_run(self._stop())
        finally:
            super().__exit__(*exc)
            if self._portal is not None:
                self._portal.close()
                self._portal = None

    async def _start(self) -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        replies: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_queue = replies
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def send(message: Message) -> None:
            await replies.put(message)

        self._lifespan = asyncio.get_running_loop().create_task(self.app(scope, queue.get, send))
        self._lifespan_send = queue
        await queue.put({"type": "lifespan.startup"})
        reply = await replies.get()
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"application startup failed: {reply.get('message', '')}")

    async def _stop(self) -> None:
        assert self._lifespan_queue is not None
        await self._lifespan_send.put({"type": "lifespan.shutdown"})
        reply = await self._lifespan_queue.get()
        if self._lifespan is not None:
            await self._lifespan
        if reply["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(f"application shutdown failed: {reply.get('message', '')}")


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
    if isinstance(body, bytes) and not any(n == b"content-length" for n, _ in headers):
        headers.append((b"content-length", str(len(content)).encode()))
    if head.method == "HEAD" or native.status in (204, 304):
        content = b""
    return httpx.Response(native.status, headers=headers, content=content, request=request)


def _read_region(region: FileRegion) -> bytes:
    import os

    return os.pread(region.fileno(), region.count, region.offset)


def _iterate(body: Any) -> Iterator[bytes]:
    yield from body
