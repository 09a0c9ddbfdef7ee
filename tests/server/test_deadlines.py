"""Deadlines beyond the head: a request body that stops coming, the lingering close after an
early answer, and --max-requests closing the connections it counts."""

import socket
import time

import httpx
import pytest

from porch.server.protocol import LINGER_TIME
from tests.server.apps import Recorder, make_app
from tests.server.wire import Wire, run, wait_until
from tests.support import serve

INTERFACES = ["asgi", "wsgi", "native"]


@pytest.fixture(params=INTERFACES)
def app(request: pytest.FixtureRequest) -> object:
    return make_app(request.param, Recorder())


def post_head(length: int, path: bytes = b"/echo") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (path, length)


# The body deadline, byte by byte (the clock is moved by hand: no ticker runs here).


def test_a_body_that_stops_coming_gets_408(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_body=3.0) as wire:
            protocol = wire.protocol
            wire.send(post_head(10) + b"hello")
            await wire.settle()
            assert protocol.deadline == pytest.approx(protocol.clock.now + 3.0)
            # More body before the deadline pushes it back.
            protocol.clock.now += 2.0
            wire.send(b"wor")
            await wire.settle()
            assert protocol.deadline == pytest.approx(protocol.clock.now + 3.0)
            protocol.clock.now += 3.5
            protocol.deadline_passed()
            written = await wire.wait_closed()
            assert written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert b"connection: close\r\n" in written
            assert written.endswith(b"408 Request body timeout\n")
            # What the client sends afterwards is not taken for a request.
            wire.send(b"ldGET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.settle()
            assert wire.written() == written

    run(main())


def test_no_body_deadline_while_porch_holds_the_body_back(app: object) -> None:
    # The application has not read yet and reading is paused: the client is not slow.
    async def main() -> None:
        # (Without request buffering, porch holds a WSGI application's body back too.)
        async with Wire(app, timeout_request_body=3.0, request_buffering=False) as wire:
            wire.send(post_head(300_000, b"/gated") + b"x" * 200_000)
            await wire.settle()
            assert not wire.transport.reading
            assert wire.protocol.deadline == 0.0

    run(main())


def test_a_complete_body_clears_the_deadline(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_body=3.0) as wire:
            wire.send(post_head(10, b"/gated") + b"hello")
            await wire.settle()
            assert wire.protocol.deadline > 0
            wire.send(b"world")
            await wire.settle()
            assert wire.protocol.deadline == 0.0

    run(main())


def test_slow_body_on_a_real_socket_is_cut_off() -> None:
    # One WSGI thread: the one stuck reading the body must be released for the next request.
    app = make_app("wsgi", Recorder())
    with serve(app, timeout_request_body=0.5, threads=1) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(post_head(100) + b"only part")
            started = time.monotonic()
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            elapsed = time.monotonic() - started
        assert data.startswith(b"HTTP/1.1 408 ")
        assert 0.4 < elapsed < 2.0  # the deadline plus at most a tick or two
        assert httpx.get(server.url + "/", timeout=5).text == "hello"


# The lingering close.


def test_early_answer_half_closes_then_lingers(app: object) -> None:
    async def main() -> None:
        # (Without request buffering, a WSGI application answers before the body comes too.)
        async with Wire(app, request_buffering=False) as wire:
            wire.transport.half_close = True
            protocol = wire.protocol
            # The application answers without reading the body, and the client goes on sending.
            wire.send(post_head(100_000, b"/ignore") + b"x" * 1000)
            (response,) = await wire.wait_responses(1)
            assert response.body == b"ignored"
            assert response.header("connection") == "close"
            assert wire.transport.eof_written
            assert not wire.transport.closed
            wire.send(b"y" * 5000)  # read and thrown away
            assert len(wire.responses()) == 1
            protocol.clock.now += LINGER_TIME + 0.1
            protocol.deadline_passed()
            assert wire.transport.closed

    run(main())


def test_lingering_ends_at_the_clients_eof(app: object) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.transport.half_close = True
            wire.send(post_head(1000))
            (response,) = await wire.wait_responses(1)
            assert response.status == 413
            assert wire.transport.eof_written
            assert wire.protocol.eof_received() is False  # the transport may close now

    run(main())


def test_413_reaches_a_client_that_keeps_uploading() -> None:
    # Without a lingering close the kernel would answer the unread upload with a reset, and
    # the client could lose the 413.
    with serve(make_app("asgi", Recorder()), limit_request_body=1000) as server:
        body = b"x" * (8 << 20)
        response = httpx.post(server.url + "/echo", content=body, timeout=10)
    assert response.status_code == 413


# --max-requests.


def test_max_requests_closes_the_connections_it_counts() -> None:
    with serve(make_app("asgi", Recorder()), max_requests=3) as server, httpx.Client() as client:
        answers = [client.get(server.url + "/") for _ in range(3)]
        assert [a.headers.get("connection") for a in answers[:2]] == [None, None]
        assert answers[2].headers["connection"] == "close"

        def stopped() -> bool:
            return server.server.state is not None and server.server.state.closing

        deadline = time.monotonic() + 5
        while not stopped() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stopped()


def test_body_deadline_setting_is_used() -> None:
    async def main() -> None:
        app = make_app("asgi", Recorder())
        async with Wire(app, timeout_request_body=7.5, min_request_body_rate=0) as wire:
            wire.send(post_head(10) + b"a")
            await wait_until(lambda: wire.protocol.deadline > 0)
            assert wire.protocol.deadline == pytest.approx(wire.protocol.clock.now + 7.5)

    run(main())
