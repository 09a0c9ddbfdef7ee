"""Hosting an application inside another: the server's own adapters, answering into a Response.

A porch App mounts ASGI and WSGI applications under a prefix (`App.mount`). They are run by
the very adapters that serve them under `porch run` (`asgi.ASGIAdapter`, `wsgi.WSGIAdapter`),
on an `Exchange`: a cycle whose body comes from the hosting application's request and whose
response becomes a native `Response` for the host (its hooks run on it, then it goes out by
whichever face the host is served), instead of bytes on a connection. So the ASGI message
checks, the WSGI rules, body spooling, `wsgi.file_wrapper` and `http.response.pathsend` (both
a file region the host sends zero-copy) and flow control are the same code either way.

The response is handed over at its first body event: whole (one write), a file, or a stream
of at most BACKLOG pieces the host has not taken yet (the application waits in `send` or
`write` past that). The host closing the stream (its client gone) tells the application the
client left. A failure before the hand-over reaches the host as an exception (its error pages
answer it), and one in the middle of a stream ends the stream with it; the host reports it.
Only what fails once the host is done with the response is logged here.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.native import BodyReader, FileRegion, RawHeaders, RequestHead, Response
from porch.server.asgi import ASGIAdapter, ASGICycle
from porch.server.cycle import Cycle
from porch.server.h1 import InvalidResponse
from porch.server.wsgi import WSGIAdapter

# Pieces of a streamed body the host has not taken before the application waits.
BACKLOG = 8

_END: Any = object()  # the last piece of a stream

# What an adapter reads of a connection's configuration: a hosted request has no metrics of
# its own (the host's request is counted).
_HOSTED_CONFIG = SimpleNamespace(metrics=None)

# The tasks of hosted ASGI applications still running (background work after their answer).
_running: set["asyncio.Task[Any]"] = set()


class Exchange(Cycle):
    """A request cycle hosted in another application (see the module's docstring).

    Every method an adapter calls is its own; none writes to a connection. It is its own
    `protocol`, which for an adapter is where `closed` and `writing_paused` are read.
    """

    def __init__(self, head: RequestHead, body: BodyReader) -> None:
        # Not Cycle.__init__: there is no connection. What the adapters read is set here.
        self.protocol = self  # type: ignore[assignment]  # closed, writing_paused, config
        self.config = _HOSTED_CONFIG
        self.head = head
        self.task = None
        self.upgrade = None  # never a WebSocket handshake
        self.context = None
        self.status = 0
        self.body_complete = False
        self._body_error = None
        self._body: AsyncIterator[bytes] = body.stream()
        self.response_started = False
        self.response_complete = False
        self.closed = False  # the host is done with the response (its client may be gone)
        self._headers: RawHeaders = []
        self._answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pieces: deque[Any] = deque()
        self._readable = asyncio.Event()  # a piece (or the end, or a failure) for the host
        self._room = asyncio.Event()  # the host took a piece: the application may go on
        self._ended = asyncio.Event()  # the response is complete, or the host is done

    async def response(self) -> Response:
        """The application's answer, once its body begins; what it raised before that."""
        return await self._answer

    # The request body, read from the host's request.

    @property
    def body_pending(self) -> bool:
        return False  # nothing waits here: each piece is read from the host when asked for

    def take_body(self) -> bytes:
        return b""

    async def receive_body(self) -> bytes:
        if self.body_complete:
            return b""
        try:
            async for piece in self._body:
                if piece:
                    return piece
        except HTTPError as error:  # the host's request broke off (413, bad framing)
            self._body_error = error
            raise
        self.body_complete = True
        return b""

    async def wait_for_end(self) -> None:
        await self._ended.wait()

    # The response, handed to the host.

    @property
    def writing_paused(self) -> bool:
        return len(self._pieces) >= BACKLOG

    def start_response(
        self,
        status: int,
        headers: Any,
        body_length: int | None = None,
        reason: bytes | None = None,
    ) -> None:
        if self.response_started:
            raise InvalidResponse("the response has already started")
        try:
            # The host's server checks every name and value as it sends them.
            self._headers = [(bytes(name), bytes(value)) for name, value in headers]
        except (TypeError, ValueError):
            raise InvalidResponse("headers must be pairs of bytes") from None
        self.status = status
        self.response_started = True

    def write(self, data: bytes, more: bool = False) -> None:
        if self.response_complete or self.closed:
            return
        if not self._answer.done():
            if not more:
                self._hand_over(data)
                self._complete()
                return
            self._hand_over(self)  # the body is a stream of what comes next
        if data:
            self._push(data)
        if not more:
            self._push(_END)
            self._complete()

    def respond(self, status: int, headers: Any, body: bytes, reason: bytes | None = None) -> None:
        self.start_response(status, headers, len(body), reason)
        self.write(body, more=False)

    async def drain(self) -> None:
        while not self.closed and len(self._pieces) >= BACKLOG:
            self._room.clear()
            await self._room.wait()
        if self.closed:
            raise ClientDisconnected("client disconnected")

    @property
    def sends_body(self) -> bool:
        return True  # the host leaves out what a HEAD, 204 or 304 answer does not carry

    async def send_file(self, region: FileRegion) -> None:
        if self.closed or self._answer.done():
            region.close()
            if self.closed:
                raise ClientDisconnected("client disconnected")
            raise InvalidResponse("a file after the response's body began")
        self._hand_over(region)  # the host sends it, zero-copy where it can, and closes it
        self._complete()

    def hand_failure(self, exc: BaseException) -> bool:
        """Give the host what the application raised: before the hand-over its error page
        answers it; during a stream the stream ends with it. False once the host is done."""
        if self.closed or self.response_complete:
            return False
        self.response_complete = True
        self._ended.set()
        if self._answer.done():
            self._push(exc)
        else:
            self._answer.set_exception(exc)
        return True

    def fail(self, exc: BaseException | None = None) -> None:
        if not self.response_complete:
            # The application gave up on a request whose body broke off: its error answers.
            self.hand_failure(self._body_error or exc or ClientDisconnected("client gone"))

    def send_error(
        self, status: int, detail: str | None = None, headers: RawHeaders | None = None
    ) -> None:
        if not self._answer.done():
            self.hand_failure(HTTPError(status, detail, list(headers or ())))

    def _hand_over(self, body: Any) -> None:
        self._answer.set_result(Response(self.status, self._headers, body))

    def _push(self, piece: Any) -> None:
        self._pieces.append(piece)
        self._readable.set()

    def _complete(self) -> None:
        self.response_complete = True
        self._ended.set()

    # The streamed body, as the host iterates it.

    def __aiter__(self) -> "Exchange":
        return self

    async def __anext__(self) -> bytes:
        while not self._pieces:
            if self.closed:
                raise StopAsyncIteration
            self._readable.clear()
            await self._readable.wait()
        piece = self._pieces.popleft()
        self._room.set()
        if piece is _END:
            raise StopAsyncIteration
        if isinstance(piece, BaseException):
            raise piece
        return piece  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """The host is done with the response: an application still sending is told the
        client left (and one waiting in `receive` gets http.disconnect)."""
        self.closed = True
        self._pieces.clear()
        self._room.set()
        self._ended.set()


class ASGIExchange(ASGICycle, Exchange):
    """An exchange with ASGI's `receive` and `send` (those of the server's ASGI cycle)."""

    def __init__(self, head: RequestHead, body: BodyReader) -> None:
        Exchange.__init__(self, head, body)
        self._start_message = None
        self._final_body_sent = False


async def host(adapter: ASGIAdapter | WSGIAdapter, head: RequestHead, body: BodyReader) -> Response:
    """Run `adapter`'s application on a request (`head`, its `body`); its answer."""
    exchange = (
        ASGIExchange(head, body) if isinstance(adapter, ASGIAdapter) else Exchange(head, body)
    )
    adapter.run(exchange)
    task = exchange.task
    if task is not None:
        # Kept until it ends: an application may go on working after its answer.
        _running.add(task)
        task.add_done_callback(_running.discard)
    return await exchange.response()
