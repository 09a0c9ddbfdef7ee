"""The native adapter (`porch/server/native.py`): `__porch_http__(head, body)` -> Response."""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import porch.server.cycle
from porch.http import FileRegion, HTTPError, RequestHead, Response
from tests.server.wire import (
    HEADER_LINES,
    Wire,
    captured_log,
    messages,
    parse_responses,
    run,
    wait_until,
)
from tests.support import serve

Handler = Callable[[RequestHead, Any], Any]


class App:
    """A native application from a plain function."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def __porch_http__(self, head: RequestHead, body: Any) -> Any:
        return self.handler(head, body)


def exchange(handler: Handler, request: bytes, count: int = 1, **settings: Any) -> bytes:
    """The bytes written for `request`, once `count` responses are complete."""
    result: list[bytes] = []

    async def main() -> None:
        async with Wire(App(handler), **settings) as wire:
            wire.send(request)
            await wire.wait_responses(count)
            await wire.settle(5)
            result.append(wire.written())

    run(main())
    return result[0]


GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


def test_sync_response() -> None:
    data = exchange(
        lambda head, body: Response(200, [(b"content-type", b"text/plain")], b"hi"), GET
    )
    assert data == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n"
        + HEADER_LINES
        + b"\r\nhi"
    )


@pytest.mark.parametrize(
    ("declared", "sent", "logged"),
    [(b"3", b"hel", "longer than its Content-Length"), (b"9", b"hello", "shorter than")],
)
def test_own_content_length_that_lies_closes(declared: bytes, sent: bytes, logged: str) -> None:
    # A whole body against the application's own Content-Length: the head keeps the declared
    # length, no byte beyond it goes out, and the connection closes (the next response would
    # be read as part of this one).
    def handler(head: RequestHead, body: Any) -> Response:
        return Response(200, [(b"content-length", declared)], b"hello")

    async def main() -> bytes:
        async with Wire(App(handler)) as wire:
            wire.send(GET + GET)
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    assert data == (
        b"HTTP/1.1 200 OK\r\ncontent-length: " + declared + b"\r\n" + HEADER_LINES + b"\r\n" + sent
    )
    assert logged in messages(records)


def test_awaitable_response() -> None:
    async def handler(head: RequestHead, body: Any) -> Response:
        return Response(201, [], b"made")

    data = exchange(handler, GET)
    assert data.startswith(b"HTTP/1.1 201 Created\r\n") and data.endswith(b"\r\n\r\nmade")


@pytest.mark.parametrize("delay", [0, 0.01])
def test_awaitable_that_suspends(delay: float) -> None:
    async def handler(head: RequestHead, body: Any) -> Response:
        await asyncio.sleep(delay)
        await asyncio.sleep(delay)
        return Response(200, [], b"later")

    data = exchange(handler, GET * 3, count=3)
    responses, _ = parse_responses(data)
    assert [r.body for r in responses] == [b"later"] * 3


def test_awaitable_cancelled_on_abort() -> None:
    state: list[str] = []

    async def handler(head: RequestHead, body: Any) -> Response:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            state.append("cancelled")
            raise
        return Response(200, [], b"")

    async def main() -> None:
        async with Wire(App(handler)) as wire:
            wire.send(GET)
            await wire.settle(5)
            wire.protocol.abort()
            wire.protocol.connection_lost(None)
            await wait_until(lambda: state)
            # The request is accounted for (--limit-concurrency counts requests in flight).
            await wait_until(lambda: wire.protocol.state.active_requests == 0)

    with captured_log() as records:
        run(main())
    assert state == ["cancelled"]
    assert messages(records) == ""


def test_no_task_when_the_handler_does_not_suspend() -> None:
    readers: list[Any] = []

    async def handler(head: RequestHead, body: Any) -> Response:
        readers.append(body)
        return Response(200, [], b"at once")

    def sync_handler(head: RequestHead, body: Any) -> Response:
        readers.append(body)
        return Response(200, [], b"at once")

    exchange(handler, GET)
    exchange(sync_handler, GET)
    # PERF: neither needed a Task (nor a trip through the loop).
    assert [reader.task for reader in readers] == [None, None]


def test_request_head() -> None:
    heads: list[RequestHead] = []

    def handler(head: RequestHead, body: Any) -> Response:
        heads.append(head)
        return Response(200, [], b"")

    exchange(
        handler,
        b"GET /a%20b/c?x=1 HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nX-One: 2\r\n\r\n",
        root_path="/mount",
    )
    (head,) = heads
    assert head.method == "GET"
    assert head.target == b"/a%20b/c?x=1"
    assert head.raw_path == b"/a%20b/c"
    assert head.path == "/a b/c"
    assert head.query == b"x=1"
    assert head.headers == [(b"host", b"example.com"), (b"x-one", b"1"), (b"x-one", b"2")]
    assert head.header(b"x-one") == b"1"
    assert head.http_version == "1.1"
    assert head.client == ("127.0.0.1", 50000)
    assert head.server == ("127.0.0.1", 8000)
    assert head.scheme == "http"
    assert head.root_path == "/mount"


# Request bodies.


def test_read_and_stream() -> None:
    async def handler(head: RequestHead, body: Any) -> Response:
        if head.path == "/read":
            return Response(200, [], await body.read())
        pieces = [piece async for piece in body.stream()]
        return Response(200, [], b"|".join(pieces))

    async def main() -> None:
        async with Wire(App(handler)) as wire:
            wire.send(b"POST /read HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel")
            await wire.settle(5)
            wire.send(b"lo")
            wire.send(b"POST /stream HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            wire.send(b"2\r\nab\r\n")
            await wire.settle(5)
            wire.send(b"2\r\ncd\r\n0\r\n\r\n")
            first, second = await wire.wait_responses(2)
            assert first.body == b"hello"
            assert second.body.replace(b"|", b"") == b"abcd"
            assert b"|" in second.body  # it came in pieces, as it arrived

    run(main())


def test_read_past_the_limit_raises_413() -> None:
    raised: list[BaseException] = []

    async def handler(head: RequestHead, body: Any) -> Response:
        try:
            await body.read()
        except HTTPError as error:
            raised.append(error)
            raise
        return Response(200, [], b"read it all?")

    async def main() -> None:
        async with Wire(App(handler), limit_request_body=4) as wire:
            wire.send(
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
            )
            await wire.settle(5)
            wire.send(b"3\r\ndef\r\n")
            data = await wire.wait_closed()
            (response,), _ = parse_responses(data)
            assert response.status == 413

    run(main())
    assert [getattr(e, "status", None) for e in raised] == [413]


# Response bodies.


def test_file_region(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")
    files: list[Any] = []

    def handler(head: RequestHead, body: Any) -> Response:
        file = open(path, "rb")  # noqa: SIM115 (the server closes it)
        files.append(file)
        return Response(200, [(b"content-type", b"text/plain")], FileRegion(file, 2, 5))

    data = exchange(handler, GET)
    assert data.endswith(b"content-length: 5\r\n" + HEADER_LINES + b"\r\n23456")
    assert files[0].closed


def test_large_file_region_on_a_real_socket(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = bytes(range(251)) * 20000  # ~5 MiB
    path.write_bytes(content)

    def handler(head: RequestHead, body: Any) -> Response:
        return Response(200, [], FileRegion(open(path, "rb"), 1000, len(content) - 2000))

    with serve(App(handler)) as server, httpx.Client() as client:
        for _ in range(2):
            response = client.get(server.url)
            assert response.content == content[1000:-1000]


def test_head_does_not_read_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1_000_000)
    reads: list[int] = []
    real = porch.server.cycle._read_exactly

    def counting(fd: int, offset: int, count: int) -> bytes:
        reads.append(count)
        return real(fd, offset, count)

    monkeypatch.setattr(porch.server.cycle, "_read_exactly", counting)

    def handler(head: RequestHead, body: Any) -> Response:
        return Response(200, [], FileRegion(open(path, "rb"), 0, 1_000_000))

    data = exchange(handler, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" + GET, count=2)
    head, get = parse_responses(data, ["HEAD", "GET"])[0]
    assert head.header("content-length") == "1000000" and head.body == b""
    assert len(get.body) == 1_000_000
    assert sum(reads) == 1_000_000  # the GET's reads only


def test_file_region_never_passes_the_declared_length(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 100_000)

    def handler(head: RequestHead, body: Any) -> Response:
        file = open(path, "rb")  # noqa: SIM115
        return Response(200, [(b"content-length", b"70000")], FileRegion(file, 0, 100_000))

    data = exchange(handler, GET * 2, count=2)
    responses, rest = parse_responses(data)
    assert [len(r.body) for r in responses] == [70000, 70000] and rest == b""


def test_sync_iterator_body_and_close() -> None:
    closed: list[str] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b"bc"

        def close(self) -> None:
            closed.append("closed")

    data = exchange(lambda head, body: Response(200, [], Body()), GET)
    assert data.endswith(
        b"transfer-encoding: chunked\r\n" + HEADER_LINES + b"\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
    )
    assert closed == ["closed"]


def test_async_iterator_body_and_aclose() -> None:
    events: list[str] = []

    async def body_chunks() -> AsyncIterator[bytes]:
        try:
            yield b"x"
            await asyncio.sleep(0)
            yield b"yz"
        finally:
            events.append("finalized")

    data = exchange(lambda head, body: Response(200, [], body_chunks()), GET)
    assert data.endswith(b"\r\n\r\n1\r\nx\r\n2\r\nyz\r\n0\r\n\r\n")
    assert events == ["finalized"]


def test_async_iterator_closed_when_the_client_leaves() -> None:
    events: list[str] = []

    async def body_chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 65536
                events.append("chunk")
        finally:
            events.append("finalized")

    async def main() -> None:
        async with Wire(App(lambda head, body: Response(200, [], body_chunks()))) as wire:
            wire.transport.stop_reading_responses()
            wire.send(GET)
            await wait_until(lambda: wire.written())
            wire.protocol.connection_lost(ConnectionResetError())
            await wait_until(lambda: "finalized" in events)

    with captured_log() as records:
        run(main())
    assert events.count("chunk") <= 1
    assert messages(records) == ""


def test_response_like_object() -> None:
    class Answer:
        status = 202
        headers = [(b"x-kind", b"duck")]
        body = b"quack"

    data = exchange(lambda head, body: Answer(), GET)
    assert data.startswith(b"HTTP/1.1 202 Accepted\r\nx-kind: duck\r\n")
    assert data.endswith(b"quack")


# Errors.


def raise_error(head: RequestHead, body: Any) -> Response:
    raise HTTPError(405, "Use POST", [(b"allow", b"POST")])


async def raise_error_later(head: RequestHead, body: Any) -> Response:
    await asyncio.sleep(0)
    raise HTTPError(405, "Use POST", [(b"allow", b"POST")])


def raise_in_body(head: RequestHead, body: Any) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        raise HTTPError(405, "Use POST", [(b"allow", b"POST")])
        yield b""

    return Response(200, [], chunks())


@pytest.mark.parametrize("handler", [raise_error, raise_error_later, raise_in_body])
def test_http_error_becomes_its_status(handler: Handler) -> None:
    with captured_log() as records:
        data = exchange(handler, GET * 2, count=2)
    responses, _ = parse_responses(data)
    assert [r.status for r in responses] == [405, 405]  # kept alive
    assert responses[0].body == b"405 Use POST\n"
    assert responses[0].header("allow") == "POST"
    assert messages(records) == ""


def test_http_error_without_detail_reads_its_reason_phrase() -> None:
    def handler(head: RequestHead, body: Any) -> Response:
        raise HTTPError(404)

    responses, _ = parse_responses(exchange(handler, GET))
    assert responses[0].status == 404
    assert responses[0].body == b"404 Not Found\n"


def fails_at_once(head: RequestHead, body: Any) -> Response:
    raise RuntimeError("secret-native")


async def fails_later(head: RequestHead, body: Any) -> Response:
    await asyncio.sleep(0)
    raise RuntimeError("secret-native")


def fails_before_the_first_chunk(head: RequestHead, body: Any) -> Response:
    def chunks() -> Iterator[bytes]:
        raise RuntimeError("secret-native")
        yield b""

    return Response(200, [], chunks())


def returns_nothing(head: RequestHead, body: Any) -> None:
    return None


async def returns_nothing_later(head: RequestHead, body: Any) -> None:
    return None


def text_body(head: RequestHead, body: Any) -> Response:
    return Response(200, [], "text")  # type: ignore[arg-type]


def bad_header(head: RequestHead, body: Any) -> Response:
    return Response(200, [(b"x-a", b"1\r\n")], b"")


@pytest.mark.parametrize(
    ("handler", "logged"),
    [
        (fails_at_once, "secret-native"),
        (fails_later, "secret-native"),
        (fails_before_the_first_chunk, "secret-native"),
        (returns_nothing, "returned None"),
        (returns_nothing_later, "returned None"),
        (text_body, "Error"),
        (bad_header, "CR, LF or NUL"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[:24],
)
def test_failures_are_a_generic_500(handler: Handler, logged: str) -> None:
    async def main() -> bytes:
        async with Wire(App(handler)) as wire:
            wire.send(b"GET /failing HTTP/1.1\r\nHost: h\r\n\r\n")
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    (response,), rest = parse_responses(data)
    assert response.status == 500 and rest == b""
    assert b"secret" not in data
    assert "GET /failing" in messages(records)
    assert logged in messages(records)


def test_failure_after_the_first_chunk_closes() -> None:
    def handler(head: RequestHead, body: Any) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"partial"
            raise RuntimeError("secret-native")

        return Response(200, [], chunks())

    async def main() -> bytes:
        async with Wire(App(handler)) as wire:
            wire.send(GET * 2)
            return await wire.wait_closed()

    with captured_log():
        data = run(main())
    assert data.endswith(b"\r\n\r\n7\r\npartial\r\n")


def test_e2e_native_app() -> None:
    async def handler(head: RequestHead, body: Any) -> Response:
        data = await body.read()
        return Response(
            200, [(b"content-type", b"text/plain")], b"%s %s" % (head.method.encode(), data)
        )

    with serve(App(handler)) as server, httpx.Client(base_url=server.url) as client:
        assert client.post("/", content=b"payload").text == "POST payload"
        assert client.get("/").text == "GET "


def test_head_never_runs_a_streamed_body() -> None:
    produced: list[str] = []

    async def chunks() -> Any:
        produced.append("started")
        yield b"a"
        yield b"b"

    def handler(head: RequestHead, body: Any) -> Response:
        return Response(200, [(b"content-type", b"text/plain")], chunks())

    data = exchange(lambda head, body: handler(head, body), b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\n")  # the head alone
    assert produced == []
