"""Hostile input on a real socket: porch refuses it cleanly, and never loses its place.

Every case of tests/server/hostile_cases.py runs against a live server for each kind of
application (ASGI, WSGI, native), all three echoing and recording what they read. The test
ids are the table of what is covered: `interface-category/case->statuses`.
"""

import socket
import time
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from tests.server.hostile_apps import ECHO_APPS, Recorder, exchange, parse_responses
from tests.server.hostile_cases import (
    BODY_LIMIT,
    CASES,
    HEAD_TIMEOUT,
    PROBE,
    Case,
    post,
)
from tests.support import serve


class Served(NamedTuple):
    port: int
    recorder: Recorder
    interface: str


@pytest.fixture(scope="module", params=sorted(ECHO_APPS))
def server(request: pytest.FixtureRequest) -> Iterator[Served]:
    recorder = Recorder()
    app = ECHO_APPS[request.param](recorder)
    with serve(app, timeout_request_header=HEAD_TIMEOUT, limit_request_body=BODY_LIMIT) as running:
        yield Served(running.port, recorder, request.param)


def case_id(case: Case) -> str:
    return f"{case.id}->{'+'.join(map(str, case.answers)) or 'close'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hostile_input(server: Served, case: Case) -> None:
    server.recorder.take()
    pieces = [case.send] if isinstance(case.send, bytes) else list(case.send)
    if case.probe:
        pieces[-1] += PROBE
    result = exchange(
        server.port,
        pieces,
        half_close=case.half_close,
        pause=case.pause,
        timeout=HEAD_TIMEOUT + 5,
    )
    assert result.closed, f"no close after {result.elapsed:.1f}s: {result.responses}"
    assert result.leftover == b"", "bytes that are no complete response"
    assert result.statuses == list(case.answers), [r.body[:80] for r in result.responses]
    for status in result.statuses:
        assert status < 500, "a 5xx for hostile input"
    # The application read exactly the requests it should have: nothing smuggled, nothing lost.
    seen = server.recorder.take()
    assert [(request.target, request.body) for request in seen] == list(case.seen)
    answers = [response for response in result.responses if response.status == 200]
    assert [response.body for response in answers] == [request.describe() for request in seen]
    if 408 in case.answers:
        # Deadlines are checked by a ticker (every 0.25 s) against a clock it renews.
        assert result.elapsed >= HEAD_TIMEOUT - 0.3


def test_enough_cases() -> None:
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES), "case ids are unique"


def test_body_limit_answered_from_the_head(server: Served) -> None:
    # The client sends a head that announces too much and waits: 413 comes without the body.
    result = exchange(server.port, post(b"Content-Length: %d" % (BODY_LIMIT * 1000)), timeout=3)
    assert result.statuses == [413]
    assert result.closed
    assert result.elapsed < HEAD_TIMEOUT, "answered at once, not after a timeout"


def test_expect_100_continue(server: Served) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(post(b"Expect: 100-continue", b"Content-Length: 5", b"Connection: close"))
        interim = sock.recv(65536)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    responses, rest = parse_responses(received)
    assert [response.status for response in responses] == [200]
    assert responses[0].body == b"POST /x 5\nhello"
    assert rest == b""


def test_server_still_serves_after_the_suite(server: Served) -> None:
    result = exchange(server.port, PROBE)
    assert result.statuses == [200]
    assert result.responses[0].body == b"GET /probe 0\n"


def test_many_hostile_connections_at_once(server: Served) -> None:
    # Half-finished heads on many connections: each gets its 408, none starves the others.
    sockets = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /x HTTP/1.1\r\nHost: h\r\n")
            sockets.append(sock)
        started = time.monotonic()
        assert exchange(server.port, PROBE).statuses == [200]
        assert time.monotonic() - started < HEAD_TIMEOUT
        for sock in sockets:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408 ")
    finally:
        for sock in sockets:
            sock.close()
