"""One request cycle (`porch/server/cycle.py`): response framing and sending files."""

import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.http import FileRegion, RequestHead, Response
from tests.server.wire import (
    HEADER_LINES,
    Wire,
    captured_log,
    messages,
    parse_responses,
    run,
)
from tests.support import serve

GET = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"


class App:
    def __init__(self, make: Any) -> None:
        self.make = make

    def __porch_http__(self, head: RequestHead, body: Any) -> Any:
        return self.make(head)


def test_file_shorter_than_its_region_small(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_bytes(b"12345")
    app = App(lambda head: Response(200, [], FileRegion(open(path, "rb"), 0, 10)))  # noqa: SIM115

    async def main() -> bytes:
        async with Wire(app) as wire:
            wire.send(GET)
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    (response,), _ = parse_responses(data)
    assert response.status == 500  # nothing had gone out: a proper answer
    assert "file shorter than the region" in messages(records)


def test_file_shorter_than_its_region_large(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 100_000)
    app = App(lambda head: Response(200, [], FileRegion(open(path, "rb"), 0, 200_000)))  # noqa: SIM115

    async def main() -> bytes:
        async with Wire(app) as wire:
            wire.send(GET * 2)
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    head, _, body = data.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 500 "):
        # Found short before a byte went out: a clean 500.
        assert b"connection: close" in head
    else:
        assert b"content-length: 200000" in head
        assert len(body) < 200_000  # cut short, and the connection closed
    assert "file shorter than the region" in messages(records)


def test_sendfile_to_a_client_that_leaves(tmp_path: Path) -> None:
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as file:
        file.truncate(256 * 1024 * 1024)  # sparse: costs no disk
    app = App(lambda head: Response(200, [], FileRegion(open(path, "rb"), 0, 256 * 1024 * 1024)))  # noqa: SIM115

    with captured_log() as records, serve(app) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(GET)
        received = 0
        while received < 1_000_000:
            received += len(sock.recv(65536))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()  # reset
        deadline = time.monotonic() + 5
        while server.server.state is not None and server.server.state.active_requests:
            assert time.monotonic() < deadline, "the request never ended"
            time.sleep(0.01)
        assert httpx.get(server.url).status_code == 200
        (tmp_path / "sparse.bin").unlink()
    assert messages(records) == ""


def test_head_and_304_have_no_body() -> None:
    def make(head: RequestHead) -> Response:
        if head.path == "/304":
            return Response(304, [(b"etag", b'"x"')], b"")
        if head.path == "/204":
            return Response(204, [], b"")
        return Response(200, [(b"content-type", b"text/plain")], b"body")

    async def main() -> bytes:
        async with Wire(App(make)) as wire:
            wire.send(
                b"GET /304 HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET /204 HTTP/1.1\r\nHost: h\r\n\r\n"
                b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
            )
            await wire.wait_responses(4)
            return wire.written()

    data = run(main())
    assert data == (
        b'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n' + HEADER_LINES + b"\r\n"
        b"HTTP/1.1 204 No Content\r\n" + HEADER_LINES + b"\r\n"
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n"
        + HEADER_LINES
        + b"\r\n"
        + b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n"
        + HEADER_LINES
        + b"\r\nbody"
    )


def test_one_write_per_whole_response() -> None:
    writes: list[bytes] = []

    async def main() -> None:
        async with Wire(App(lambda head: Response(200, [], b"whole"))) as wire:
            original = wire.transport.write

            def write(data: Any) -> None:
                writes.append(bytes(data))
                original(data)

            wire.transport.write = write  # type: ignore[method-assign]
            wire.send(GET)
            await wire.wait_responses(1)

    run(main())
    assert len(writes) == 1 and writes[0].endswith(b"\r\n\r\nwhole")


def test_access_log_counts_body_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(300_000))
    cycles: list[Any] = []

    class Spy:
        def __porch_http__(self, head: RequestHead, body: Any) -> Response:
            cycles.append(body)
            if head.path == "/file":
                return Response(200, [], FileRegion(open(path, "rb"), 0, 300_000))
            return Response(200, [], iter([b"ab", b"cde"]))

    with serve(Spy()) as server, httpx.Client(base_url=server.url) as client:
        assert len(client.get("/file").content) == 300_000
        assert client.get("/chunks").content == b"abcde"
    assert [cycle.bytes_sent for cycle in cycles] == [300_000, 5]


def test_sendfile_failing_with_a_reset_is_a_disconnect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"z" * 500_000)
    app = App(lambda head: Response(200, [], FileRegion(open(path, "rb"), 0, 500_000)))  # noqa: SIM115

    def reset(*args: Any) -> int:
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(os, "sendfile", reset)

    async def main() -> None:
        left, right = socket.socketpair()
        try:
            async with Wire(app) as wire:
                wire.transport.extra["socket"] = left  # sendfile goes straight to a socket
                wire.send(GET)
                await wire.wait_closed()
                assert wire.protocol.state.active_requests == 0
        finally:
            left.close()
            right.close()

    with captured_log() as records:
        run(main())
    assert messages(records) == ""  # a client that left is not an application error


async def asgi_empty_head(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = [(b"content-length", b"97")] if scope["path"] == "/declared" else []
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def wsgi_empty_head(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    declared = [("Content-Length", "97")] if environ["PATH_INFO"] == "/declared" else []
    start_response("200 OK", [("Content-Type", "text/plain"), *declared])
    return []


native_empty_head = App(
    lambda head: Response(
        200, [(b"content-length", b"97")] if head.path == "/declared" else [], b""
    )
)


@pytest.mark.parametrize(
    "app", [asgi_empty_head, wsgi_empty_head, native_empty_head], ids=["asgi", "wsgi", "native"]
)
def test_empty_answer_to_head_claims_no_length(app: Any) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(
                b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /declared HTTP/1.1\r\nHost: h\r\n\r\n"
                b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
            )
            undeclared, declared, get = await wire.wait_responses(3)
            # Only the application knows the GET body's length (RFC 9110 §9.3.2).
            assert undeclared.header("content-length") is None
            assert declared.header("content-length") == "97"
            assert get.header("content-length") == "0"  # a GET's empty body is just that
            assert not wire.transport.closed

    run(main())


def test_send_more_leaves_the_descriptor_open_and_gives_back_on_a_full_buffer() -> None:
    from porch.server.cycle import _send_more

    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    with listener, client, server:
        server.setblocking(False)
        assert _send_more(server.fileno(), server.family, b"head") == 4
        assert server.fileno() >= 0  # still open: the temporary socket object was detached
        while True:  # fill the kernel's buffers
            try:
                server.send(b"x" * 65536)
            except BlockingIOError:
                break
        assert _send_more(server.fileno(), server.family, b"more") == 0
        client.settimeout(1)
        assert client.recv(4) == b"head"
