"""Accepting connections on a listening socket: every connection that waits, each time the
socket is readable.

PERF: this replaces the event loop's own `create_server`. uvloop's (libuv's) accepts one
connection each time the loop reports the listening socket readable, and a loop busy with
thousands of connections polls at most 1,024 ready sockets at a time: the listening socket is
reported once per pass over them all. Measured on one core with 5,000 busy keep-alive
connections, a reconnecting burst left 1,500 connections in the listen queue for the whole
run, accepted at about 15 a second, their clients timing out unanswered (a bare uvloop echo
server does the same once its requests cost what a real app's do). Taking all that wait, up
to the backlog, as asyncio's own loop does, empties the queue at each pass.

Several workers share one listening socket, and the kernel wakes them all when a connection
waits: the first awake would take a whole burst (8 connections arriving together all went to
one of 4 workers). So where workers share the socket, each takes at a readiness one
connection more for every `SHARE` it holds open: an idle worker takes one at a time and the
others get their turn, while a worker busy with thousands still empties the queue in a pass.
"""

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Sized
from typing import NamedTuple

logger = logging.getLogger("porch.error")

# Out of descriptors or kernel memory: the connections wait in the listen queue (nothing is
# lost) while the worker pauses accepting this long, as nginx does, instead of spinning.
ACCEPT_PAUSE = 0.5
OUT_OF_RESOURCES = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
# Where workers share the socket: one more connection taken at a readiness for this many open.
SHARE = 16


class TLS(NamedTuple):
    """How connections are accepted: the TLS context, or None, and its handshake's timeout."""

    context: ssl.SSLContext | None
    handshake_timeout: float | None


class Acceptor:
    """Accepts the connections of one listening socket into protocols from `factory`."""

    def __init__(
        self,
        sock: socket.socket,
        factory: Callable[[], asyncio.Protocol],
        tls: TLS,
        loop: asyncio.AbstractEventLoop,
        batch: int,
        shared_with: Sized | None = None,
    ) -> None:
        self.sock = sock
        sock.setblocking(False)  # accept() stops at an empty queue
        self._factory = factory
        self._tls = tls
        self._loop = loop
        self._batch = batch  # the most taken at one readiness: the listen backlog
        # This worker's open connections, where other workers accept from the socket too.
        self._shared_with = shared_with
        self._fd = sock.fileno()
        self._listening = False
        self._paused: asyncio.TimerHandle | None = None
        # Connections whose transport is being set up (a TLS handshake, a loop turn otherwise).
        self.connecting: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        self._listening = True
        self._loop.add_reader(self._fd, self.accept)

    def stop(self) -> None:
        """Stop accepting (what waits in the listen queue stays there)."""
        if self._paused is not None:
            self._paused.cancel()
            self._paused = None
        if self._listening:
            self._listening = False
            self._loop.remove_reader(self._fd)

    def accept(self) -> None:
        """Take what waits in the listen queue, up to the batch (a share of it, see above)."""
        batch = self._batch
        if self._shared_with is not None:
            batch = min(batch, 1 + len(self._shared_with) // SHARE)
        for _ in range(batch):
            try:
                connection, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    raise
                logger.error(
                    "Could not accept a connection (%s); pausing accepting for %.1f s",
                    exc.strerror,
                    ACCEPT_PAUSE,
                )
                self._pause()
                return
            self._connect(connection)

    def _pause(self) -> None:
        if self._listening:
            self._loop.remove_reader(self._fd)
            self._listening = False
            self._paused = self._loop.call_later(ACCEPT_PAUSE, self._resume)

    def _resume(self) -> None:
        self._paused = None
        self.start()

    def _connect(self, connection: socket.socket) -> None:
        connection.setblocking(False)
        task = self._loop.create_task(
            self._loop.connect_accepted_socket(
                self._factory,
                connection,
                ssl=self._tls.context,
                ssl_handshake_timeout=self._tls.handshake_timeout,
            )
        )
        self.connecting.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: "asyncio.Task[object]") -> None:
        self.connecting.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # A client that reset while its transport was set up, or a failed TLS handshake:
            # the loop's transport has closed it; nothing reached the application.
            logger.debug("Connection not set up: %r", exc)

    async def accept_queued(self) -> None:
        """Stop accepting, accept what still waits in the listen queue, then close the socket.

        A client whose connection the kernel completed has sent its request; closing the
        socket with it queued would reset it unanswered. Each is answered (`Connection: close`).
        """
        self.stop()
        self._shared_with = None  # all of it: each is answered before this worker goes
        with contextlib.suppress(OSError):
            self.accept()
        self.sock.close()
        if self.connecting:
            # A TLS handshake that takes longer goes on; the drain still reaches it.
            await asyncio.wait(self.connecting, timeout=1.0)
