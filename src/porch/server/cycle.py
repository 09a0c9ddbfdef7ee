"""One request on a connection: its body coming in and its response going out.

The connection (`protocol.py`) feeds a cycle the body events its parser produced; an adapter
(ASGI, WSGI or native) reads the body and writes the response through the cycle's methods,
which apply the framing `h1.encode_response_head` decided. A cycle is also the `BodyReader` a
native application receives.

States of the response: not started -> started (head encoded, maybe not yet written) ->
complete. Every method here runs on the event loop.
"""

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.native import FileRegion, RawHeaders, RequestHead, ResponseHeaders
from porch.http.status import reason_phrase
from porch.server.h1 import (
    CHUNKED,
    CONTENT_LENGTH,
    NO_BODY,
    InvalidResponse,
    ParsedRequest,
    encode_response_head,
)

if TYPE_CHECKING:
    from porch.server.protocol import HTTPProtocol

logger = logging.getLogger("porch.error")

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Stop reading from the socket while this much request body waits for the application.
BODY_HIGH_WATER = 65536
# Files up to this size go out in the same write as the head; larger ones zero-copy.
SMALL_FILE = 65536
FILE_CHUNK = 262144
# Headers of an error page that the server sets itself.
_OWN = frozenset((b"content-type", b"content-length", b"transfer-encoding"))


class Cycle:
    """The state of one request and its response."""

    __slots__ = (
        "_body_error",
        "_body_waiter",
        "_buffered",
        "_chunks",
        "_continue_pending",
        "_end_waiter",
        "_framing",
        "_head",
        "_remaining",
        "body_complete",
        "bytes_sent",
        "context",
        "head",
        "keep_alive",
        "protocol",
        "reason",
        "response_complete",
        "response_started",
        "start_time",
        "status",
        "task",
        "transport",
        "upgrade",
    )

    def __init__(self, protocol: "HTTPProtocol", request: ParsedRequest) -> None:
        self.protocol = protocol
        self.transport: asyncio.Transport = protocol.transport
        self.head: RequestHead = request
        self.keep_alive = request.keep_alive
        self.task: asyncio.Task[Any] | None = None
        # A WebSocket handshake: the bytes that came after its head (see h1.Upgraded).
        self.upgrade: bytes | None = None
        self.start_time = 0.0
        self.reason = ""  # why the server itself refused the request, for the access log
        # What the application was given (the ASGI scope, the WSGI environ): where a framework
        # says which route answered (porch.server.metrics.route_from).
        self.context: Mapping[str, Any] | None = None
        # The body coming in.
        self._chunks: list[bytes] = []
        self._buffered = 0
        self.body_complete = not request.has_body
        self._body_error: HTTPError | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        # Woken when the response completes or the client leaves (see wait_for_end).
        self._end_waiter: asyncio.Future[None] | None = None
        self._continue_pending = request.expect_continue and request.has_body
        # The response going out.
        self.response_started = False
        self.response_complete = False
        self.status = 0
        self.bytes_sent = 0  # of the body, as the access log counts them
        self._head = b""  # encoded but not yet written: it goes out with the first body bytes
        self._framing = NO_BODY
        self._remaining = -1

    # The body, fed by the connection.

    def feed_body(self, data: bytes) -> None:
        """A piece of the request body arrived."""
        self._chunks.append(data)
        self._buffered += len(data)
        if self._body_waiter is not None:
            self._wake_body_reader()
        if self._buffered > BODY_HIGH_WATER:
            self.protocol.pause_reading_for_body()

    def end_body(self) -> None:
        """The request body is complete."""
        self.body_complete = True
        self._continue_pending = False
        if self._body_waiter is not None:
            self._wake_body_reader()

    def fail_body(self, error: HTTPError) -> None:
        """The request body broke off (too large, or bad framing)."""
        self._body_error = error
        self._continue_pending = False
        if self._body_waiter is not None:
            self._wake_body_reader()

    def disconnected(self) -> None:
        """The client went away: wake whatever waits for it."""
        if self._body_waiter is not None:
            self._wake_body_reader()
        if self._end_waiter is not None:
            self._wake_end_waiter()

    async def wait_for_end(self) -> None:
        """Wait until the response is complete or the client has gone."""
        if self.response_complete or self.protocol.closed:
            return
        if self._end_waiter is None:
            self._end_waiter = self.protocol.loop.create_future()
        await self._end_waiter

    def _wake_end_waiter(self) -> None:
        waiter = self._end_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_body_reader(self) -> None:
        waiter = self._body_waiter
        self._body_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def body_pending(self) -> bool:
        """Whether body bytes are waiting to be read."""
        return bool(self._chunks)

    def take_body(self) -> bytes:
        """Whatever body bytes have arrived and not been read (maybe b"")."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self.protocol.body_consumed()
        return data

    async def receive_body(self) -> bytes:
        """The next piece of the body, waiting for it; b"" once the body is complete.

        Raises the body's HTTPError (413, bad framing) or ClientDisconnected.
        """
        while True:
            if self._chunks:
                return self.take_body()
            if self._body_error is not None:
                raise self._body_error
            if self.body_complete:
                return b""
            if self.protocol.closed:
                raise ClientDisconnected("client disconnected while sending the body")
            if self._continue_pending:
                # RFC 9110 §10.1.1: 100 only once the application asks for the body.
                self._continue_pending = False
                if not self.response_started:
                    self.transport.write(CONTINUE)
            self._body_waiter = self.protocol.loop.create_future()
            await self._body_waiter

    # The native BodyReader interface.

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        if self.body_complete and self._body_error is None:
            return self.take_body()  # PERF: the common case needs no waiting at all
        parts = []
        while data := await self.receive_body():
            parts.append(data)
        return b"".join(parts)

    async def stream(self) -> AsyncIterator[bytes]:
        """The rest of the body, chunk by chunk."""
        while data := await self.receive_body():
            yield data

    # The response.

    def start_response(
        self,
        status: int,
        headers: ResponseHeaders,
        body_length: int | None = None,
        reason: bytes | None = None,
    ) -> None:
        """Encode the response head; it is written with the first body bytes.

        `reason` is an application's own reason phrase (WSGI), when not the usual one.
        Raises InvalidResponse when the status or headers cannot be sent.
        """
        if self.response_started:
            raise InvalidResponse("the response has already started")
        # A body the application did not read would be taken for the next request.
        keep_alive = self.keep_alive and self.body_complete
        if keep_alive and self.protocol.closing:
            # Closing (the client's EOF, a bad request behind, shutdown): what was received is
            # still answered in order, and the last answer says so.
            keep_alive = not self.protocol.nothing_to_answer_next()
        head, framing, length, keep_alive = encode_response_head(
            status,
            headers,
            method=self.head.method,
            http_version=self.head.http_version,
            keep_alive=keep_alive,
            body_length=body_length,
            extra=(
                self.protocol.clock.header_lines
                + b"x-request-id: %s\r\n" % self.head.request_id.encode()
                if self.head.request_id
                else self.protocol.clock.header_lines
            ),
            reason=reason,
        )
        self.response_started = True
        self.status = status
        self.keep_alive = keep_alive
        self._head = head
        self._framing = framing
        self._remaining = length

    def write(self, data: bytes, more: bool = False) -> None:
        """Send a piece of the body (framed as the head decided); `more=False` completes it."""
        if self.response_complete:
            return
        framing = self._framing
        if framing == CONTENT_LENGTH:
            size = len(data)
            if size > self._remaining:
                logger.error(
                    "Response body longer than its Content-Length (%d bytes more); "
                    "the connection is closed",
                    size - self._remaining,
                )
                data = data[: self._remaining]
                self.keep_alive = False
                more = False
                size = self._remaining
            self._remaining -= size
            self.bytes_sent += size
        elif framing == CHUNKED:
            if data:
                self.bytes_sent += len(data)
                data = b"%x\r\n%b\r\n" % (len(data), data)
            if not more:
                data += b"0\r\n\r\n"
        elif framing == NO_BODY:
            data = b""
        else:
            self.bytes_sent += len(data)
        if self._head:
            data = self._head + data
            self._head = b""
        if data and not self.protocol.closed:
            # PERF: one write per response when the body comes whole.
            self.transport.write(data)
        if not more:
            self._complete()

    def respond(
        self,
        status: int,
        headers: ResponseHeaders,
        body: bytes,
        reason: bytes | None = None,
    ) -> None:
        """A whole response at once: `start_response`, then its body, in one write.

        Raises InvalidResponse, as `start_response` does, before anything is sent.
        """
        size = len(body)
        self.start_response(status, headers, size, reason)
        if self._framing != CONTENT_LENGTH or self._remaining != size:
            self.write(body, more=False)  # HEAD, 204, 304, or the application's own length
            return
        # PERF: the usual answer (the length the head promises, exactly): what write() and
        # _complete() do for it, without their calls and checks.
        self._remaining = 0
        self.bytes_sent = size
        data = self._head + body
        self._head = b""
        if not self.protocol.closed:
            self.transport.write(data)
        self.response_complete = True
        if self._end_waiter is not None:
            self._wake_end_waiter()
        self.protocol.cycle_done(self)

    def finish(self) -> None:
        """The response is complete: end the framing and hand the connection back."""
        if not self.response_complete:
            self.write(b"", more=False)  # the head if still pending, the last chunk if chunked

    def _complete(self) -> None:
        if self._framing == CONTENT_LENGTH and self._remaining > 0:
            logger.error(
                "Response body shorter than its Content-Length (%d bytes missing); "
                "the connection is closed",
                self._remaining,
            )
            self.keep_alive = False
        self.response_complete = True
        if self._end_waiter is not None:
            self._wake_end_waiter()
        self.protocol.cycle_done(self)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its high-water mark."""
        protocol = self.protocol
        if protocol.closed:
            raise ClientDisconnected("client disconnected")
        if protocol.writing_paused:
            await protocol.wait_writable()

    @property
    def sends_body(self) -> bool:
        """Whether the response, once started, carries a body (not for HEAD, 204 or 304)."""
        return self._framing != NO_BODY

    def take_head(self) -> bytes:
        """The encoded head not yet written, which the caller now writes itself."""
        head = self._head
        self._head = b""
        return head

    async def send_file(self, region: FileRegion) -> None:
        """Send a file region as the whole body (zero-copy where the transport allows)."""
        try:
            count = region.count
            if self._framing == NO_BODY:
                self.write(b"", more=False)  # HEAD, 304: the head alone, the file unread
                return
            if self._framing == CONTENT_LENGTH:
                count = min(count, self._remaining)  # never past the length announced
            if self._framing != CONTENT_LENGTH or count <= SMALL_FILE:
                data = _read_exactly(region.fileno(), region.offset, count)
                self.write(data, more=False)
                return
            await _sendfile(self, region.fileno(), region.offset, count)
            self.finish()
        finally:
            region.close()

    def hand_failure(self, exc: BaseException) -> bool:
        """Whether what the application raised goes to an application hosting this one (see
        porch.server.hosted), which answers and reports it; never for a connection's cycle."""
        return False

    def fail(self, exc: BaseException | None = None) -> None:
        """The application failed: a generic 500 if nothing was sent, else close."""
        if self.response_complete:
            return
        if not self.response_started or self._head:
            # Not a byte has gone out: the client gets a proper answer. If its body broke off
            # (too large, bad framing, cut short), the fault is the request's, and so the status.
            error = self._body_error
            if error is not None:
                self.send_error(error.status, error.detail)
            else:
                self.send_error(500)
            return
        self.keep_alive = False
        self._head = b""
        self.response_complete = True
        if self._end_waiter is not None:
            self._wake_end_waiter()
        self.protocol.cycle_done(self)

    def send_error(
        self, status: int, detail: str | None = None, headers: RawHeaders | None = None
    ) -> None:
        """Answer with a short plain-text error page (nothing of the request is echoed).

        A response whose head has not gone out yet is replaced; one already on the wire is not.
        """
        if self.response_started:
            if not self._head or self.response_complete:
                return
            self.response_started = False
            self._head = b""
        body = f"{status} {detail or reason_phrase(status)}\n".encode()
        self.keep_alive = self.keep_alive and status < 500 and status not in (408, 413, 431)
        error_headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if headers:
            # An HTTPError's own headers (Allow, WWW-Authenticate, Retry-After...).
            error_headers += [(name, value) for name, value in headers if name.lower() not in _OWN]
        try:
            self.respond(status, error_headers, body)
        except InvalidResponse:
            logger.error("Invalid headers on an HTTPError %d; sent without them", status)
            self.respond(status, error_headers[:1], body)


def _read_exactly(fd: int, offset: int, count: int) -> bytes:
    """`count` bytes of a file from `offset`; raises if the file has shrunk."""
    data = os.pread(fd, count, offset)
    while len(data) < count:
        more = os.pread(fd, count - len(data), offset + len(data))
        if not more:
            raise InvalidResponse("file shorter than the region to send (changed on disk?)")
        data += more
    return data


async def _sendfile(cycle: Cycle, in_fd: int, offset: int, count: int) -> None:
    """Send `count` bytes of `in_fd`: os.sendfile straight to the socket when possible.

    Neither uvloop nor TLS transports offer loop.sendfile. Porch writes to the socket itself,
    only while the transport's own buffer is empty, so bytes never pass each other. When the
    kernel's buffer is full, a small piece goes through the transport instead, which tells us
    (resume_writing) once it has drained: the socket is writable again.
    """
    transport = cycle.transport
    sock = transport.get_extra_info("socket")
    if sock is None or transport.get_extra_info("sslcontext") is not None:
        while count > 0:
            data = _read_exactly(in_fd, offset, min(count, FILE_CHUNK))
            cycle.write(data, more=True)
            offset += len(data)
            count -= len(data)
            await cycle.drain()
        return
    out_fd = sock.fileno()
    head = cycle.take_head()
    if head and sock.family in _TCP and transport.get_write_buffer_size() == 0:
        # PERF: the head waits in the kernel (MSG_MORE) to leave with the file's first bytes.
        # Sent alone, it is a small segment of its own, and the body's segments then go out
        # clocked by the client's acknowledgements: 1.6x fewer 1 MB responses per second.
        head = head[_send_more(out_fd, sock.family, head) :]
    if head:
        transport.write(head)
    low, high = transport.get_write_buffer_limits()
    transport.set_write_buffer_limits(high=0, low=0)  # resume_writing means "empty"
    try:
        while count > 0:
            await cycle.drain()
            try:
                sent = os.sendfile(out_fd, in_fd, offset, count)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (BrokenPipeError, ConnectionResetError) as exc:
                # Straight to the socket, so the transport has not seen the client go.
                raise ClientDisconnected("client disconnected during sendfile") from exc
            if sent == 0:
                data = _read_exactly(in_fd, offset, min(count, 16384))
                cycle.write(data, more=True)
                sent = len(data)
            else:
                cycle.bytes_sent += sent
                cycle._remaining -= sent
            offset += sent
            count -= sent
    finally:
        if not cycle.protocol.closed:
            transport.set_write_buffer_limits(high=high, low=low)


_TCP = (socket.AF_INET, socket.AF_INET6)


def _send_more(fd: int, family: int, data: bytes) -> int:
    """Send `data` on the connection's socket with MSG_MORE; how much the kernel took."""
    # A socket object over the transport's descriptor, given its family and type so that
    # nothing is asked of the kernel; detached before it can close the descriptor.
    raw = socket.socket(family, socket.SOCK_STREAM, 0, fd)
    try:
        return raw.send(data, socket.MSG_MORE)
    except (BlockingIOError, InterruptedError):
        return 0  # the socket's buffer is full: the transport sends the head
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise ClientDisconnected("client disconnected") from exc
    finally:
        raw.detach()
