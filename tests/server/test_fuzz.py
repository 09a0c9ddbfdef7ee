"""Fuzzing the HTTP/1.1 parser (hypothesis): alone, byte by byte, and behind a live server.

Inputs are arbitrary bytes and valid requests mutated a few bytes at a time (the inputs that
get deepest into a parser). Bounded: a few hundred examples each, well under a minute.
"""

import contextlib
import itertools
import socket
from collections.abc import Iterator
from typing import Any

import httptools
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st

from porch.server.h1 import (
    END_OF_MESSAGE,
    InvalidResponse,
    Limits,
    ParsedRequest,
    ProtocolError,
    RequestParser,
    encode_response_head,
)
from tests.server.hostile_apps import ECHO_APPS, Recorder, exchange
from tests.server.hostile_cases import PROBE
from tests.support import serve

SEEDS = [
    b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;e=1\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://h/x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
    b"POST / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: ws\r\n"
    b"Content-Length: 4\r\n\r\nabcdGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nFOO / HTTP/1.1\r\nHost: h\r\n\r\n",
]
SPECIAL = [
    b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"\x00", b" ", b"\t", b":", b",", b";", b"=", b"0",
    b"f", b"-", b"+", b"\x7f", b"\xff", b"#", b"@", b"*", b"chunked", b"identity",
    b"Content-Length: 3\r\n", b"Transfer-Encoding: chunked\r\n", b"Host: x\r\n",
    b"Expect: x\r\n", b"Connection: close\r\n", b"GET / HTTP/1.1\r\n", b"HTTP/1.0",
    b"HTTP/2.0", b"CONNECT", b"PRI", b"Upgrade: x\r\nConnection: upgrade\r\n",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed request with one to four mutations (mostly one: deeper into the parser)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        at = draw(st.integers(0, len(data)))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(SPECIAL) | st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : draw(st.integers(at, min(len(data), at + 8)))]
        elif kind == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            data[at:at] = data[at : draw(st.integers(at, min(len(data), at + 16)))]
    return bytes(data)


inputs = st.one_of(mutated(), mutated(), mutated(), st.binary(max_size=200))


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Statuses that depend on how bytes were cut into chunks, not on the bytes themselves.
CHUNKING_DEPENDENT = {
    "Too many empty lines",
    "Chunk extensions or trailer fields too large",
    "Request header fields too large",
}
STATUSES = {400, 413, 414, 417, 431}
LIMITS = Limits(request_line=300, header_count=20, header_size=400, body=100)


def run(pieces: list[bytes]) -> list[object]:
    """Feed the pieces, checking the event grammar as it goes; all the events."""
    parser = RequestParser(LIMITS)
    events: list[object] = []
    failed = False
    for piece in pieces:
        new = parser.feed(piece)
        assert not (failed and new), "events after an error"
        events += new
        failed = failed or any(isinstance(event, ProtocolError) for event in new)
    check_grammar(events)
    return events


def check_grammar(events: list[object]) -> None:
    snapshots: list[tuple[ParsedRequest, list[tuple[bytes, bytes]]]] = []
    current: ParsedRequest | None = None
    received = 0
    for index, event in enumerate(events):
        if isinstance(event, ProtocolError):
            assert index == len(events) - 1, "an error is the last event"
            assert event.status in STATUSES
            assert event.detail.isprintable()
        elif isinstance(event, ParsedRequest):
            assert current is None, "a request began inside another"
            check_head(event)
            snapshots.append((event, list(event.headers)))
            current, received = event, 0
        elif isinstance(event, bytes):
            assert current is not None and current.has_body, "body outside a request"
            assert event, "empty body piece"
            received += len(event)
            if current.content_length is not None:
                assert received <= current.content_length
        else:
            assert event is END_OF_MESSAGE
            assert current is not None
            if current.content_length is not None:
                assert received == current.content_length
            current = None
    for request, headers in snapshots:
        assert request.headers == headers, "a head changed after it was emitted"


def check_head(request: ParsedRequest) -> None:
    assert request.http_version in ("1.0", "1.1")
    assert request.method.isascii() and request.method.isupper()
    assert request.target and not any(c in request.target for c in b" \t\r\n\x00")
    assert request.raw_path[:1] == b"/" or request.raw_path == b"*"
    for name, value in request.headers:
        assert name == name.lower() and name and b":" not in name
        assert not any(c in value for c in b"\r\n\x00")
    hosts = [value for name, value in request.headers if name == b"host"]
    assert len(hosts) == (1 if request.http_version == "1.1" else len(hosts)) and len(hosts) <= 1
    if request.content_length is None:
        assert request.has_body == any(name == b"transfer-encoding" for name, _ in request.headers)
    else:
        assert request.has_body == (request.content_length > 0)
        assert request.content_length <= LIMITS.body


def summarize(events: list[object]) -> list[Any]:
    out: list[Any] = []
    for event in events:
        if isinstance(event, ParsedRequest):
            out.append((event.method, event.target, event.headers, event.keep_alive))
        elif isinstance(event, bytes):
            if out and isinstance(out[-1], bytes):
                out[-1] += event
            else:
                out.append(event)
        elif isinstance(event, ProtocolError):
            out.append((event.status, event.detail))
        else:
            out.append("end")
    return out


def chunking_dependent(events: list[Any]) -> bool:
    return bool(events) and isinstance(events[-1], tuple) and events[-1][-1] in CHUNKING_DEPENDENT


@settings(max_examples=2000, deadline=None)
@given(data=st.data(), whole=inputs)
def test_parser_never_raises_and_keeps_its_invariants(data: st.DataObject, whole: bytes) -> None:
    pieces = data.draw(split(whole))
    at_once = summarize(run([whole]))
    note(f"requests parsed: {sum(1 for e in at_once if isinstance(e, tuple) and len(e) == 4)}")
    last = at_once[-1] if at_once else None
    note(f"ends with: {last[0] if isinstance(last, tuple) and len(last) == 2 else 'no error'}")
    in_pieces = summarize(run(pieces))
    bytewise = summarize(run([whole[i : i + 1] for i in range(len(whole))]))
    for other in (in_pieces, bytewise):
        if chunking_dependent(at_once) or chunking_dependent(other):
            # Only a limit on bytes that completed nothing can differ; what came before agrees.
            size = min(len(at_once), len(other)) - 1
            assert [e for e in at_once[:size] if not isinstance(e, bytes)] == [
                e for e in other[:size] if not isinstance(e, bytes)
            ]
        else:
            assert other == at_once


@settings(max_examples=300, deadline=None)
@given(
    status=st.integers(0, 1100),
    headers=st.lists(
        st.tuples(st.binary(max_size=12), st.binary(max_size=24))
        | st.sampled_from(
            [
                (b"Content-Length", b"3"),
                (b"Transfer-Encoding", b"chunked"),
                (b"Connection", b"close"),
            ]
        ),
        max_size=6,
    ),
    method=st.sampled_from(["GET", "HEAD"]),
    version=st.sampled_from(["1.0", "1.1"]),
    body_length=st.none() | st.integers(0, 10),
)
def test_response_heads_parse_back_as_sent(
    status: int,
    headers: list[tuple[bytes, bytes]],
    method: str,
    version: str,
    body_length: int | None,
) -> None:
    try:
        data, *_ = encode_response_head(
            status, headers, method=method, http_version=version, keep_alive=True,
            body_length=body_length,
        )  # fmt: skip
    except InvalidResponse:
        return
    # Whatever the application gave, the head is one well-formed response head, nothing more.
    assert data.endswith(b"\r\n\r\n") and data.count(b"\r\n\r\n") == 1

    class Collect:
        def __init__(self) -> None:
            self.fields: list[tuple[bytes, bytes]] = []
            self.done = False

        def on_header(self, name: bytes, value: bytes) -> None:
            self.fields.append((name, value))

        def on_headers_complete(self) -> None:
            self.done = True

    collect = Collect()
    parser = httptools.HttpResponseParser(collect)
    # Control characters other than CR, LF and NUL pass (RFC 9110 §5.5 lets recipients keep
    # them); what must never happen is a field line or response the application did not send.
    parser.set_dangerous_leniencies(lenient_headers=True)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade:
        pass
    assert collect.done
    assert parser.get_status_code() == status
    sent = {(name.lower(), value) for name, value in headers}
    for name, value in collect.fields:
        if name not in (b"content-length", b"transfer-encoding", b"connection"):
            assert (name, value.rstrip(b" \t")) in {(n, v.rstrip(b" \t")) for n, v in sent}


# Behind a live server.


@pytest.fixture(scope="module", params=sorted(ECHO_APPS))
def live(request: pytest.FixtureRequest) -> Iterator[tuple[int, str]]:
    with serve(ECHO_APPS[request.param](Recorder()), timeout_request_header=1.0) as server:
        yield server.port, request.param


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=inputs)
def test_live_server_survives_mutated_requests(live: tuple[int, str], data: bytes) -> None:
    port, _ = live
    result = exchange(port, data, half_close=True, timeout=5)
    assert result.closed, "the server kept a half-closed connection open"
    note(f"statuses: {result.statuses}")
    for response in result.responses:
        assert response.status < 500, (response.status, data)
    # The server still answers a valid request on a fresh connection.
    assert exchange(port, PROBE).statuses == [200]


def test_live_server_survives_a_burst_of_garbage(live: tuple[int, str]) -> None:
    port, _ = live
    sockets = []
    try:
        for seed in range(50):  # all at once, none waited for
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sockets.append(sock)
            with contextlib.suppress(OSError):  # the server may have answered and closed
                sock.sendall(bytes((seed * 7 + i * 13) % 256 for i in range(997)))
        for sock in sockets:
            received = b""
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received += chunk
            assert received == b"" or received.startswith(b"HTTP/1.1 400 ")
    finally:
        for sock in sockets:
            sock.close()
    assert exchange(port, PROBE).statuses == [200]
