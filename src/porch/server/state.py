"""What the connections of one server share: configuration, counters and a coarse clock."""

import asyncio
import dataclasses
import gc
import logging
from typing import TYPE_CHECKING, Any

from porch.http.dates import DateHeader
from porch.server.collector import POLL_BATCH, young_generation
from porch.server.h1 import Limits
from porch.server.settings import default_of

if TYPE_CHECKING:
    from porch.server.accesslog import AccessLog
    from porch.server.adapters import Adapter
    from porch.server.metrics import Metrics
    from porch.server.protocol import HTTPProtocol
    from porch.server.proxy import ProxyHeaders
    from porch.server.requestid import RequestIds
    from porch.server.settings import Settings
    from porch.server.websocket import WebSocket, WebSocketConfig

logger = logging.getLogger("porch.error")

SERVER_LINE = b"server: porch\r\n"
# Why a WebSocket handshake is refused by an adapter that does not say (its `websocket_refusal`).
UNKNOWN_REFUSAL = "the application's interface cannot take WebSocket connections"
# How often deadlines are checked and the Date header renewed, in seconds.
TICK = 0.25


class Clock:
    """The loop's time and the Date/Server header lines, renewed each tick."""

    __slots__ = ("_date", "_server_line", "header_lines", "now")

    def __init__(self, server_header: bool = True) -> None:
        self._date = DateHeader()
        self._server_line = SERVER_LINE if server_header else b""
        self.now = 0.0
        self.header_lines = b""

    def update(self, now: float) -> None:
        """Renew the clock; `now` is the loop's monotonic time."""
        self.now = now
        # PERF: the Date and Server lines are encoded once per tick, not per response.
        self.header_lines = self._server_line + self._date.line()


@dataclasses.dataclass
class ConnectionConfig:
    """What every connection of a server needs to know, decided once at start."""

    adapter: "Adapter"
    limits: Limits = dataclasses.field(default_factory=Limits)
    # The settings' defaults (porch.server.settings), for a config made without settings.
    timeout_keep_alive: float = default_of("timeout_keep_alive")
    timeout_request_header: float = default_of("timeout_request_header")
    timeout_request_body: float = default_of("timeout_request_body")
    timeout_send: float = default_of("timeout_send")
    min_request_body_rate: float = default_of("min_request_body_rate")  # bytes/s; 0: none
    min_request_body_rate_grace: float = default_of("min_request_body_rate_grace")
    limit_concurrency: int | None = default_of("limit_concurrency")
    max_requests: int | None = default_of("max_requests")
    root_path: str = default_of("root_path")
    access_log: "AccessLog | None" = None
    health_path: bytes | None = None  # answered by the server itself (--health-path)
    request_ids: "RequestIds | None" = None
    proxy: "ProxyHeaders | None" = None
    server_header: bool = default_of("server_header")
    metrics: "Metrics | None" = None  # --metrics-port
    # WebSocket handshakes: how they are served, or why they are refused (--ws none, or an
    # interface without WebSockets). Left out, both follow from the adapter.
    websocket: "WebSocketConfig | None" = None
    websocket_refusal: str | None = None
    # Whether a request's duration is measured (for the access log or the metrics).
    timed: bool = dataclasses.field(init=False)
    # Whether the adapter runs requests in the callback that read them (ServerState.inline_left).
    runs_inline: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.timed = self.access_log is not None or self.metrics is not None
        self.runs_inline = getattr(self.adapter, "runs_inline", False)
        if self.websocket_refusal is None:
            refusal = getattr(self.adapter, "websocket_refusal", UNKNOWN_REFUSAL)
            if refusal is not None:
                self.websocket, self.websocket_refusal = None, refusal
            elif self.websocket is None:
                from porch.server.websocket import WebSocketConfig

                self.websocket = WebSocketConfig()

    @classmethod
    def from_settings(
        cls, settings: "Settings", adapter: "Adapter", metrics_directory: str | None = None
    ) -> "ConnectionConfig":
        """The connection configuration the settings describe (a worker's metrics written to
        `metrics_directory`)."""
        from porch.server.accesslog import AccessLog, LogFile
        from porch.server.proxy import ProxyHeaders
        from porch.server.requestid import RequestIds
        from porch.server.websocket import WebSocketConfig

        metrics = None
        if settings.metrics_port is not None:
            from porch.server.metrics import Metrics

            metrics = Metrics(metrics_directory)
        return cls(
            adapter=adapter,
            limits=Limits(
                settings.limit_request_line,
                settings.limit_request_headers,
                settings.limit_request_header_size,
                settings.limit_request_body,
            ),
            timeout_keep_alive=settings.timeout_keep_alive,
            timeout_request_header=settings.timeout_request_header,
            timeout_request_body=settings.timeout_request_body,
            timeout_send=settings.timeout_send,
            min_request_body_rate=settings.min_request_body_rate,
            min_request_body_rate_grace=settings.min_request_body_rate_grace,
            limit_concurrency=settings.limit_concurrency,
            max_requests=settings.max_requests,
            root_path=settings.root_path.rstrip("/"),
            access_log=(
                AccessLog(settings.access_log_format, LogFile(settings.access_log_path))
                if settings.access_log
                else None
            ),
            proxy=ProxyHeaders(settings.forwarded_allow_ips) if settings.proxy_headers else None,
            health_path=settings.health_path.encode() if settings.health_path else None,
            request_ids=RequestIds() if settings.request_id else None,
            server_header=settings.server_header,
            metrics=metrics,
            websocket=WebSocketConfig.from_settings(settings) if settings.ws != "none" else None,
            websocket_refusal="--ws none was given" if settings.ws == "none" else None,
        )


# Requests a loop may start inside its socket callbacks before it runs its ready queue and
# timers again (see ServerState.inline_left): one poll's worth (collector.POLL_BATCH).
INLINE_BUDGET = POLL_BATCH


class ServerState:
    """Live state shared by the connections of one server (one worker process)."""

    def __init__(self, config: ConnectionConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.clock = Clock(config.server_header)
        self.clock.update(loop.time())
        # Open connections: HTTP, and WebSockets once their handshake is over.
        self.connections: set[HTTPProtocol | WebSocket] = set()
        self._websocket_refused = False
        self.active_requests = 0
        self.total_requests = 0
        self.accepted = 0  # connections, ever
        self.closing = False  # a graceful shutdown has begun
        # Set when --max-requests is reached: the server drains and exits.
        self.exhausted = asyncio.Event()
        self._ticker: asyncio.TimerHandle | None = None
        # Whether the ticker sizes the garbage collector's young generation to the connections
        # open (porch.server.collector; a serving process whose application did not).
        self.tunes_collector = False
        self._young = 0
        # PERF: fairness. porch runs a request in the callback that read it (a native handler
        # that needs no wait answers there, no task). But libuv goes on polling, up to 48
        # batches of 1,024 ready sockets, before the loop runs its ready queue and timers:
        # at 5,000 busy connections, answering inline kept the socket callbacks busy for
        # 1.2-1.4 s at a time, and every task (a handler that waits, a new connection's set
        # up) and timer (the clock, the deadlines) waited that long (p99 1.1 s). So once
        # INLINE_BUDGET requests have run inline, the next ones start from the ready queue,
        # and the first of them schedules the budget's renewal there: the loop reaches it
        # within one poll's worth of answers. Renewed only once spent, as a callback at every
        # turn would keep the loop from waiting in its poll, which then returns fewer sockets
        # at a time (measured: -25% requests/s at 1,000 connections). Only for an adapter
        # that runs requests inline (ConnectionConfig.runs_inline): ASGI's tasks on Python
        # 3.11 already start from the ready queue, and WSGI's requests in the pool's threads.
        self.inline_left = INLINE_BUDGET

    def start_ticker(self) -> None:
        """Start renewing the clock and checking connection deadlines."""
        self._tick()

    def stop_ticker(self) -> None:
        """Stop the ticker."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _tick(self) -> None:
        now = self.loop.time()
        self.clock.update(now)
        for connection in list(self.connections):
            deadline = connection.deadline
            if deadline and now >= deadline:
                connection.deadline_passed()
        if self.tunes_collector:
            young = young_generation(len(self.connections))
            if young != self._young:
                self._young = young
                gc.set_threshold(young, *gc.get_threshold()[1:])
        self._ticker = self.loop.call_at(now + TICK, self._tick)

    def refill_inline(self) -> None:
        """The loop has reached its ready queue: requests may run inline again."""
        self.inline_left = INLINE_BUDGET

    def refuse_websocket(self, reason: str) -> None:
        """A WebSocket handshake is answered 400: say why, once per worker."""
        if not self._websocket_refused:
            self._websocket_refused = True
            logger.warning("Refusing WebSocket handshakes (400): %s", reason)

    def request_counted(self) -> None:
        """Count a request towards --max-requests."""
        self.total_requests += 1
        limit = self.config.max_requests
        if limit is not None and self.total_requests >= limit and not self.exhausted.is_set():
            self.exhausted.set()
            # Responses from now on say `Connection: close`, before the server gets to stop.
            for connection in self.connections:
                connection.closing = True


def scheme_of(transport: Any) -> str:
    """'https' on a TLS transport, else 'http'."""
    return "https" if transport.get_extra_info("sslcontext") is not None else "http"
