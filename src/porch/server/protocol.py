"""The HTTP/1.1 connection: moves bytes between the socket, the parser and request cycles.

Framing and limits live in `h1.py`, per-request state in `cycle.py`; this module owns what
needs I/O: the transport, flow control in both directions, pipelining order, and deadlines
(checked by the server's ticker rather than a timer per request).

Requests on a connection are answered strictly in order: the cycle at the front of the queue
is the active one; requests pipelined behind it wait, their bodies buffered (reading pauses
when too much is buffered or too many wait).

Flow control, both ways. A connection holds at most the transport's high-water mark of unsent
output plus one response: while the transport is over it (`pause_writing`), nothing more is
read from the client and no queued request starts; a client that reads nothing for
`timeout_send` is dropped. A request body must keep coming: a pause longer than
`timeout_request_body`, or an average rate under `min_request_body_rate` after a grace period,
gets 408. Neither clock runs while porch itself holds the client back.
"""

import asyncio
import logging
from collections import deque
from time import perf_counter
from typing import Any

from porch.http.errors import ClientDisconnected, HTTPError
from porch.server.cycle import BODY_HIGH_WATER, Cycle
from porch.server.h1 import (
    END_OF_MESSAGE,
    ParsedRequest,
    ProtocolError,
    RequestParser,
    Upgraded,
    encode_response_head,
)
from porch.server.requestid import REQUEST_ID
from porch.server.state import ServerState, scheme_of

logger = logging.getLogger("porch.error")

# Pipelined requests waiting behind the active one before reading pauses.
MAX_PIPELINED = 32

# What a connection's deadline is for: none; a head to finish; the next request of an idle
# keep-alive connection; the next piece of a request body; the end of a lingering close; the
# client to read some of its answers; a closing transport to send what it still holds.
NO_DEADLINE, HEAD_DEADLINE, IDLE_DEADLINE, BODY_DEADLINE, LINGER_DEADLINE = 0, 1, 2, 3, 4
SEND_DEADLINE, FLUSH_DEADLINE = 5, 6
# On shutdown, how long an idle keep-alive connection may still send one last request.
SHUTDOWN_GRACE = 1.0
# After an early answer (413, a bad request), how long and how much of what the client still
# sends is read and thrown away, so that closing does not reset the answer away (RFC 9112 §9.6).
LINGER_TIME = 2.0
LINGER_BYTES = 1 << 20


HEALTH_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"cache-control", b"no-store")]


class HTTPProtocol(asyncio.Protocol):
    """One client connection speaking HTTP/1.0 or 1.1."""

    # PERF: thousands of connections each hold one: slots keep it small (an idle keep-alive
    # connection costs the worker 4.4 KB rather than 5.8 KB, measured at 8,000 of them).
    __slots__ = (
        "_active",
        "_body_bytes",
        "_body_since",
        "_body_too_slow",
        "_cycle_class",
        "_deadline_kind",
        "_dispatching",
        "_error",
        "_lingering",
        "_proxy",
        "_queue",
        "_reading_paused",
        "_receiving",
        "_request_ids",
        "_root_path",
        "_trusted",
        "_upgrading",
        "_write_waiter",
        "client",
        "clock",
        "closed",
        "closing",
        "config",
        "deadline",
        "loop",
        "parser",
        "scheme",
        "server",
        "state",
        "transport",
        "writing_paused",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.config = state.config
        self.clock = state.clock
        self.loop = state.loop
        self.parser = RequestParser(self.config.limits)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self.closed = False  # the transport is gone
        self.closing = False  # answer what is in flight, then close
        self._lingering = -1  # bytes discarded while lingering; -1 when not lingering
        self.writing_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._queue: deque[Cycle] = deque()
        self._active: Cycle | None = None
        self._receiving: Cycle | None = None  # the cycle whose body is being parsed
        self._dispatching = False
        self._error: ProtocolError | None = None
        self.deadline = 0.0
        self._deadline_kind = NO_DEADLINE
        # The request body's rate is measured from here (see _start_body_window).
        self._body_since = 0.0
        self._body_bytes = 0
        self._body_too_slow = False  # the body deadline is the rate's, not the pause's
        self._cycle_class = self.config.adapter.cycle_class
        self._root_path = self.config.root_path
        self._proxy = self.config.proxy
        self._request_ids = self.config.request_ids
        self._trusted = False  # the peer is a trusted proxy: its X-Request-ID is taken
        self._upgrading = False  # a WebSocket handshake waits: what follows is not ours to read

    # asyncio callbacks.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = transport  # type: ignore[assignment]
        self.client = _address(transport.get_extra_info("peername"))
        self.server = _server_address(transport.get_extra_info("sockname"))
        self.scheme = scheme_of(transport)
        proxy = self._proxy
        self._trusted = proxy is not None and (self.client is None or proxy.trusts(self.client[0]))
        self.state.connections.add(self)
        self.state.accepted += 1
        if self.state.exhausted.is_set() or self.state.closing:
            # Accepted as the server began to stop: let the client retry elsewhere.
            self.closing = True
        self._set_deadline(HEAD_DEADLINE)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self._lingering >= 0:
            self._lingering += len(data)
            if self._lingering > LINGER_BYTES:
                self.transport.close()
            return
        for event in self.parser.feed(data):
            cls = event.__class__
            if cls is bytes:
                self._receiving.feed_body(event)  # type: ignore[union-attr, arg-type]
                self._body_bytes += len(event)  # type: ignore[arg-type]
            elif event is END_OF_MESSAGE:
                if self._receiving is not None:
                    self._receiving.end_body()
                    self._receiving = None
            elif cls is ParsedRequest:
                cycle = self._cycle_class(self, event)  # type: ignore[arg-type]
                # What the connection knows of the request (PERF: inline, once per request).
                head = cycle.head
                head.client = self.client
                head.server = self.server
                head.scheme = self.scheme
                head.root_path = self._root_path
                if self._proxy is not None:
                    self._proxy.apply(head)
                if self._request_ids is not None:
                    self._request_ids.assign(head, self._trusted)
                self._queue.append(cycle)
                self._receiving = None if cycle.body_complete else cycle
            elif cls is Upgraded:
                self._upgrade_requested(event)  # type: ignore[arg-type]
            else:
                self._protocol_error(event)  # type: ignore[arg-type]
        if self._active is None and not self._dispatching:
            self._dispatch()  # it also sets the deadline: a request runs, or we wait for one
        elif self._receiving is not None and self._receiving is self._active:
            if not self._reading_paused:  # paused, porch holds the body back, not the client
                self._set_deadline(BODY_DEADLINE)  # a body arriving in pieces may pause, not stop
        elif self._deadline_kind == BODY_DEADLINE:
            self._set_deadline(NO_DEADLINE)
        if len(self._queue) > MAX_PIPELINED:
            self._pause_reading()

    def eof_received(self) -> bool:
        # The client will send no more; answer what it has sent, then close.
        if self._lingering >= 0:
            return False  # the lingering close is done
        self.closing = True
        if self._active is None and not self._queue:
            return False  # the transport closes itself
        if self._receiving is not None:
            self._receiving.fail_body(ProtocolError(400, "Request body cut short"))
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.closing = True
        self.deadline = 0.0
        self.state.connections.discard(self)
        for cycle in (self._active, *self._queue):
            if cycle is not None:
                cycle.disconnected()
        waiter = self._write_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientDisconnected("client disconnected"))
            waiter.exception()  # nobody may be waiting: never "exception never retrieved"

    def pause_writing(self) -> None:
        # The client reads slower than porch answers. Until it catches up, nothing more is
        # read or started on this connection, so what it holds stays bounded; a client that
        # reads nothing at all is dropped at the send deadline.
        self.writing_paused = True
        self._pause_reading()
        if self._lingering < 0:
            self._set_deadline(SEND_DEADLINE)

    def resume_writing(self) -> None:
        self.writing_paused = False
        waiter = self._write_waiter
        if waiter is not None:
            self._write_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.closed or self._lingering >= 0 or self.transport.is_closing():
            return
        if self._deadline_kind == SEND_DEADLINE:
            self._set_deadline(NO_DEADLINE)
        resumed = self._resume_reading()
        if self._active is None:
            if not self._dispatching:
                self._dispatch()  # what waited for the client to catch up
        elif resumed and self._receiving is self._active:
            self._start_body_window()

    # What cycles call.

    async def wait_writable(self) -> None:
        """Wait until the transport's buffer drains below its low-water mark."""
        if self._write_waiter is None:
            self._write_waiter = self.loop.create_future()
        await self._write_waiter

    def pause_reading_for_body(self) -> None:
        """Too much request body is buffered: stop reading until it is consumed."""
        self._pause_reading()

    def body_consumed(self) -> None:
        """The application took the buffered body: read on if nothing else holds us."""
        receiving = self._receiving
        if self._resume_reading() and receiving is not None and receiving is self._active:
            self._start_body_window()

    def nothing_to_answer_next(self) -> bool:
        """Whether no request or error waits behind the response in flight."""
        return not self._queue and self._error is None

    def cycle_done(self, cycle: Cycle) -> None:
        """A response is complete: log it, then close or go on to the next request."""
        if cycle is not self._active:
            return
        self._active = None
        self.state.active_requests -= 1
        config = self.config
        if config.timed:
            self._record(cycle)
        if not cycle.keep_alive or self.closed:
            # The client may still be sending a body the application did not read.
            self._close(linger=not cycle.body_complete)
            return
        if self.writing_paused:
            return  # the client has yet to read this answer: resume_writing goes on
        if self._reading_paused:
            self.body_consumed()
        if self._dispatching:
            return
        if self._queue or self._error is not None or self.closing or self.parser.in_head:
            self._dispatch()
        else:
            # PERF: nothing waits behind the response (the usual case): wait for the next.
            self._deadline_kind = IDLE_DEADLINE
            self.deadline = self.clock.now + self.config.timeout_keep_alive

    def upgrade(self, cycle: Cycle, successor: Any) -> None:
        """The active request switched the connection to another protocol (a WebSocket):
        it is logged as answered, and the transport is `successor`'s from now on."""
        self._active = None
        self.state.active_requests -= 1
        if self.config.timed:
            self._record(cycle)
        self.closed = True  # nothing more on this transport is HTTP, or this protocol's
        self.deadline = 0.0
        self.state.connections.discard(self)

    # Internals.

    def _record(self, cycle: Cycle) -> None:
        """The access-log line and the metrics of an answered request."""
        config = self.config
        end = perf_counter()  # once, for both
        if config.access_log is not None:
            config.access_log.log(cycle, end)
        if config.metrics is not None:
            config.metrics.observe(cycle, end)

    def _upgrade_requested(self, event: Upgraded) -> None:
        """The request just parsed asks for a WebSocket; nothing after it is HTTP."""
        cycle = self._queue[-1]
        self._pause_reading()  # what follows is the WebSocket's to read, once accepted
        self._upgrading = True
        refusal = self.config.websocket_refusal
        if refusal is None:
            cycle.upgrade = event.data
            return
        self._queue.pop()
        self.state.refuse_websocket(refusal)
        self._protocol_error(ProtocolError(400, "WebSocket connections are not served here"))

    def _dispatch(self) -> None:
        """Run queued requests, in order, until one is in flight or none is left."""
        self._dispatching = True
        try:
            while self._active is None:
                if self.writing_paused:
                    return  # start nothing until the client reads (see pause_writing)
                if not self._queue:
                    if self._error is not None:
                        self._send_protocol_error(self._error)
                    elif self.closing:
                        self._close()
                    elif self.parser.in_head:
                        # A head has begun: it must end in time (slowloris), however it dribbles.
                        if self._deadline_kind != HEAD_DEADLINE:
                            self._set_deadline(HEAD_DEADLINE)
                    elif self._deadline_kind != IDLE_DEADLINE:
                        # PERF: _set_deadline(IDLE_DEADLINE) inline, once per request.
                        self._deadline_kind = IDLE_DEADLINE
                        self.deadline = self.clock.now + self.config.timeout_keep_alive
                    return
                cycle = self._active = self._queue.popleft()
                if self._receiving is cycle and not self._reading_paused:
                    self._start_body_window(cycle._buffered)  # what came with the head counts
                elif self._deadline_kind != NO_DEADLINE:
                    # No timeout while a request runs; a head arriving behind it waits its turn.
                    self._deadline_kind = NO_DEADLINE
                    self.deadline = 0.0
                state = self.state
                state.active_requests += 1
                config = self.config
                if config.max_requests is not None:
                    state.request_counted()
                if config.timed:
                    cycle.start_time = perf_counter()
                if cycle._body_error is not None:
                    cycle.reason = cycle._body_error.detail or ""
                    cycle.send_error(cycle._body_error.status, cycle._body_error.detail)
                    continue
                health = config.health_path
                if (
                    health is not None
                    and cycle.head.raw_path == health
                    and cycle.head.method in ("GET", "HEAD")
                ):
                    self._answer_health(cycle)
                    continue
                limit = config.limit_concurrency
                if limit is not None and state.active_requests > limit:
                    cycle.keep_alive = False
                    cycle.reason = "over --limit-concurrency"
                    cycle.send_error(503, "Server busy, try again later")
                    continue
                # Inline, unless the loop has run its share of requests inline since it last
                # reached its ready queue (ServerState.inline_left): then from the ready queue
                # (which copies the context, and so the request id), after the budget's renewal.
                run = config.adapter.run
                if config.runs_inline:
                    inline = state.inline_left
                    state.inline_left = inline - 1
                    if inline <= 0:
                        if inline == 0:
                            self.loop.call_soon(state.refill_inline)
                        run = self._run_later
                request_id = cycle.head.request_id
                if request_id:
                    # The tasks the application runs in copy this: its log records carry it.
                    token = REQUEST_ID.set(request_id)
                    try:
                        run(cycle)
                    finally:
                        REQUEST_ID.reset(token)
                else:
                    run(cycle)
        finally:
            self._dispatching = False

    def _run_later(self, cycle: Cycle) -> None:
        self.loop.call_soon(self.config.adapter.run, cycle)

    def _answer_health(self, cycle: Cycle) -> None:
        """--health-path: the server answers for itself, the application is not asked. Before
        the listener closes at shutdown, a load balancer learns to send nothing more."""
        cycle.head.route = cycle.head.raw_path.decode("latin-1")  # the metrics' label
        if self.state.closing:
            cycle.keep_alive = False
            cycle.reason = "shutting down"
            cycle.respond(503, HEALTH_HEADERS, b"shutting down\n")
        else:
            cycle.respond(200, HEALTH_HEADERS, b"ok\n")

    def _protocol_error(self, error: ProtocolError) -> None:
        """The parser gave up on the bytes: answer in turn and close."""
        self.closing = True
        receiving = self._receiving
        if receiving is not None:
            # The error broke off a request body; that request gets the answer.
            self._receiving = None
            receiving.fail_body(error)
            if receiving is self._active:
                receiving.keep_alive = False
                receiving.reason = error.detail or ""
                receiving.send_error(error.status, error.detail)
            return
        self._error = error

    def _send_protocol_error(self, error: HTTPError) -> None:
        self._error = None
        body = f"{error}\n".encode()  # "431 Request header fields too large"
        head, *_ = encode_response_head(
            error.status,
            [(b"content-type", b"text/plain; charset=utf-8")],
            method="GET",
            http_version="1.1",
            keep_alive=False,
            body_length=len(body),
            extra=self.clock.header_lines,
        )
        if not self.closed:
            self.transport.write(head + body)
            config = self.config
            if config.access_log is not None:
                # No request was whole: the line says what the server refused, and why.
                config.access_log.refused(self.client, error.status, len(body), error.detail or "")
            if config.metrics is not None:
                config.metrics.refused(error.status)
        self._close(linger=True)

    def _close(self, linger: bool = False) -> None:
        self.closing = True
        self.deadline = 0.0
        # Requests queued behind are never answered; nothing may run or write after this.
        self._queue.clear()
        self._receiving = None
        self._error = None
        if self.closed or self._lingering >= 0 or self.transport.is_closing():
            return
        if linger and self.transport.can_write_eof():
            # The client may still be sending: closing with unread bytes would reset the
            # connection, and the client could lose the answer. Send FIN, then read and
            # discard for a while (a "lingering close").
            self.transport.write_eof()
            self._lingering = 0
            self._set_deadline(LINGER_DEADLINE)
            if self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()
            return
        self._close_transport()

    def _close_transport(self) -> None:
        self.transport.close()
        if self.transport.get_write_buffer_size():
            # The transport sends what it holds before it closes: a client that never reads
            # would keep it, and this connection, for ever.
            self._set_deadline(FLUSH_DEADLINE)

    def _close_idle(self) -> None:
        """Close a connection with nothing in flight."""
        self._close()
        if self.state.closing and self.scheme == "https":
            # Closing TLS waits for the client's close_notify (up to 30 s), which an idle
            # pooled client may never send: a stopping server need not wait for it.
            self.state.connections.discard(self)

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()
            if self._deadline_kind == BODY_DEADLINE:
                self._set_deadline(NO_DEADLINE)  # porch holds the body back, not the client

    def _resume_reading(self) -> bool:
        """Read again if nothing holds reading back any more; whether it resumed."""
        if (
            not self._reading_paused
            or self.writing_paused
            or self._upgrading
            or len(self._queue) > MAX_PIPELINED
        ):
            return False
        receiving = self._receiving
        if receiving is not None and receiving._buffered > BODY_HIGH_WATER:
            return False
        self._reading_paused = False
        if not self.closed:
            self.transport.resume_reading()
        return True

    def _start_body_window(self, received: int = 0) -> None:
        """The body of the active request is read from now (`received` bytes of it already
        there): its rate is measured from here."""
        self._body_since = self.clock.now
        self._body_bytes = received
        self._set_deadline(BODY_DEADLINE)

    def _set_deadline(self, kind: int) -> None:
        self._deadline_kind = kind
        config = self.config
        if kind == HEAD_DEADLINE:
            self.deadline = self.clock.now + config.timeout_request_header
        elif kind == IDLE_DEADLINE:
            self.deadline = self.clock.now + config.timeout_keep_alive
        elif kind == BODY_DEADLINE:
            deadline = self.clock.now + config.timeout_request_body
            rate = config.min_request_body_rate
            # As Kestrel's MinRequestBodyDataRate: after the grace period, the body must come
            # at `rate` bytes/s on average, or one byte a minute would hold the connection.
            by_rate = (
                self._body_since + config.min_request_body_rate_grace + self._body_bytes / rate
                if rate
                else deadline
            )
            self._body_too_slow = by_rate < deadline
            self.deadline = by_rate if self._body_too_slow else deadline
        elif kind == LINGER_DEADLINE:
            self.deadline = self.clock.now + LINGER_TIME
        elif kind in (SEND_DEADLINE, FLUSH_DEADLINE):
            self.deadline = self.clock.now + config.timeout_send
        else:
            self.deadline = 0.0

    def deadline_passed(self) -> None:
        """The ticker found this connection past its deadline."""
        kind = self._deadline_kind
        if kind == HEAD_DEADLINE and self.parser.in_head:
            # A head begun and not finished in time (slowloris): say so, then close.
            self.closing = True
            self._send_protocol_error(ProtocolError(408, "Request header timeout"))
        elif kind == BODY_DEADLINE and self._receiving is not None:
            # A body that stopped coming, or that trickles (slow-body slowloris): 408.
            detail = "Request body too slow" if self._body_too_slow else "Request body timeout"
            self._set_deadline(NO_DEADLINE)
            self.parser.stop()
            self._protocol_error(ProtocolError(408, detail))
        elif kind == LINGER_DEADLINE:
            self._set_deadline(NO_DEADLINE)
            self._close_transport()
        elif kind in (SEND_DEADLINE, FLUSH_DEADLINE):
            # The client has read nothing for timeout_send: drop it, and what it never took.
            self._set_deadline(NO_DEADLINE)
            self.transport.abort()
        else:
            self._close_idle()

    def abort(self) -> None:
        """Drop the connection now, cancelling the request in flight."""
        active = self._active
        if active is not None and active.task is not None:
            active.task.cancel()
        if not self.closed:
            self.transport.abort()

    def shutdown(self) -> None:
        """Stop after the request in flight; an idle connection closes within a moment.

        A keep-alive client may be sending its next request right now: closing at once would
        lose it. It gets SHUTDOWN_GRACE seconds, and its request is answered with
        `Connection: close`; a connection idle for longer than that already is closed now.
        """
        self.closing = True
        if self._active is not None or self._queue:
            return
        if self.writing_paused:
            self._close()  # the last answer goes out as the client reads it, until timeout_send
            return
        if self._deadline_kind == IDLE_DEADLINE:
            idle_since = self.deadline - self.config.timeout_keep_alive
            if self.clock.now - idle_since >= SHUTDOWN_GRACE:
                self._close_idle()
                return
        grace = self.clock.now + SHUTDOWN_GRACE
        if not self.deadline or self.deadline > grace:
            self.deadline = grace


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


def _server_address(value: Any) -> tuple[str, int | None] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    if isinstance(value, str) and value:
        return (value, None)  # a unix socket's path
    return None
