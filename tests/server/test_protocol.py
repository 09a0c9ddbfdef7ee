"""The HTTP/1.1 connection (`porch/server/protocol.py`), against ASGI, WSGI and native apps.

Every behaviour is tested twice: byte by byte through a FakeTransport (exact bytes in and out),
and end to end on a real socket with real clients. The `interface` fixture runs each test
against the same application written for each interface (`tests/server/apps.py`).
"""

import asyncio
import http.client
import socket
import subprocess
import threading
import time

import httpx
import pytest

from porch.server.protocol import (
    FLUSH_DEADLINE,
    IDLE_DEADLINE,
    MAX_PIPELINED,
    SEND_DEADLINE,
    HTTPProtocol,
)
from tests.server.apps import BIG_CHUNKS, INTERFACES, SECRET, Recorder, make_app
from tests.server.wire import HEADER_LINES, Wire, parse_responses, run, wait_until
from tests.support import FakeTransport, RawClient, needs_tool, serve


@pytest.fixture(params=INTERFACES)
def interface(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def app(interface: str, recorder: Recorder) -> object:
    return make_app(interface, recorder)


GET = b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n"


def get(path: bytes) -> bytes:
    return GET % path


def post(path: bytes, body: bytes, *headers: bytes) -> bytes:
    extra = b"".join(h + b"\r\n" for h in headers)
    return b"POST %s HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n%s\r\n%s" % (
        path,
        len(body),
        extra,
        body,
    )


# Byte level: framing and keep-alive.


def test_exact_bytes_of_a_simple_response(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/"))
            await wire.wait_responses(1)
            assert wire.written() == (
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
                + HEADER_LINES
                + b"\r\nhello"
            )
            assert not wire.transport.closed

    run(main())


def test_keep_alive_is_the_default_on_http_11(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            for number in range(3):
                wire.send(get(b"/info?n=%d" % number))
                responses = await wire.wait_responses(number + 1)
                assert responses[-1].body == f"GET /info n={number}".encode()
                assert responses[-1].header("connection") is None
                assert not wire.transport.closed

    run(main())


def test_http_10_closes_by_default(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.0\r\n\r\n")
            data = await wire.wait_closed()
            assert data.startswith(b"HTTP/1.0 200 OK\r\n")
            assert b"\r\nconnection: close\r\n" in data
            assert data.endswith(b"\r\n\r\nhello")

    run(main())


def test_http_10_keeps_alive_when_asked(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.version == "HTTP/1.0"
            assert response.header("connection") == "keep-alive"
            assert not wire.transport.closed
            wire.send(b"GET /fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            responses = await wire.wait_responses(2)
            assert responses[1].body == b"fast"

    run(main())


def test_pipelined_requests_are_answered_in_order(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            # The first handler is slow, the second fast: the order is still the order sent.
            wire.send(get(b"/slow") + get(b"/fast") + get(b"/info?x") + get(b"/"))
            responses = await wire.wait_responses(4)
            assert [r.body for r in responses] == [b"slow", b"fast", b"GET /info x", b"hello"]
            assert not wire.transport.closed

    run(main())


def test_pipelined_request_split_anywhere(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            data = get(b"/fast") + post(b"/echo", b"abc") + get(b"/")
            for index in range(len(data)):
                wire.send(data[index : index + 1])
            responses = await wire.wait_responses(3)
            assert [r.body for r in responses] == [b"fast", b"abc", b"hello"]

    run(main())


def test_chunked_request_body(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
            )
            (response,) = await wire.wait_responses(1)
            assert response.body == b"hello world"
            wire.send(get(b"/fast"))
            responses = await wire.wait_responses(2)
            assert responses[1].body == b"fast"

    run(main())


def test_chunked_request_body_arriving_slowly(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"3\r\nabc\r\n", b"2\r\nde\r\n", b"1\r", b"\nf\r\n", b"0\r\n\r\n"):
                await wire.settle(5)
                assert wire.responses() == []
                wire.send(piece)
            (response,) = await wire.wait_responses(1)
            assert response.body == b"abcdef"

    run(main())


def test_unknown_length_is_chunked_on_http_11(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/stream"))
            await wire.wait_responses(1)
            assert wire.written() == (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                + HEADER_LINES
                + b"\r\n3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n"
            )
            # The framing ended cleanly: the connection goes on.
            wire.send(get(b"/fast"))
            responses = await wire.wait_responses(2)
            assert responses[1].body == b"fast"

    run(main())


def test_unknown_length_is_close_delimited_on_http_10(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            data = await wire.wait_closed()
            assert data == (
                b"HTTP/1.0 200 OK\r\nconnection: close\r\n" + HEADER_LINES + b"\r\nonetwothree"
            )

    run(main())


def test_head_has_the_length_but_no_body(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get(b"/"))
            responses = await wire.wait_responses(2)
            assert wire.written() == (
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
                + HEADER_LINES
                + b"\r\n"
                + b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n"
                + HEADER_LINES
                + b"\r\nhello"
            )
            assert responses[1].body == b"hello"

    run(main())


def test_head_of_a_stream_has_no_body(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"HEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n" + get(b"/fast"))
            responses = await wire.wait_responses(2)
            assert responses[0].status == 200
            assert responses[0].body == b""
            assert responses[1].body == b"fast"
            # Nothing of the streamed body leaked between the two heads.
            assert b"one" not in wire.written()

    run(main())


def test_date_and_server_headers_on_every_response(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.protocol.clock.update(asyncio.get_running_loop().time())  # a real Date
            wire.send(get(b"/") + get(b"/stream") + get(b"/error"))
            responses = await wire.wait_responses(3)
            for response in responses:
                assert response.header("server") == "porch"
                date = response.header("date")
                assert date is not None and date.endswith(" GMT") and len(date) == 29

    run(main())


def test_connection_close_from_the_client(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + get(b"/fast"))
            data = await wire.wait_closed()
            responses, rest = parse_responses(data)
            assert len(responses) == 1 and rest == b""
            assert responses[0].header("connection") == "close"
            assert responses[0].body == b"hello"

    run(main())


def test_connection_close_from_the_app(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/close") + get(b"/fast"))
            data = await wire.wait_closed()
            responses, rest = parse_responses(data)
            assert [r.body for r in responses] == [b"bye"] and rest == b""
            assert responses[0].header_names().count("connection") == 1
            assert responses[0].header("connection") == "close"

    run(main())


# Byte level: 100-continue.


def test_100_continue_sent_when_the_app_reads(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            await wait_until(lambda: wire.written())
            assert wire.written() == b"HTTP/1.1 100 Continue\r\n\r\n"
            wire.send(b"hello")
            responses = await wire.wait_responses(2)
            assert [r.status for r in responses] == [100, 200]
            assert responses[1].body == b"hello"
            assert not wire.transport.closed

    run(main())


def test_100_continue_not_sent_when_the_app_does_not_read(app: object) -> None:
    async def main() -> None:
        # (With request buffering, porch reads a WSGI application's body for it: see test_wsgi.)
        async with Wire(app, request_buffering=False) as wire:
            wire.send(
                b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            data = await wire.wait_closed()
            assert b"100 Continue" not in data
            responses, _ = parse_responses(data)
            assert [r.status for r in responses] == [200]
            assert responses[0].body == b"ignored"
            # The unread body would be taken for the next request: the connection closes.
            assert responses[0].header("connection") == "close"

    run(main())


def test_100_continue_not_sent_on_http_10(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            await wire.settle(20)
            assert wire.written() == b""
            wire.send(b"hello")
            data = await wire.wait_closed()
            assert b"100 Continue" not in data and data.endswith(b"hello")

    run(main())


def test_100_continue_with_the_body_already_sent(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            # Clients may send the body without waiting: no 100 is needed any more.
            wire.send(post(b"/echo", b"hello", b"Expect: 100-continue"))
            (response,) = await wire.wait_responses(1)
            assert response.status == 200 and response.body == b"hello"
            assert b"100 Continue" not in wire.written()

    run(main())


# Byte level: flow control.


def test_reading_pauses_while_the_app_does_not_take_the_body(
    app: object, recorder: Recorder
) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            body = bytes(range(256)) * 1024  # 256 KiB
            wire.send(b"POST /gated HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body))
            for start in range(0, len(body), 16384):
                wire.send(body[start : start + 16384])
                if not wire.transport.reading:
                    break
            assert not wire.transport.reading, "reading never paused"
            sent = start + 16384
            assert sent < len(body)
            recorder.gate.set()
            await wait_until(lambda: wire.transport.reading)
            while sent < len(body):
                wire.send(body[sent : sent + 16384])
                sent += 16384
                await wait_until(lambda: wire.transport.reading)
            (response,) = await wire.wait_responses(1)
            assert response.body == body
            assert wire.transport.reading

    run(main())


def test_send_waits_while_the_transport_is_paused(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.transport.stop_reading_responses()
            wire.send(get(b"/stream"))
            await wire.settle(30)
            data = wire.written()
            # The first block went to the transport, which is over its high-water mark.
            assert data.endswith(b"\r\n\r\n3\r\none\r\n")
            await wire.settle(30)
            assert wire.written() == data
            wire.transport.read_responses()
            (response,) = await wire.wait_responses(1)
            assert response.body == b"onetwothree"

    run(main())


def test_pipelined_requests_wait_while_the_client_reads_no_answer(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            protocol = wire.protocol
            wire.transport.stop_reading_responses()
            wire.send(get(b"/") * 3)
            await wire.settle(30)
            # One answer went out; the transport holds it: nothing more starts or is read.
            assert len(wire.responses()) == 1
            assert not wire.transport.reading
            assert protocol._deadline_kind == SEND_DEADLINE
            assert protocol.deadline == pytest.approx(protocol.clock.now + 60.0)
            wire.transport.read_responses()
            responses = await wire.wait_responses(3)
            assert [r.body for r in responses] == [b"hello"] * 3
            assert wire.transport.reading
            assert protocol._deadline_kind == IDLE_DEADLINE

    run(main())


def test_a_client_that_reads_nothing_is_dropped_at_the_send_deadline(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_send=7.0) as wire:
            protocol = wire.protocol
            wire.transport.stop_reading_responses()
            wire.send(get(b"/") * 2)
            await wire.settle(30)
            assert protocol.deadline == pytest.approx(protocol.clock.now + 7.0)
            protocol.clock.now += 7.0
            protocol.deadline_passed()
            assert wire.transport.aborted, "the held output was not let go"
            assert len(wire.responses()) == 1

    run(main())


def test_a_close_with_output_unsent_is_dropped_at_the_send_deadline(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_send=7.0) as wire:
            protocol = wire.protocol
            wire.transport.stop_reading_responses()
            wire.send(get(b"/close"))
            await wire.wait_closed()
            # Closed, with the answer still unread: the transport holds it until it is sent.
            assert not wire.transport.aborted
            assert protocol._deadline_kind == FLUSH_DEADLINE
            protocol.clock.now += 7.0
            protocol.deadline_passed()
            assert wire.transport.aborted

    run(main())


def test_a_trickling_body_gets_408_below_the_minimum_rate(app: object) -> None:
    async def main() -> None:
        settings = {"min_request_body_rate": 100.0, "min_request_body_rate_grace": 5.0}
        async with Wire(app, timeout_request_body=60.0, **settings) as wire:
            protocol = wire.protocol
            start = protocol.clock.now
            wire.send(post(b"/echo", b"x" * 1000)[:-990])
            await wire.settle()
            # After the grace period, 100 bytes a second on average: 10 bytes buy 0.1 s.
            assert protocol.deadline == pytest.approx(start + 5.0 + 0.1)
            protocol.clock.now += 3.0
            wire.send(b"x" * 40)
            await wire.settle()
            assert protocol.deadline == pytest.approx(start + 5.0 + 0.5)
            protocol.clock.now = start + 5.6
            protocol.deadline_passed()
            written = await wire.wait_closed()
            assert written.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert written.endswith(b"408 Request body too slow\n")

    run(main())


def test_a_fast_body_is_held_to_the_pause_timeout_only(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_body=3.0, request_buffering=False) as wire:
            protocol = wire.protocol
            wire.send(post(b"/echo", b"x" * 100_000)[:-50_000])
            await wire.settle()
            # 50 KB in no time: the rate is far ahead; a pause of 3 s is what can end it.
            assert protocol.deadline == pytest.approx(protocol.clock.now + 3.0)

    run(main())


def test_disconnect_stops_a_streaming_response(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.transport.stop_reading_responses()  # the buffer stays full
            wire.send(get(b"/big"))
            await wait_until(lambda: b"\r\n\r\n" in wire.written())
            await wire.settle(20)
            assert "stopped" not in recorder.events
            wire.protocol.connection_lost(ConnectionResetError())
            await wait_until(lambda: "stopped" in recorder.events)
            assert recorder.events.count("chunk") < BIG_CHUNKS
            await wait_until(lambda: wire.protocol.state.active_requests == 0)

    run(main())


def test_disconnect_while_the_app_reads_the_body(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")
            await wire.settle(20)
            wire.protocol.connection_lost(None)
            await wait_until(lambda: wire.protocol.state.active_requests == 0)
            assert wire.written() == b""

    run(main())


# Byte level: errors and limits.


def test_exception_before_the_response_is_a_generic_500(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/error"))
            data = await wire.wait_closed()
            assert data == (
                b"HTTP/1.1 500 Internal Server Error\r\n"
                b"content-type: text/plain; charset=utf-8\r\ncontent-length: 26\r\n"
                b"connection: close\r\n" + HEADER_LINES + b"\r\n500 Internal Server Error\n"
            )
            assert SECRET.encode() not in data

    run(main())


def test_exception_after_the_response_started_closes(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/error-late") + get(b"/fast"))
            data = await wire.wait_closed()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked")
            # The body is cut short: no last chunk, and the next request is not answered.
            assert body == b"7\r\npartial\r\n"
            assert SECRET.encode() not in data

    run(main())


def test_declared_body_over_the_limit_is_413_at_once(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
            data = await wire.wait_closed()
            (response,), _ = parse_responses(data)
            assert response.status == 413
            assert response.header("connection") == "close"
            assert recorder.threads == []  # the application never ran

    run(main())


def test_body_at_the_limit_is_accepted(app: object) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.send(post(b"/echo", b"0123456789"))
            (response,) = await wire.wait_responses(1)
            assert response.status == 200 and response.body == b"0123456789"

    run(main())


def test_chunked_body_cut_off_at_the_limit(app: object) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.send(
                b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n"
            )
            data = await wire.wait_closed()
            responses, _ = parse_responses(data, closed=True)
            assert [r.status for r in responses] == [413]
            assert responses[0].header("connection") == "close"

    run(main())


def test_chunked_body_over_the_limit_behind_a_pipelined_request(app: object) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.send(
                get(b"/slow")
                + b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n01234567\r\n8\r\n89abcdef\r\n0\r\n\r\n" + get(b"/fast")
            )
            data = await wire.wait_closed()
            responses, rest = parse_responses(data, ["GET", "POST", "GET"])
            assert [r.status for r in responses] == [200, 413]
            assert responses[0].body == b"slow"
            assert rest == b""

    run(main())


def test_413_stops_queued_requests(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            # A queued request whose body broke off is answered, then nothing more.
            wire.send(
                get(b"/slow")
                + b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"b\r\n0123456789a\r\n"
            )
            data = await wire.wait_closed()
            responses, rest = parse_responses(data, ["GET", "POST"])
            assert [r.status for r in responses] == [200, 413] and rest == b""

    run(main())


def test_error_answer_does_not_run_requests_queued_behind_it(
    app: object, recorder: Recorder
) -> None:
    async def main() -> None:
        async with Wire(app, limit_concurrency=1) as wire:
            other = HTTPProtocol(wire.protocol.state)
            other_transport = FakeTransport()
            other.connection_made(other_transport)
            wire.send(get(b"/slow"))
            await wire.settle(5)
            # Past --limit-concurrency: 503 and close, and the request behind it never runs.
            other.data_received(get(b"/info?first") + get(b"/info?second"))
            await wait_until(lambda: other_transport.closed)
            responses, rest = parse_responses(bytes(other_transport.buffer))
            assert [r.status for r in responses] == [503] and rest == b""
            (slow,) = await wire.wait_responses(1)
            assert slow.body == b"slow"
            other.connection_lost(None)
            await wire.settle(20)
            assert len(recorder.threads) == 1

    run(main())


def test_limit_concurrency(app: object) -> None:
    async def main() -> None:
        async with Wire(app, limit_concurrency=1) as wire:
            other = HTTPProtocol(wire.protocol.state)
            other_transport = FakeTransport()
            other.connection_made(other_transport)
            wire.send(get(b"/slow"))
            await wire.settle(5)
            other.data_received(get(b"/"))
            await wait_until(lambda: other_transport.closed)
            (busy,), _ = parse_responses(bytes(other_transport.buffer))
            assert busy.status == 503
            assert busy.header("connection") == "close"
            (slow,) = await wire.wait_responses(1)
            assert slow.body == b"slow"
            # Once the slow request is done, there is room again.
            wire.send(get(b"/"))
            responses = await wire.wait_responses(2)
            assert responses[1].status == 200

    run(main())


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 11 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 300 + b"\r\n\r\n", 431),
    ],
    ids=["request-line", "header-count", "header-size"],
)
def test_head_limits(app: object, request_bytes: bytes, status: int) -> None:
    async def main() -> None:
        settings = {
            "limit_request_line": 100,
            "limit_request_headers": 10,
            "limit_request_header_size": 256,
        }
        async with Wire(app, **settings) as wire:
            wire.send(request_bytes)
            data = await wire.wait_closed()
            (response,), _ = parse_responses(data)
            assert response.status == status
            assert response.header("connection") == "close"

    run(main())


def test_protocol_error_after_a_request_answers_both(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/slow") + b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
            data = await wire.wait_closed()
            responses, _ = parse_responses(data)
            assert [r.status for r in responses] == [200, 400]
            assert responses[0].body == b"slow"

    run(main())


def expire(protocol: HTTPProtocol) -> None:
    """Move the clock past the connection's deadline and run the ticker's check."""
    assert protocol.deadline, "no deadline set"
    protocol.clock.now = protocol.deadline
    protocol.deadline_passed()


def test_idle_keep_alive_connection_is_closed(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_keep_alive=5.0) as wire:
            wire.send(get(b"/"))
            await wire.wait_responses(1)
            await wire.settle(5)
            assert wire.protocol.deadline == pytest.approx(wire.protocol.clock.now + 5.0)
            expire(wire.protocol)
            assert wire.transport.closed
            assert len(wire.responses()) == 1  # closed silently

    run(main())


def test_no_deadline_while_a_request_runs(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/slow"))
            await wire.settle(5)
            assert wire.protocol.deadline == 0.0
            await wire.wait_responses(1)
            assert wire.protocol.deadline > 0.0

    run(main())


def test_partial_head_gets_408(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_header=2.0) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow")
            assert wire.protocol.deadline == pytest.approx(wire.protocol.clock.now + 2.0)
            wire.send(b"loris: 1\r\n")  # dribbling bytes does not move the deadline
            assert wire.protocol.deadline == pytest.approx(wire.protocol.clock.now + 2.0)
            expire(wire.protocol)
            data = await wire.wait_closed()
            (response,), _ = parse_responses(data)
            assert response.status == 408
            assert response.header("connection") == "close"

    run(main())


def test_partial_head_behind_a_running_request(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_header=2.0, timeout_keep_alive=60.0) as wire:
            wire.send(get(b"/slow") + b"GET /fast HTTP/1.1\r\nHo")
            await wire.settle(5)
            # No timer runs while the request does: a 408 never cuts into its response.
            assert wire.protocol.deadline == 0.0
            await wire.wait_responses(1)
            await wire.settle(5)
            # Then the head's own deadline runs: the header timeout, not the idle one.
            assert wire.protocol.deadline == pytest.approx(wire.protocol.clock.now + 2.0)
            expire(wire.protocol)
            data = await wire.wait_closed()
            responses, rest = parse_responses(data)
            assert [r.status for r in responses] == [200, 408] and rest == b""
            assert responses[0].body == b"slow"

    run(main())


def test_dribbled_head_keeps_its_first_deadline(app: object) -> None:
    async def main() -> None:
        async with Wire(app, timeout_request_header=2.0, timeout_keep_alive=1.0) as wire:
            wire.send(get(b"/"))
            await wire.wait_responses(1)
            first = wire.protocol.clock.now
            wire.send(b"GET / HTTP/1.1\r\n")
            assert wire.protocol.deadline == pytest.approx(first + 2.0)
            for piece in (b"Host", b": a\r\n", b"X-A: 1\r\n"):
                wire.protocol.clock.now += 0.5
                wire.send(piece)
                assert wire.protocol.deadline == pytest.approx(first + 2.0)
            wire.send(b"\r\n")
            await wire.wait_responses(2)

    run(main())


def test_eof_after_a_pipelined_batch_answers_it_all(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/slow") + get(b"/fast"))
            assert wire.protocol.eof_received() is True
            data = await wire.wait_closed()
            responses, _ = parse_responses(data)
            assert [r.body for r in responses] == [b"slow", b"fast"]

    run(main())


def test_eof_inside_a_body(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(
                get(b"/slow") + b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab"
            )
            wire.protocol.eof_received()
            data = await wire.wait_closed()
            responses, _ = parse_responses(data, ["GET", "POST"])
            assert [r.status for r in responses] == [200, 400]

    run(main())


# End to end on real sockets.


def test_e2e_httpx_keep_alive_and_chunked_upload(app: object) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b"first,"
        yield b"second"

    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/").text == "hello"
        response = client.post("/echo", content=chunks())
        assert response.text == "first,second"
        streamed = client.get("/stream")
        assert streamed.text == "onetwothree"
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert client.get("/fast").text == "fast"


def test_e2e_http_client_reuses_one_connection(app: object) -> None:
    with serve(app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("GET", "/")
        first = connection.getresponse()
        assert first.read() == b"hello"
        sock = connection.sock
        connection.request("HEAD", "/")
        head = connection.getresponse()
        assert head.getheader("content-length") == "5"
        assert head.read() == b""
        connection.request("POST", "/echo", body=b"x" * 100_000)
        assert connection.getresponse().read() == b"x" * 100_000
        assert connection.sock is sock
        connection.close()


def test_e2e_pipelining_on_a_socket(app: object) -> None:
    with serve(app) as server, RawClient(server.port) as client:
        client.send(
            get(b"/slow")
            + get(b"/fast")
            + b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        data = client.read_until_close()
        responses, rest = parse_responses(data)
        assert [r.body for r in responses] == [b"slow", b"fast", b"hello"]
        assert rest == b""


def test_e2e_http_10(app: object) -> None:
    with serve(app) as server, RawClient(server.port) as client:
        client.send(b"GET /stream HTTP/1.0\r\n\r\n")
        data = client.read_until_close()
        assert data.startswith(b"HTTP/1.0 200 OK\r\n")
        assert data.endswith(b"\r\n\r\nonetwothree")


@needs_tool("curl")
def test_e2e_curl_expect_100_continue(app: object, tmp_path: object) -> None:
    with serve(app) as server:
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "-v",
                "--http1.1",
                "--data-binary",
                "hello curl",
                "-H",
                "Expect: 100-continue",
                "-H",
                "Content-Type: text/plain",
                server.url + "/echo",
            ],
            capture_output=True,
            timeout=20,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello curl"
    assert b"< HTTP/1.1 100 Continue" in result.stderr


def test_e2e_expect_without_reading_closes(app: object) -> None:
    with serve(app, request_buffering=False) as server, RawClient(server.port) as client:
        client.send(
            b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        status, headers, body = client.read_response()
        assert status == 200 and body == b"ignored"
        assert headers["connection"] == "close"
        assert client.is_closed()


def test_e2e_errors(app: object) -> None:
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        response = client.get("/error")
        assert response.status_code == 500
        assert SECRET not in response.text
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/error-late")
        assert client.get("/").text == "hello"  # a new connection


def test_e2e_body_limit(app: object, recorder: Recorder) -> None:
    with serve(app, limit_request_body=1024) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/echo", content=b"x" * 1024).status_code == 200
        response = client.post("/echo", content=b"x" * 1025)
        assert response.status_code == 413
        assert response.headers["connection"] == "close"

        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(4):
                yield b"y" * 512

        try:
            response = client.post("/echo", content=chunks())
        except httpx.HTTPError:
            pass  # the server may close before the client finishes sending
        else:
            assert response.status_code == 413


def test_e2e_limit_concurrency(app: object) -> None:
    with serve(app, limit_concurrency=1) as server:
        results: list[int] = []
        thread = threading.Thread(
            target=lambda: results.append(httpx.get(server.url + "/slow").status_code)
        )
        thread.start()
        time.sleep(0.1)
        busy = httpx.get(server.url + "/")
        thread.join()
        assert busy.status_code == 503
        assert results == [200]
        assert httpx.get(server.url + "/").status_code == 200


def test_e2e_idle_timeout(app: object) -> None:
    with serve(app, timeout_keep_alive=0.3) as server, RawClient(server.port) as client:
        client.send(get(b"/"))
        assert client.read_response()[0] == 200
        started = time.monotonic()
        assert client.is_closed(timeout=3.0)
        assert time.monotonic() - started < 1.5


def test_e2e_request_header_timeout(app: object) -> None:
    with serve(app, timeout_request_header=0.5) as server, RawClient(server.port) as client:
        started = time.monotonic()
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\n")
        status, headers, _ = client.read_response(timeout=3.0)
        elapsed = time.monotonic() - started
        assert status == 408
        assert headers["connection"] == "close"
        assert client.is_closed()
        assert 0.4 < elapsed < 0.5 + 0.25 + 0.5


def test_e2e_head_limits(app: object) -> None:
    with serve(app, limit_request_line=100, limit_request_headers=5) as server:
        with RawClient(server.port) as client:
            client.send(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            assert client.read_response()[0] == 414
            assert client.is_closed()
        with RawClient(server.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 6 + b"\r\n")
            assert client.read_response()[0] == 431
            assert client.is_closed()


def test_e2e_client_disconnect_stops_the_stream(app: object, recorder: Recorder) -> None:
    with serve(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(get(b"/big"))
        sock.recv(4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # a reset: the server's next write fails
        deadline = time.monotonic() + 5
        while "stopped" not in recorder.events and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "stopped" in recorder.events
        assert recorder.events.count("chunk") < BIG_CHUNKS
        assert httpx.get(server.url + "/").text == "hello"


def test_e2e_large_download_intact(app: object) -> None:
    with serve(app) as server, httpx.stream("GET", server.url + "/big") as response:
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == BIG_CHUNKS * 65536


def test_e2e_unix_socket(app: object, tmp_path: object) -> None:
    path = f"{tmp_path}/porch.sock"
    with serve(app, uds=path):
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport, base_url="http://porch") as client:
            assert client.get("/info?u=1").text == "GET /info u=1"
            assert client.post("/echo", content=b"over unix").text == "over unix"


def test_too_many_pipelined_requests_pause_reading(app: object, recorder: Recorder) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            count = MAX_PIPELINED + 8
            wire.send(post(b"/gated", b"first") + get(b"/fast") * count)
            await wire.settle(5)
            assert not wire.transport.reading  # the queue is full: the client must wait
            recorder.gate.set()
            responses = await wire.wait_responses(count + 1)
            assert [r.body for r in responses] == [b"first"] + [b"fast"] * count
            assert wire.transport.reading

    run(main())


def test_e2e_upload_is_not_buffered_while_the_app_waits(app: object, recorder: Recorder) -> None:
    body = b"u" * (8 * 1024 * 1024)
    with serve(app) as server:
        result: list[httpx.Response] = []
        thread = threading.Thread(
            target=lambda: result.append(
                httpx.post(server.url + "/gated", content=body, timeout=20)
            )
        )
        thread.start()
        time.sleep(0.5)
        state = server.server.state
        assert state is not None
        buffered = [
            cycle._buffered
            for connection in state.connections
            for cycle in [connection._active, *connection._queue]
            if cycle is not None
        ]
        # Reading stopped near the high-water mark instead of taking all 8 MiB in.
        assert buffered and max(buffered) < 1024 * 1024
        recorder.gate.set()
        thread.join(20)
    assert result[0].status_code == 200 and result[0].content == body


def test_e2e_slow_reader_holds_the_app_back(app: object, recorder: Recorder) -> None:
    with serve(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(get(b"/big"))
        time.sleep(0.5)
        # Socket buffers hold a few MiB at most; the app waits instead of queueing 16 MiB.
        produced = recorder.events.count("chunk")
        assert produced < BIG_CHUNKS // 2
        sock.settimeout(10)
        received = bytearray()
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk
            received += chunk
        sock.close()
    _, _, body = bytes(received).partition(b"\r\n\r\n")
    assert body.count(b"x") == BIG_CHUNKS * 65536


# Date and Server: the application's own win; HEAD framing on HTTP/1.0.


def test_app_date_and_server_headers_are_not_doubled() -> None:
    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        headers = [(b"server", b"mine"), (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(get(b"/"))
            (response,) = await wire.wait_responses(1)
            assert response.header_names().count("date") == 1
            assert response.header_names().count("server") == 1
            assert response.header("server") == "mine"

    run(main())


def test_http_10_head_of_unknown_length_keeps_alive(app: object) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"HEAD /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.header("connection") == "keep-alive"
            assert not wire.transport.closed

    run(main())
