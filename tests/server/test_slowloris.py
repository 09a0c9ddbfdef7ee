"""Slowloris: many connections that send a request head slowly, against a real `porch run`."""

import resource
import selectors
import socket
import statistics
import time

import pytest

from tests.support import ROOT, PorchProcess, RawClient

APP = "tests.apps_process.lifecycle:app"
CONNECTIONS = 300
HEADER_TIMEOUT = 2.0
PARTIAL_HEAD = b"GET /pid HTTP/1.1\r\nHost: porch.test\r\nX-Slow: "


@pytest.fixture(autouse=True)
def enough_file_descriptors():
    """Room for 300 sockets here and 300 in the server (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * CONNECTIONS + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Slowloris:
    """Connections that trickle a head one byte at a time (even ones) or stall (odd ones)."""

    def __init__(self, port: int, count: int) -> None:
        self.sockets: list[socket.socket] = []
        self.opened: dict[socket.socket, float] = {}
        self.closed: dict[socket.socket, float] = {}
        self.received: dict[socket.socket, bytes] = {}
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.opened[sock] = time.monotonic()
            sock.sendall(PARTIAL_HEAD)
            sock.setblocking(False)
            self.sockets.append(sock)
            self.received[sock] = b""
        self.selector = selectors.DefaultSelector()
        for sock in self.sockets:
            self.selector.register(sock, selectors.EVENT_READ)

    def step(self, timeout: float) -> None:
        """Trickle one byte on the open trickling connections; note the ones the server closed."""
        for n, sock in enumerate(self.sockets):
            if n % 2 == 0 and sock not in self.closed:
                try:
                    sock.send(b"a")
                except (BlockingIOError, ConnectionError):
                    pass
        for key, _ in self.selector.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            if data:
                self.received[sock] += data
            else:
                self.closed[sock] = time.monotonic()
                self.selector.unregister(sock)

    def close(self) -> None:
        self.selector.close()
        for sock in self.sockets:
            sock.close()


def timed_get(port: int) -> float:
    """Seconds a fresh client takes to connect and get GET /pid answered."""
    started = time.monotonic()
    with RawClient(port) as client:
        client.send(b"GET /pid HTTP/1.1\r\nHost: porch.test\r\nConnection: close\r\n\r\n")
        status, _, _ = client.read_response()
    assert status == 200
    return time.monotonic() - started


def test_slow_heads_neither_delay_others_nor_outlive_the_header_timeout():
    args = ["run", APP, "--no-access-log", "--timeout-request-header", str(HEADER_TIMEOUT)]
    with PorchProcess(args, cwd=ROOT) as proc:
        proc.wait_ready(timeout=30)
        loris = Slowloris(proc.port, CONNECTIONS)
        try:
            # While all 300 hold their connections (well before the timeout)...
            latencies = []
            while len(latencies) < 7:
                loris.step(0.05)
                latencies.append(timed_get(proc.port))
            assert len(loris.closed) == 0
            # ...a normal request is not held up behind them.
            assert statistics.median(latencies) < 0.2, latencies
            assert sorted(latencies)[-2] < 0.2, latencies  # one hiccup of a busy machine
            last_opened = max(loris.opened.values())
            while len(loris.closed) < CONNECTIONS and time.monotonic() < last_opened + 10:
                loris.step(0.1)
            late = [
                loris.closed.get(sock, float("inf")) - opened
                for sock, opened in loris.opened.items()
            ]
            assert max(late) <= HEADER_TIMEOUT + 0.5, sorted(late)[-5:]
            assert min(late) >= HEADER_TIMEOUT - 0.3, sorted(late)[:5]
            # Each was told why (408) before the close, trickling or stalled alike.
            answers = {data.split(b"\r\n", 1)[0] for data in loris.received.values()}
            assert answers == {b"HTTP/1.1 408 Request Timeout"}, answers
            assert timed_get(proc.port) < 1.0
        finally:
            loris.close()
        assert proc.stop() == 0
