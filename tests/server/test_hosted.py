"""Applications hosted in another (porch/server/hosted.py): the server's own ASGI and WSGI
adapters answering into a native Response, with flow control both ways."""

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from porch.http.errors import HTTPError
from porch.http.native import FileRegion, RequestHead, Response
from porch.server.asgi import ASGIAdapter
from porch.server.h1 import InvalidResponse
from porch.server.hosted import BACKLOG, host
from porch.server.wsgi import WSGIAdapter
from tests.support import NoBody


def head(method: str = "GET") -> RequestHead:
    return RequestHead(method, b"/", b"/", b"", [])


def asgi(app: Any) -> ASGIAdapter:
    return ASGIAdapter(app, asyncio.get_running_loop(), lifespan="off")


def wsgi(app: Any) -> WSGIAdapter:
    return WSGIAdapter(app, asyncio.get_running_loop(), threads=2)


class Body:
    """A request body arriving in pieces, or breaking off with `error`."""

    def __init__(self, *pieces: bytes, error: HTTPError | None = None) -> None:
        self.pieces = pieces
        self.error = error

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.stream()])

    async def stream(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece
        if self.error is not None:
            raise self.error


async def body_of(response: Response) -> bytes:
    body = response.body
    if isinstance(body, bytes):
        return body
    assert not isinstance(body, FileRegion)
    return b"".join([piece async for piece in body])  # type: ignore[union-attr]


def test_slow_host_holds_an_asgi_app_back() -> None:
    sent: list[int] = []
    outcome: list[str] = []

    async def endless(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            for index in range(10_000):
                await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})
                sent.append(index)
        except OSError:
            outcome.append("told the client is gone")
            raise

    async def run() -> None:
        response = await host(asgi(endless), head(), NoBody())
        body: Any = response.body
        await asyncio.sleep(0.05)
        # Nobody reads: the application waits after a few pieces, not after ten thousand.
        assert len(sent) <= BACKLOG + 1
        assert await body.__anext__() == b"x" * 1000
        await body.aclose()
        for _ in range(100):
            if outcome:
                break
            await asyncio.sleep(0.005)
        assert outcome == ["told the client is gone"]

    asyncio.run(run())


def test_closing_an_unread_body_stops_a_wsgi_thread() -> None:
    stopped = threading.Event()

    def endless(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        try:
            while True:
                yield b"y" * 1000
        finally:
            stopped.set()

    async def run() -> None:
        response = await host(wsgi(endless), head(), NoBody())
        await response.body.aclose()  # type: ignore[union-attr]  # never iterated at all
        for _ in range(500):  # the loop goes on (the thread's sends wait on it)
            if stopped.is_set():
                break
            await asyncio.sleep(0.01)

    asyncio.run(run())
    assert stopped.is_set()


def test_request_body_reaches_both_in_pieces() -> None:
    async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received = []
        while True:
            message = await receive()
            received.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"|".join(received)})

    def wsgi_echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("X-Length", environ.get("CONTENT_LENGTH", "-"))])
        return [environ["wsgi.input"].read()]

    async def run() -> None:
        response = await host(asgi(asgi_echo), head("POST"), Body(b"ab", b"cd"))
        assert await body_of(response) == b"ab|cd|"
        response = await host(wsgi(wsgi_echo), head("POST"), Body(b"ab", b"cd"))
        assert await body_of(response) == b"abcd"

    asyncio.run(run())


def test_a_body_that_breaks_off_is_answered_with_its_error() -> None:
    """The host's request body breaks off (413): the ASGI application is told the client
    left, the WSGI one never runs, and the host gets the 413 to answer."""
    ran: list[str] = []

    async def asgi_reader(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        ran.append("asgi gave up")

    def wsgi_reader(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ran.append("wsgi ran")
        start_response("200 OK", [])
        return [b""]

    async def run() -> None:
        for adapter in (asgi(asgi_reader), wsgi(wsgi_reader)):
            body = Body(b"x" * 100, error=HTTPError(413, "too large"))
            with pytest.raises(HTTPError) as raised:
                await host(adapter, head("POST"), body)
            assert raised.value.status == 413

    asyncio.run(run())
    assert ran == ["asgi gave up"]


def test_files_are_handed_over_as_regions(tmp_path: Path) -> None:
    """ASGI's http.response.pathsend and WSGI's file_wrapper: the host sends the file."""
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(100_000))

    async def pathsend(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert "http.response.pathsend" in scope["extensions"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "100000")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    async def run() -> None:
        for adapter in (asgi(pathsend), wsgi(wrapped)):
            response = await host(adapter, head(), NoBody())
            region = response.body
            assert isinstance(region, FileRegion)
            assert (region.offset, region.count) == (0, 100_000)
            assert os.pread(region.fileno(), 100_000, 0) == path.read_bytes()
            region.close()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([{"type": "http.response.body", "body": b""}], "expected 'http.response.start'"),
        (
            [
                {"type": "http.response.start", "status": 200, "headers": []},
                {"type": "http.response.body", "body": "text"},
            ],
            "'body' must be bytes",
        ),
        (
            [
                {"type": "http.response.start", "status": "x", "headers": []},
                {"type": "http.response.body", "body": b""},
            ],
            "malformed 'http.response.start'",
        ),
    ],
    ids=["body-first", "str-body", "bad-status"],
)
def test_asgi_messages_are_checked_as_the_server_checks_them(
    messages: list[dict[str, Any]], error: str
) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    async def run() -> None:
        with pytest.raises((RuntimeError, InvalidResponse), match=error):
            await host(asgi(app), head(), NoBody())

    asyncio.run(run())


def test_wsgi_rules_are_the_servers() -> None:
    def twice(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b""]

    def bad_status(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("OK", [])
        return [b""]

    def wrong_block(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return iter(["text"])

    async def run() -> None:
        with pytest.raises(AssertionError, match="start_response called twice"):
            await host(wsgi(twice), head(), NoBody())
        with pytest.raises(InvalidResponse, match="invalid status"):
            await host(wsgi(bad_status), head(), NoBody())
        with pytest.raises(TypeError, match="must be bytes"):
            await host(wsgi(wrong_block), head(), NoBody())

    asyncio.run(run())


def test_a_streamed_wsgi_body_and_write() -> None:
    def streamed(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        for index in range(3 * BACKLOG):
            yield b"%d;" % index

    async def run() -> None:
        response = await host(wsgi(streamed), head(), NoBody())
        assert response.status == 200
        assert response.headers == [(b"Content-Type", b"text/plain")]
        expected = b"written;" + b"".join(b"%d;" % i for i in range(3 * BACKLOG))
        assert await body_of(response) == expected

    asyncio.run(run())
