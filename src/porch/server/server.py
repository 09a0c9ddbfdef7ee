"""One server process: sockets, the event loop, startup, signals and graceful shutdown."""

import asyncio
import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable
from typing import Any

from porch.server.accesslog import AccessLog
from porch.server.adapters import LifespanFailure
from porch.server.h1 import Limits
from porch.server.loader import AppLoadError, load_app, make_adapter
from porch.server.protocol import HTTPProtocol
from porch.server.proxy import ProxyHeaders
from porch.server.settings import Settings
from porch.server.state import ConnectionConfig, ServerState
from porch.server.tls import make_ssl_context

logger = logging.getLogger("porch.error")

# Exit statuses: the application could not start (import, factory or lifespan failure).
EXIT_STARTUP_FAILED = 3


class ConfigError(Exception):
    """A setting that cannot work (a bad address, a missing certificate): one line for the user."""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def bind_socket(settings: Settings) -> socket.socket:
    """The listening socket the settings ask for; ConfigError if it cannot be had."""
    try:
        if settings.fd is not None:
            sock = socket.socket(fileno=settings.fd)
        elif settings.uds:
            path = settings.uds
            if os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)  # a stale socket from an earlier run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            os.chmod(path, 0o666)
        else:
            infos = socket.getaddrinfo(
                settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                sock.close()
                raise
        sock.listen(settings.backlog)
    except OSError as exc:
        where = settings.uds or f"{settings.host}:{settings.port}"
        raise ConfigError(f"Could not listen on {where}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


def describe_socket(sock: socket.socket, tls: bool) -> str:
    """The URL (or path) a listening socket serves."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}"
    host, port = address[0], address[1]
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


class Server:
    """Serves one application on already-bound sockets until told to stop."""

    def __init__(self, settings: Settings, app: Any = None) -> None:
        self.settings = settings
        self.app = app  # None: load settings.app in this process
        self.on_ready: Callable[[], None] | None = None
        self.announce = True  # log where it listens (the supervisor does it for workers)
        self._exit: asyncio.Event | None = None
        self.state: ServerState | None = None
        # A worker's supervisor: when it is gone, the worker stops too.
        self.parent_pid: int | None = None

    def run(self, sockets: list[socket.socket]) -> int:
        """Run the event loop until the server stops; the process's exit status."""
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            return runner.run(self.serve(sockets))

    def stop(self) -> None:
        """Begin a graceful shutdown (from the loop's thread)."""
        if self._exit is not None:
            self._exit.set()

    def stop_threadsafe(self) -> None:
        """Begin a graceful shutdown from any thread."""
        loop = self.state.loop if self.state is not None else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.stop)

    async def serve(self, sockets: list[socket.socket]) -> int:
        """Start, serve until a signal (or --max-requests), shut down gracefully."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        try:
            app = self.app if self.app is not None else load_app(settings)
            adapter = make_adapter(app, settings, loop)
        except AppLoadError as exc:
            logger.error("%s", exc)
            return EXIT_STARTUP_FAILED
        config = ConnectionConfig(
            adapter=adapter,
            limits=Limits(
                settings.limit_request_line,
                settings.limit_request_headers,
                settings.limit_request_header_size,
                settings.limit_request_body,
            ),
            timeout_keep_alive=settings.timeout_keep_alive,
            timeout_request_header=settings.timeout_request_header,
            limit_concurrency=settings.limit_concurrency,
            max_requests=settings.max_requests,
            root_path=settings.root_path.rstrip("/"),
            access_log=AccessLog() if settings.access_log else None,
            proxy=ProxyHeaders(settings.forwarded_allow_ips) if settings.proxy_headers else None,
            server_header=settings.server_header,
        )
        state = self.state = ServerState(config, loop)
        try:
            await adapter.startup()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            return EXIT_STARTUP_FAILED
        ssl_context = make_ssl_context(settings)
        servers = [
            await loop.create_server(
                lambda: HTTPProtocol(state), sock=sock, ssl=ssl_context, backlog=settings.backlog
            )
            for sock in sockets
        ]
        state.start_ticker()
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self.stop)
        if self.announce:
            for sock in sockets:
                logger.info("Porch listening on %s", describe_socket(sock, ssl_context is not None))
        if self.on_ready is not None:
            self.on_ready()
        if self.parent_pid is not None:
            self._watch_parent(loop)
        exhausted = loop.create_task(state.exhausted.wait())
        stopped = loop.create_task(self._exit.wait())
        await asyncio.wait([exhausted, stopped], return_when=asyncio.FIRST_COMPLETED)
        exhausted.cancel()
        stopped.cancel()
        if state.exhausted.is_set():
            logger.info("Reached --max-requests (%d); restarting", state.total_requests)
        await self._shutdown(servers, state, adapter)
        if in_main_thread:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        return 0

    def _watch_parent(self, loop: asyncio.AbstractEventLoop) -> None:
        if os.getppid() != self.parent_pid:
            logger.warning("The supervisor is gone; stopping")
            self.stop()
            return
        loop.call_later(1.0, self._watch_parent, loop)

    async def _shutdown(
        self, servers: list[asyncio.AbstractServer], state: ServerState, adapter: Any
    ) -> None:
        loop = asyncio.get_running_loop()
        state.closing = True
        for server in servers:
            server.close()  # stop accepting; other workers go on accepting on the socket
        for connection in list(state.connections):
            connection.shutdown()
        deadline = loop.time() + self.settings.timeout_graceful_shutdown
        while state.connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if state.connections:
            logger.warning(
                "Graceful shutdown timed out; closing %d connection(s)", len(state.connections)
            )
            for connection in list(state.connections):
                connection.abort()
        try:
            await adapter.shutdown()
        except Exception:
            logger.exception("Application shutdown failed")
        state.stop_ticker()
