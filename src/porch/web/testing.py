"""TestClient: call an application in-process, as httpx would over the network.

`client.websocket_connect(url)` opens a WebSocket to it (a `WebSocketSession`).

`TestClient(app)` is an `httpx.Client` (`client.get(url, params=..., headers=...)`,
`client.post(url, data=..., json=..., files=...)`, cookies kept between calls) whose requests
go straight into the application, through its native path (`path="native"`, the default for a
porch App) or its ASGI path (`path="asgi"`), on an event loop of the client's own. Used as a
context manager, it runs the application's startup and shutdown hooks (ASGI lifespan).

The native path is porch's own server with no socket: each request is sent as HTTP/1.1 bytes
into the server's connection (`HTTPProtocol`, `NativeAdapter`, `Cycle`) over an in-memory
transport, and the answer is read back from the bytes the server writes by h11 (httpx's own
HTTP/1.1 parser). So a test sees exactly the server's framing: Content-Length or chunked,
HEAD, `Date` and `Server`, error answers.
"""

import asyncio
import base64
import concurrent.futures
import inspect
import json
import os
import queue
import ssl
import sys
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import h11
import httpx

from porch.http.errors import ClientDisconnected
from porch.http.native import RequestHead
from porch.server.asgi import http_scope
from porch.server.cycle import Cycle
from porch.server.loader import detect_interface
from porch.server.native import NativeAdapter
from porch.server.protocol import HTTPProtocol
from porch.server.settings import Settings
from porch.server.state import ConnectionConfig, ServerState
from porch.server.types import Message, Scope
from porch.server.websocket import websocket_scope
from porch.web.websocket import WebSocketDisconnect

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
        root_path: str = "",
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
        # As `porch run --root-path`: the path a proxy in front mounts the application at.
        self.root_path = root_path.rstrip("/")
        self._portal: _Portal | None = None
        self._server: ServerState | None = None  # the native path's, on the portal's loop
        self._tls: ssl.SSLContext | None = None
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
            self.root_path,
        )

    async def _call(self, request: httpx.Request) -> httpx.Response:
        # A streamed request body may block as it is produced: read it off the loop.
        body = await asyncio.get_running_loop().run_in_executor(None, request.read)
        if self.path == "native":
            return await self._call_native(request, body)
        return await self._call_asgi(self._head(request), body, request)

    async def _call_native(self, request: httpx.Request, body: bytes) -> httpx.Response:
        """Send the request through porch's server on a connection of its own."""
        loop = asyncio.get_running_loop()
        server = self._server
        if server is None:
            settings = Settings(access_log=False, proxy_headers=False, root_path=self.root_path)
            # Startup and shutdown are the client's own (`with TestClient(app)`: _start).
            adapter = _Adapter(self.app, loop, lifespan="off")
            server = self._server = ServerState(
                ConnectionConfig.from_settings(settings, adapter), loop
            )
        server.clock.update(loop.time())  # the server's ticker would renew Date every 0.25 s
        url = request.url
        extra: dict[str, Any] = {
            "peername": self.client_address,
            "sockname": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        }
        if url.scheme == "https":
            # What the connection looks at to say https; never used to encrypt anything.
            if self._tls is None:
                self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            extra["sslcontext"] = self._tls
        connection = _Connection(loop, extra)
        protocol = HTTPProtocol(server)
        connection.protocol = protocol
        protocol.connection_made(connection)
        try:
            protocol.data_received(connection.request_bytes(request, body))
            await connection.done
        except httpx.RemoteProtocolError:
            if connection.failure is None:
                raise
        finally:
            connection.hang_up()
        if connection.failure is not None:
            # The application failed where only the server sees it (the body of a response):
            # as on the ASGI path, the test gets the exception.
            raise connection.failure
        return connection.response(request)

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

    # WebSockets.

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> "WebSocketSession":
        """Open a WebSocket to the application (through its ASGI face, as `porch run` serves
        an App's WebSocket routes), with the client's cookies and headers.

        Raises WebSocketDisconnect if the application closes it before accepting, and
        WebSocketDenied (its `response`) if it answers the handshake with HTTP.
        """
        if not _speaks_asgi(self.app):
            raise ValueError("the application has no ASGI face to take WebSockets")
        request = self.build_request("GET", url, headers=headers)
        request.headers.update(
            {
                "upgrade": "websocket",
                "connection": "Upgrade",
                "sec-websocket-key": base64.b64encode(os.urandom(16)).decode(),
                "sec-websocket-version": "13",
            }
        )
        if subprotocols:
            request.headers["sec-websocket-protocol"] = ", ".join(subprotocols)
        if self._portal is None:
            self._portal = _Portal()
        scope = websocket_scope(http_scope(self._head(request), self.state))
        session = WebSocketSession(self.app, scope, self._portal.loop, request, timeout)
        session._open()
        return session

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
            self._server = None  # it belongs to the portal's loop

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


class WebSocketDenied(Exception):
    """The application answered a WebSocket handshake with HTTP (`response`)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"WebSocket handshake answered {response.status_code}")
        self.response = response


class WebSocketSession:
    """A WebSocket opened by `TestClient.websocket_connect`: `send_text`, `receive_json`...
    from the test's thread, the application on the client's event loop.

    What the application sends waits here until received (`receive` waits `timeout` seconds
    for it); a close from the application raises WebSocketDisconnect, and an exception the
    application raised is raised in the test. Leaving the `with` block closes it (1000).
    """

    __test__ = False

    def __init__(
        self,
        app: Any,
        scope: Scope,
        loop: asyncio.AbstractEventLoop,
        request: httpx.Request,
        timeout: float,
    ) -> None:
        self._app = app
        self._scope = scope
        self._loop = loop
        self._request = request
        self.timeout = timeout
        self._to_app: asyncio.Queue[Message] | None = None
        self._from_app: queue.Queue[Message] = queue.Queue()
        self._run: concurrent.futures.Future[None] | None = None
        self.accepted_subprotocol: str | None = None
        self.accepted_headers: list[tuple[bytes, bytes]] = []
        self.closed = False

    def _open(self) -> None:
        self._run = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        message = self._next()
        kind = message["type"]
        if kind == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.accepted_headers = [(bytes(n), bytes(v)) for n, v in message.get("headers", ())]
            return
        self.closed = True
        if kind == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        if kind == "websocket.http.response.start":
            body = []
            while True:
                part = self._next()
                body.append(part.get("body", b""))
                if not part.get("more_body", False):
                    break
            raise WebSocketDenied(
                httpx.Response(
                    message["status"],
                    headers=[(bytes(n), bytes(v)) for n, v in message.get("headers", ())],
                    content=b"".join(body),
                    request=self._request,
                )
            )
        raise RuntimeError(f"ASGI: unexpected {kind!r} in answer to websocket.connect")

    async def _serve(self) -> None:
        self._to_app = asyncio.Queue()
        self._to_app.put_nowait({"type": "websocket.connect"})

        async def send(message: Message) -> None:
            self._from_app.put(message)

        try:
            await self._app(self._scope, self._to_app.get, send)
        finally:
            self._from_app.put({"type": _ENDED})

    def _next(self) -> Message:
        """The application's next message; its exception if it failed."""
        try:
            message = self._from_app.get(timeout=self.timeout)
        except queue.Empty:
            raise TimeoutError(f"nothing from the application in {self.timeout} s") from None
        if message["type"] == _ENDED:
            assert self._run is not None
            self._run.result(self.timeout)  # what it raised, if it failed
            self.closed = True
            raise WebSocketDisconnect(1006, "the application returned without closing")
        return message

    def _put(self, message: Message) -> None:
        def put() -> None:
            assert self._to_app is not None
            self._to_app.put_nowait(message)

        self._loop.call_soon_threadsafe(put)

    # Sending.

    def send_text(self, data: str) -> None:
        self._put({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        self._put({"type": "websocket.receive", "bytes": bytes(data)})

    def send_json(self, data: Any) -> None:
        self.send_text(json.dumps(data))

    # Receiving.

    def receive(self) -> Message:
        """The application's next `websocket.send` message."""
        message = self._next()
        if message["type"] == "websocket.close":
            self.closed = True
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        if message["type"] != "websocket.send":
            raise RuntimeError(f"ASGI: unexpected {message['type']!r} on an open WebSocket")
        return message

    def receive_text(self) -> str:
        message = self.receive()
        if message.get("text") is None:
            raise TypeError("the application sent bytes, not text")
        return str(message["text"])

    def receive_bytes(self) -> bytes:
        message = self.receive()
        if message.get("bytes") is None:
            raise TypeError("the application sent text, not bytes")
        return bytes(message["bytes"])

    def receive_json(self) -> Any:
        return json.loads(self.receive_text())

    # Closing.

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the client's side, and wait for the application to be done with it."""
        if self._run is None:
            return
        if not self.closed:
            self.closed = True
            self._put({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            self._run.result(self.timeout)
        except WebSocketDisconnect:
            pass  # the application let the disconnect out of its handler: it ends there

    def __enter__(self) -> "WebSocketSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ENDED = "porch.testing.ended"  # the application returned


class _Connection(asyncio.Transport):
    """One client connection, in memory: the server's protocol writes to it, h11 reads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, extra: dict[str, Any]) -> None:
        super().__init__(extra)
        self.loop = loop
        self.protocol: HTTPProtocol | None = None
        # No limit of the client's own on the response head: the server's limits are tested.
        self.client = h11.Connection(h11.CLIENT, max_incomplete_event_size=sys.maxsize)
        self.head: h11.Response | None = None
        self.chunks: list[bytes] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self.failure: BaseException | None = None
        self.closed = False

    def request_bytes(self, request: httpx.Request, body: bytes) -> bytes:
        """The request as an HTTP/1.1 client sends it (h11 frames the body, as for httpx)."""
        events: list[h11.Event] = [
            h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
        ]
        if body:
            events.append(h11.Data(data=body))
        events.append(h11.EndOfMessage())
        # send() gives None only for ConnectionClosed, never sent here.
        return b"".join(self.client.send(event) or b"" for event in events)

    def response(self, request: httpx.Request) -> httpx.Response:
        """The response read, for httpx."""
        head = self.head
        assert head is not None
        return httpx.Response(
            head.status_code,
            headers=list(head.headers.raw_items()),
            # A stream, not content: httpx would add a Content-Length the server did not send.
            stream=httpx.ByteStream(b"".join(self.chunks)),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    def application_failed(self, exc: BaseException) -> None:
        """The server caught the application's exception (it answers 500, or closes)."""
        if self.failure is None:
            self.failure = exc

    def hang_up(self) -> None:
        """The client closes its end, with the response read (or the server gone)."""
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            self.protocol.connection_lost(None)

    def _read(self, data: bytes) -> None:
        """Give h11 what the server wrote (b"": the server closed) and take the events."""
        done = self.done
        if done.done():
            return
        client = self.client
        try:
            client.receive_data(data)
            while True:
                event = client.next_event()
                if isinstance(event, h11.Response):
                    self.head = event
                elif isinstance(event, h11.Data):
                    self.chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    done.set_result(None)
                    return
                elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                    break
                # An interim response (100 Continue) is not the answer.
        except h11.RemoteProtocolError as exc:
            problem = "is not valid HTTP/1.1" if data else "was cut short"
            done.set_exception(httpx.RemoteProtocolError(f"the server's answer {problem}: {exc}"))
            return
        if not data:
            done.set_exception(httpx.RemoteProtocolError("the server closed without an answer"))

    # The asyncio.Transport interface, as the server's protocol uses it.

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:
            self._read(bytes(data))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._read(b"")
            protocol = self.protocol
            assert protocol is not None
            # As an asyncio transport does: the protocol hears of it on the next loop turn.
            self.loop.call_soon(protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass  # the whole request is delivered at once

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0  # the client reads all that is written at once

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class _ClientCycle(Cycle):
    """The server's request cycle; an application failure also goes to the test."""

    __slots__ = ()

    def fail(self, exc: BaseException | None = None) -> None:
        connection = self.transport
        if (
            exc is not None
            and not isinstance(exc, ClientDisconnected)
            and isinstance(connection, _Connection)
        ):
            connection.application_failed(exc)
        super().fail(exc)


class _Adapter(NativeAdapter):
    """The server's native adapter, with cycles that report the application's failures."""

    cycle_class: type[Cycle] = _ClientCycle


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
