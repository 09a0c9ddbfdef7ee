"""Attacks on a worker's memory, threads and connections, against a real `porch run`/`serve`.

- A client that pipelines thousands of requests for large answers and reads none of them
  (issue: a worker grew from 34 MB to 3 GB in 3 s): the worker's memory stays flat, on every
  interface, over TLS, and for files sent from memory or with sendfile; the client is dropped
  at the send deadline.
- Slow request bodies (one byte now and then) to blocking code (`def` handlers, WSGI): they
  hold no thread, other requests are answered at once, and the minimum body rate closes them.
- A TLS client that never finishes its handshake is closed at the header timeout.
"""

import contextlib
import os
import resource
import selectors
import socket
import ssl
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.test_tls import Certificates
from tests.support import ROOT, PorchProcess, RawClient

FLOOD = b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n"
PIPELINED = 3000
# What the worker may grow by while flooded: the transport's high-water mark, one answer of
# 1 MiB, and the interpreter's own noise. Unbounded, it grew by gigabytes.
MAX_GROWTH = 24 * 1024 * 1024
SEND_TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def enough_file_descriptors() -> Iterator[None]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1024:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("certs"))


def resident(pid: int) -> int:
    """A process's resident memory, in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(port: int, context: ssl.SSLContext | None = None) -> socket.socket:
    """A connection with a small receive buffer, as a client that reads slowly has."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def get_once(port: int, target: bytes, context: ssl.SSLContext | None = None) -> None:
    """One whole answer on a connection of its own."""
    with connect(port, context) as sock:
        sock.sendall(FLOOD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") % target)
        while sock.recv(65536):
            pass


def flood(port: int, pid: int, target: bytes, context: ssl.SSLContext | None = None) -> int:
    """Pipeline PIPELINED requests for `target` on one connection and read nothing for 3 s;
    then check the server drops the connection. How much the server's memory grew."""
    for _ in range(2):
        get_once(port, target, context)  # what the first answers allocate, later ones reuse
    before = resident(pid)
    sock = connect(port, context)
    sock.setblocking(False)
    payload = (FLOOD % target) * PIPELINED
    sent = 0
    peak = before
    deadline = time.monotonic() + 3.0
    try:
        while time.monotonic() < deadline:
            if sent < len(payload):
                with contextlib.suppress(
                    BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError
                ):
                    sent += sock.send(payload[sent : sent + 16384])
            peak = max(peak, resident(pid))
            time.sleep(0.02)
        # The client still reads nothing: at the send deadline the server lets it go.
        time.sleep(SEND_TIMEOUT + 1.0)
        received = drain(sock)
    finally:
        sock.close()
    assert received < 16 * 1024 * 1024, f"the server went on answering: {received} bytes"
    return peak - before


def drain(sock: socket.socket) -> int:
    """Read until the connection ends; how many bytes came (AssertionError if it stays open)."""
    sock.setblocking(True)
    sock.settimeout(3.0)
    received = 0
    with contextlib.suppress(ConnectionResetError, ssl.SSLError, BrokenPipeError):
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"still open after {received} bytes") from None
            if not data:
                break
            received += len(data)
    return received


def porch_run(app: str, *extra: str) -> PorchProcess:
    args = ["run", app, "--no-access-log", "--timeout-send", str(SEND_TIMEOUT), *extra]
    proc = PorchProcess(args, cwd=ROOT)
    proc.wait_ready(timeout=30)
    return proc


# 1. The pipelined reader that reads nothing.


@pytest.mark.parametrize("app", ["app", "asgi", "wsgi"])
def test_pipelined_client_that_reads_nothing_holds_bounded_memory(app: str) -> None:
    with porch_run(f"bench.apps.attack:{app}") as proc:
        growth = flood(proc.port, proc.proc.pid, b"/big")
        assert growth < MAX_GROWTH, f"grew by {growth / 2**20:.0f} MiB"
        with RawClient(proc.port) as client:  # and it still serves
            client.send(FLOOD % b"/small")
            assert client.read_response()[0] == 200


def test_pipelined_client_that_reads_nothing_over_tls(certs: Certificates) -> None:
    tls = ["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key)]
    with porch_run("bench.apps.attack:app", *tls) as proc:
        growth = flood(proc.port, proc.proc.pid, b"/big", certs.client_context())
        assert growth < MAX_GROWTH, f"grew by {growth / 2**20:.0f} MiB"


@pytest.mark.parametrize("name,size", [("memory.bin", 65536), ("sendfile.bin", 1 << 20)])
def test_static_files_to_a_client_that_reads_nothing(tmp_path: Path, name: str, size: int) -> None:
    # Up to 64 KiB a file is answered from memory; larger ones go out with sendfile.
    (tmp_path / name).write_bytes(os.urandom(size))
    args = ["serve", str(tmp_path), "--no-access-log", "--timeout-send", str(SEND_TIMEOUT)]
    with PorchProcess(args, cwd=ROOT) as proc:
        proc.wait_ready(timeout=30)
        growth = flood(proc.port, proc.proc.pid, b"/" + name.encode())
        assert growth < MAX_GROWTH, f"grew by {growth / 2**20:.0f} MiB"


# 2. Slow bodies to blocking code.


class SlowBodies:
    """Connections that each declare a large body and send a byte of it now and then."""

    def __init__(self, port: int, count: int, target: bytes, length: int) -> None:
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(
                b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\nx" % (target, length)
            )
            self.sockets.append(sock)

    def trickle(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.send(b"x")

    def answers(self, timeout: float) -> list[bytes]:
        """The first line each connection got before it closed (b"" if none by `timeout`)."""
        selector = selectors.DefaultSelector()
        received = dict.fromkeys(self.sockets, b"")
        for sock in self.sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        open_ = set(self.sockets)
        deadline = time.monotonic() + timeout
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(0.1):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                received[sock] += data
                if not data:
                    open_.discard(sock)
                    selector.unregister(sock)
        selector.close()
        return [received[sock].split(b"\r\n", 1)[0] for sock in self.sockets]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def timed_get(port: int, target: bytes) -> float:
    started = time.monotonic()
    with RawClient(port) as client:
        client.send(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" % target)
        status, _, body = client.read_response()
    assert (status, body) == (200, b"ok")
    return time.monotonic() - started


@pytest.mark.parametrize(
    "app,connections",
    [("app", 45), ("wsgi", 24)],
    ids=["def-handlers-40-threads", "wsgi-10-threads"],
)
def test_slow_bodies_hold_no_thread(app: str, connections: int) -> None:
    grace = "3"
    with porch_run(f"bench.apps.attack:{app}", "--min-request-body-rate-grace", grace) as proc:
        loris = SlowBodies(proc.port, connections, b"/upload", 5_000_000)
        try:
            latencies = []
            for _ in range(10):
                loris.trickle()
                latencies.append(timed_get(proc.port, b"/small"))
                time.sleep(0.05)
            # More slow bodies than threads, and a blocking route still answers at once.
            assert statistics.median(latencies) < 0.1, latencies
            assert max(latencies) < 0.5, latencies
            # The minimum body rate ends them after the grace period: 408, then closed.
            answers = loris.answers(timeout=float(grace) + 3.0)
            assert answers == [b"HTTP/1.1 408 Request Timeout"] * connections
        finally:
            loris.close()
        assert timed_get(proc.port, b"/small") < 0.5


def test_whole_body_still_reaches_blocking_code(tmp_path: Path) -> None:
    # Received on the loop first (past 1 MiB into a temporary file), then read by the thread.
    body = os.urandom(3 * 1024 * 1024)
    for app in ("app", "wsgi"):
        with porch_run(f"bench.apps.attack:{app}") as proc, RawClient(proc.port) as client:
            head = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body)
            client.send(head + body)
            status, _, answer = client.read_response()
            assert (status, answer) == (200, str(len(body)).encode())


# 10. The TLS handshake is covered by the header timeout.


def test_tls_handshake_that_never_completes_is_closed(certs: Certificates) -> None:
    tls = ["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key)]
    with (
        porch_run("bench.apps.attack:app", *tls, "--timeout-request-header", "1") as proc,
        socket.create_connection(("127.0.0.1", proc.port), timeout=10) as sock,
    ):
        started = time.monotonic()
        sock.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(65536) == b""
        assert time.monotonic() - started < 3.0
