"""One server process: sockets, the event loop, startup, signals and graceful shutdown.

A graceful shutdown (SIGTERM, SIGINT, SIGHUP, or --max-requests reached) goes:
1. stop accepting, accept what already waits in the listen queues, close the sockets;
2. let requests in flight finish (up to --timeout-graceful-shutdown), while idle keep-alive
   connections close (`HTTPProtocol.shutdown`); past the timeout, cut what is left;
3. run the application's shutdown (ASGI lifespan);
4. in a process of its own (`exit_deadline`), exit by SHUTDOWN_EXIT_GRACE after the graceful
   timeout whatever still runs, without waiting for threads of requests that were cut.
"""

import asyncio
import logging
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from porch.server.accept import TLS, Acceptor
from porch.server.adapters import LifespanFailure
from porch.server.collector import tune_garbage_collector
from porch.server.loader import AppLoadError, load_app, make_adapter
from porch.server.protocol import HTTPProtocol
from porch.server.settings import Settings
from porch.server.state import ConnectionConfig, ServerState
from porch.server.tls import make_ssl_context
from porch.version import __version__

if TYPE_CHECKING:
    from porch.server.metrics import Metrics

logger = logging.getLogger("porch.error")

# Exit statuses: the application could not start (import, factory or lifespan failure).
EXIT_STARTUP_FAILED = 3
# The shutdown did not end in time (threads still running cut WSGI requests, a stuck lifespan).
EXIT_SHUTDOWN_STUCK = 1
# Past --timeout-graceful-shutdown, how long the application's own shutdown may still take
# before a server process exits regardless.
SHUTDOWN_EXIT_GRACE = 5.0


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
            sock = _bound_tcp_socket(settings.host, settings.port)
        sock.listen(settings.backlog)
    except OSError as exc:
        if settings.fd is not None:
            where = f"descriptor {settings.fd}"
        else:
            where = settings.uds or f"{settings.host}:{settings.port}"
        raise ConfigError(f"Could not listen on {where}: {exc.strerror or exc}") from None
    return _shared(sock)


def bind_metrics_socket(settings: Settings) -> socket.socket:
    """The listening socket of --metrics-port; ConfigError if it cannot be had."""
    assert settings.metrics_port is not None
    host = settings.metrics_host or settings.host
    try:
        sock = _bound_tcp_socket(host, settings.metrics_port)
        sock.listen(128)
    except OSError as exc:
        raise ConfigError(
            f"Could not listen on {host}:{settings.metrics_port} for --metrics-port: "
            f"{exc.strerror or exc}"
        ) from None
    return _shared(sock)


def _bound_tcp_socket(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _shared(sock: socket.socket) -> socket.socket:
    """A listening socket as the event loop and forked workers take it."""
    sock.setblocking(False)
    sock.set_inheritable(True)
    return sock


# How the startup line names the interface an application is served through.
INTERFACES = {"ASGIAdapter": "ASGI", "WSGIAdapter": "WSGI", "NativeAdapter": "native"}


def banner(settings: Settings, url: str, *details: str) -> str:
    """The startup line: porch's version, the address (bright on a terminal), how it serves
    and where the access log goes."""
    if not settings.access_log:
        access = "no access log"
    elif settings.access_log_path == "-":
        access = "access log to stdout"
    else:
        access = f"access log to {settings.access_log_path}"
    if settings.log_format == "text" and sys.stderr.isatty() and "NO_COLOR" not in os.environ:
        url = f"\x1b[1;36m{url}\x1b[0m"
    return f"Porch {__version__} listening on {url} ({', '.join([*filter(None, details), access])})"


def metrics_detail(sock: socket.socket | None) -> str:
    """The startup line's word on --metrics-port ("" without it)."""
    return f"metrics at {describe_socket(sock, False)}/metrics" if sock is not None else ""


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
        self._force = False  # a second signal: skip the graceful wait
        self.state: ServerState | None = None
        # A worker's supervisor: when it is gone, the worker stops too.
        self.parent_pid: int | None = None
        # The signals that stop the server; one of them again skips the graceful wait. A worker
        # leaves SIGINT and SIGHUP to its supervisor, and hears "now" only as SIGQUIT: it may
        # get SIGTERM twice (from systemd, say, and from the supervisor) and must stay graceful.
        self.stop_signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        self.force_signals: tuple[int, ...] = ()
        self.repeat_forces = True
        # This server is its process: once stopping, the process ends by the deadline even if
        # threads it cannot stop (WSGI requests that were cut) or the app's shutdown hang.
        self.exit_deadline = False
        # --metrics-port's socket (bound here unless given) and, in a worker, the folder where
        # the workers' figures meet (porch.server.metrics).
        self.metrics_socket: socket.socket | None = None
        self.metrics_directory: str | None = None
        self._own_metrics_socket = False

    def run(self, sockets: list[socket.socket]) -> int:
        """Run the event loop until the server stops; the process's exit status."""
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            status = runner.run(self.serve(sockets))
        if self.exit_deadline:
            _exit_without_stuck_threads(status)
        return status

    def stop(self) -> None:
        """Begin a graceful shutdown (from the loop's thread)."""
        if self._exit is not None:
            self._exit.set()

    def _on_stop_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        stopping = self._exit is not None and self._exit.is_set()
        if signum in self.force_signals or (stopping and self.repeat_forces):
            logger.warning("%s: closing every connection now", name)
            self._force = True
            self.stop()
            return
        if stopping:
            return
        if signum == signal.SIGHUP:
            logger.info("Shutting down (SIGHUP; to reload without stopping, use --workers)")
        else:
            logger.info("Shutting down (%s)", name)
        self.stop()

    def stop_threadsafe(self) -> None:
        """Begin a graceful shutdown from any thread."""
        loop = self.state.loop if self.state is not None else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.stop)

    async def serve(self, sockets: list[socket.socket]) -> int:
        """Start, serve until a signal (or --max-requests), shut down gracefully."""
        loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        # Signals are handled from the start: one that comes while the application starts
        # stops the server as soon as it has started.
        signals = (*self.stop_signals, *self.force_signals)
        if threading.current_thread() is not threading.main_thread():
            signals = ()
        for signum in signals:
            loop.add_signal_handler(signum, self._on_stop_signal, signum)
        if signals:
            loop.add_signal_handler(signal.SIGUSR1, self._reopen_logs)
        try:
            return await self._serve(sockets, loop)
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            if signals:
                loop.remove_signal_handler(signal.SIGUSR1)
            config = self.state.config if self.state is not None else None
            if config is not None and config.access_log is not None:
                config.access_log.close()  # what is still buffered, then the file
            if config is not None and config.metrics is not None:
                config.metrics.close()  # a worker's last figures

    def _reopen_logs(self) -> None:
        """SIGUSR1 (logrotate moved the log file): open the access log's path again."""
        access_log = self.state.config.access_log if self.state is not None else None
        if access_log is not None:
            access_log.reopen()
            logger.info("Reopened the access log (SIGUSR1)")

    async def _serve(self, sockets: list[socket.socket], loop: asyncio.AbstractEventLoop) -> int:
        settings = self.settings
        assert self._exit is not None
        try:
            app = self.app if self.app is not None else load_app(settings)
            adapter = make_adapter(app, settings, loop)
        except AppLoadError as exc:
            logger.error("%s", exc)
            return EXIT_STARTUP_FAILED
        if settings.metrics_port is not None and self.metrics_socket is None:
            try:
                self.metrics_socket = bind_metrics_socket(settings)
                self._own_metrics_socket = True
            except ConfigError as exc:
                logger.error("%s", exc)
                return EXIT_STARTUP_FAILED
        config = ConnectionConfig.from_settings(settings, adapter, self.metrics_directory)
        state = self.state = ServerState(config, loop)
        try:
            await adapter.startup()
        except LifespanFailure as exc:
            logger.error("Application startup failed: %s", exc)
            return EXIT_STARTUP_FAILED
        if self._exit.is_set():  # stopped while starting: never listen
            await self._application_shutdown(adapter)
            return 0
        if self.exit_deadline:  # this server is its process: its collector is ours to tune
            state.tunes_collector = tune_garbage_collector()
        ssl_context = make_ssl_context(settings)
        # A TLS handshake is part of the request head: it must end within the header timeout,
        # or a client that never finishes one would hold the connection for asyncio's 60 s.
        tls = TLS(ssl_context, settings.timeout_request_header if ssl_context else None)
        shared_with = state.connections if settings.workers > 1 else None
        acceptors = [
            Acceptor(sock, lambda: HTTPProtocol(state), tls, loop, settings.backlog, shared_with)
            for sock in sockets
        ]
        for acceptor in acceptors:
            acceptor.start()
        state.start_ticker()
        metrics_page = None
        if config.metrics is not None:
            config.metrics.start(state)
            metrics_page = self._serve_metrics(config.metrics, loop)
        if self.announce:
            interface = INTERFACES.get(type(adapter).__name__, "")
            for sock in sockets:
                url = describe_socket(sock, ssl_context is not None)
                details = (interface, metrics_detail(self.metrics_socket))
                logger.info("%s", banner(settings, url, *details))
        if self.on_ready is not None:
            self.on_ready()
        if self.parent_pid is not None:
            self._watch_parent(loop)
        exhausted = loop.create_task(state.exhausted.wait())
        stopped = loop.create_task(self._exit.wait())
        await asyncio.wait([exhausted, stopped], return_when=asyncio.FIRST_COMPLETED)
        exhausted.cancel()
        stopped.cancel()
        if state.exhausted.is_set() and not self._exit.is_set():
            logger.info("Reached --max-requests (%d); restarting", state.total_requests)
        await self._shutdown(acceptors, state)
        if metrics_page is not None:
            self._stop_metrics(*metrics_page)
        await self._application_shutdown(adapter)
        state.stop_ticker()
        return 0

    def _serve_metrics(
        self, metrics: "Metrics", loop: asyncio.AbstractEventLoop
    ) -> tuple[Acceptor, ServerState]:
        """Answer /metrics on --metrics-port: porch's own protocol (limits and timeouts
        included) serving a page of its own, neither logged nor counted."""
        from porch.server.metrics import MetricsPage
        from porch.server.native import NativeAdapter

        assert self.metrics_socket is not None
        adapter = NativeAdapter(MetricsPage(metrics), loop)
        state = ServerState(ConnectionConfig(adapter), loop)
        state.start_ticker()
        acceptor = Acceptor(
            self.metrics_socket, lambda: HTTPProtocol(state), TLS(None, None), loop, 128
        )
        acceptor.start()
        return acceptor, state

    def _stop_metrics(self, acceptor: Acceptor, state: ServerState) -> None:
        """After the drain: the metrics page closes last (other workers go on answering it)."""
        acceptor.stop()
        for connection in list(state.connections):
            connection.abort()
        state.stop_ticker()
        if self._own_metrics_socket and self.metrics_socket is not None:
            self.metrics_socket.close()

    def _watch_parent(self, loop: asyncio.AbstractEventLoop) -> None:
        if os.getppid() != self.parent_pid:
            logger.warning("The supervisor is gone; stopping")
            self.stop()
            return
        loop.call_later(1.0, self._watch_parent, loop)

    async def _shutdown(self, acceptors: Sequence[Acceptor], state: ServerState) -> None:
        """Stop listening, let requests in flight finish, close every connection."""
        loop = asyncio.get_running_loop()
        if self.exit_deadline:
            _arm_exit_deadline(self.settings.timeout_graceful_shutdown + SHUTDOWN_EXIT_GRACE)
        state.closing = True
        for acceptor in acceptors:
            acceptor.stop()  # other workers go on accepting on the socket
        # What waits in the listen queues is accepted and answered, not reset.
        await asyncio.gather(*(acceptor.accept_queued() for acceptor in acceptors))
        told: set[Any] = set()  # connections told to stop (HTTP, WebSocket)
        deadline = loop.time() + self.settings.timeout_graceful_shutdown
        while state.connections and loop.time() < deadline and not self._force:
            for connection in state.connections - told:
                connection.shutdown()  # idle ones close; busy ones close after their response
                told.add(connection)
            await asyncio.sleep(0.02)
        if state.connections:
            logger.warning(
                "Graceful shutdown timed out; closing %d connection(s)", len(state.connections)
            )
            for connection in list(state.connections):
                connection.abort()

    async def _application_shutdown(self, adapter: Any) -> None:
        try:
            await adapter.shutdown()
        except Exception:
            logger.exception("Application shutdown failed")


def _arm_exit_deadline(delay: float) -> None:
    """End the process after `delay` seconds, whatever is still running by then."""

    def exit_now() -> None:
        logger.error(
            "Shutdown did not finish within %gs (a request thread or the application's "
            "shutdown is stuck); exiting",
            delay,
        )
        logging.shutdown()
        os._exit(EXIT_SHUTDOWN_STUCK)

    timer = threading.Timer(delay, exit_now)
    timer.daemon = True
    timer.start()


# The names of the threads that run requests: the WSGI pool's, and porch.App's for `def` handlers.
REQUEST_THREADS = ("porch-wsgi", "porch-app")


def _exit_without_stuck_threads(status: int) -> None:
    """Exit now if threads that nothing will stop (WSGI requests that were cut) remain."""
    deadline = time.monotonic() + 0.5
    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t for t in threading.enumerate() if t.is_alive() and not t.daemon]
    stuck = [t for t in stuck if t is not threading.current_thread()]
    if stuck:
        # Porch's own pools' threads still alive are running requests (idle ones ended in the
        # join above); the application's own threads (a pool of its own, idle) are no request.
        requests = [t for t in stuck if t.name.startswith(REQUEST_THREADS)]
        if requests:
            logger.warning(
                "%d request thread(s) still running; exiting without them", len(requests)
            )
        else:
            logger.debug("Exiting without %d thread(s) the application left running", len(stuck))
        logging.shutdown()
        os._exit(status)
