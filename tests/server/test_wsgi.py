"""WSGI (`porch/server/wsgi.py`): PEP 3333 exactly, in a thread pool, never on the loop."""

import asyncio
import gc
import http.client
import io
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any
from wsgiref.validate import validator

import httpx
import pytest

from porch.http.errors import ClientDisconnected
from porch.server.wsgi import on_loop
from tests.server.wire import (
    HEADER_LINES,
    Wire,
    captured_log,
    messages,
    parse_responses,
    run,
    wait_until,
)
from tests.support import RawClient, serve


def environ_of(request: bytes, **settings: Any) -> dict[str, Any]:
    """The environ a WSGI app receives for `request` (its body read into "body")."""
    environs: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        environ = dict(environ)
        environ["body"] = environ["wsgi.input"].read()
        environs.append(environ)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    async def main() -> None:
        async with Wire(app, **settings) as wire:
            wire.send(request)
            await wire.wait_responses(1)

    run(main())
    return environs[0]


def test_environ() -> None:
    environ = environ_of(
        b"POST /caf%C3%A9/x%2Fy?a=1&b=%20 HTTP/1.1\r\nHost: example.com:8080\r\n"
        b"Content-Type: text/plain\r\nContent-Length: 3\r\n"
        b"X-Dup: 1\r\nX-Dup: 2\r\nCookie: a=1\r\nCookie: b=2\r\nX_Under: sneaky\r\n\r\nabc"
    )
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == ""
    # PEP 3333: the decoded bytes of the path, as latin-1 text.
    assert environ["PATH_INFO"] == "/caf\xc3\xa9/x/y"
    assert environ["PATH_INFO"].encode("latin-1").decode("utf-8") == "/café/x/y"
    assert environ["QUERY_STRING"] == "a=1&b=%20"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert environ["CONTENT_LENGTH"] == "3"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["HTTP_HOST"] == "example.com:8080"
    assert environ["HTTP_X_DUP"] == "1,2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    # A name with '_' could pass for one with '-' (X-Under): it is dropped.
    assert "HTTP_X_UNDER" not in environ
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == "8000"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["REMOTE_PORT"] == "50000"
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False
    assert environ["wsgi.input_terminated"] is True
    assert callable(environ["wsgi.errors"].write) and callable(environ["wsgi.errors"].flush)
    assert callable(environ["wsgi.file_wrapper"])
    assert environ["body"] == b"abc"
    for key, value in environ.items():
        if "." not in key and key != "body":
            assert type(value) is str, key


def test_environ_without_a_body() -> None:
    environ = environ_of(b"GET / HTTP/1.0\r\n\r\n")
    assert "CONTENT_LENGTH" not in environ and "CONTENT_TYPE" not in environ
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert environ["QUERY_STRING"] == ""
    assert environ["body"] == b""


@pytest.mark.parametrize(
    ("target", "script_name", "path_info"),
    [
        (b"/users", "/api", "/users"),
        (b"/api/users", "/api", "/users"),  # a proxy that did not strip the prefix
        (b"/api", "/api", ""),
        (b"/apix", "/api", "/apix"),  # not the prefix at a segment boundary
    ],
)
def test_root_path(target: bytes, script_name: str, path_info: str) -> None:
    environ = environ_of(b"GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target, root_path="/api")
    assert environ["SCRIPT_NAME"] == script_name
    assert environ["PATH_INFO"] == path_info


def test_streaming_input_read_readline_and_iteration() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        seen.append("CONTENT_LENGTH" in environ)
        seen.append(stream.read(2))
        seen.append(stream.readline())
        seen.append(stream.readline(3))
        seen.append(list(stream))
        seen.append(stream.read())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"line1\nli", b"ne2\nline3\n", b"rest"):
                await wire.settle(5)
                wire.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            wire.send(b"0\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"done"

    run(main())
    assert seen == [False, b"li", b"ne1\n", b"lin", [b"e2\n", b"line3\n", b"rest"], b""]


def test_input_hands_over_what_has_arrived() -> None:
    lines: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stream = environ["wsgi.input"]
        while line := stream.readline():
            lines.append(line)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"%d" % len(lines)]

    async def main() -> None:
        async with Wire(app, request_buffering=False) as wire:
            wire.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            wire.send(b"6\r\nhello\n\r\n")
            # An interactive client waits for an answer to its first line before the next.
            await wait_until(lambda: lines == [b"hello\n"])
            wire.send(b"6\r\nworld\n\r\n0\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"2"

    run(main())


def test_input_read_after_a_disconnect_raises() -> None:
    raised: list[BaseException] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            environ["wsgi.input"].read(100)
        except OSError as exc:
            raised.append(exc)
            raise
        return []

    async def main() -> None:
        async with Wire(app, request_buffering=False) as wire:
            wire.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
            await wire.settle(20)
            wire.protocol.connection_lost(None)
            await wait_until(lambda: raised)
            await wait_until(lambda: wire.protocol.state.active_requests == 0)

    with captured_log() as records:
        run(main())
    assert isinstance(raised[0], ClientDisconnected)
    assert messages(records) == ""


def test_write_callable() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"a")
        write(b"bc")
        return [b"d"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)
            assert wire.written() == (
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n"
                + HEADER_LINES
                + b"\r\n1\r\na\r\n2\r\nbc\r\n1\r\nd\r\n0\r\n\r\n"
            )

    run(main())


def test_generator_with_a_content_length_goes_out_whole() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Length", "6")])
        yield b"abcdef"
        yield b""

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)
            assert wire.written() == (
                b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n" + HEADER_LINES + b"\r\nabcdef"
            )

    run(main())


class Body:
    """A WSGI body that records close() and can fail while iterating."""

    def __init__(self, chunks: list[bytes], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self) -> Any:
        for index, chunk in enumerate(self.chunks):
            if index == self.fail_at:
                raise RuntimeError("iteration failed")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def test_close_is_called_once() -> None:
    body = Body([b"a", b"b"])

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return body

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"ab"
            await wait_until(lambda: body.closed)

    run(main())
    assert body.closed == 1


@pytest.mark.parametrize("fail_at", [0, 1])
def test_close_is_called_when_iteration_fails(fail_at: int) -> None:
    body = Body([b"a", b"b"], fail_at=fail_at)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return body

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            data = await wire.wait_closed()
            responses, _ = parse_responses(data)
            if fail_at == 0:
                assert [r.status for r in responses] == [500]  # nothing had gone out yet
            else:
                assert data.endswith(b"\r\n\r\n1\r\na\r\n")  # cut short
            await wait_until(lambda: body.closed)

    with captured_log() as records:
        run(main())
    assert body.closed == 1
    assert "iteration failed" in messages(records)


def test_close_is_called_when_the_client_leaves() -> None:
    body = Body([b"x" * 65536] * 64)
    sent = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        sent.set()
        return body

    async def main() -> None:
        async with Wire(app) as wire:
            wire.transport.stop_reading_responses()
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wait_until(lambda: wire.written())
            wire.protocol.connection_lost(ConnectionResetError())
            await wait_until(lambda: body.closed)

    with captured_log() as records:
        run(main())
    assert body.closed == 1
    assert messages(records) == ""


def test_exc_info_before_the_headers_went_out_replaces_them() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            raise ValueError("rendering failed")
        except ValueError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"sorry"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.status == 500
            assert response.header("content-type") == "text/plain"
            assert response.body == b"sorry"

    run(main())


def test_exc_info_after_the_headers_went_out_reraises() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"begun")
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"never"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            data = await wire.wait_closed()
            assert data.endswith(b"\r\n\r\n5\r\nbegun\r\n")
            assert b"never" not in data

    with captured_log() as records:
        run(main())
    assert "late failure" in messages(records)


@pytest.mark.parametrize(
    ("body", "logged"),
    [
        ("no start_response", "before start_response"),
        ("start twice", "start_response called twice"),
        ("bad status", "invalid status"),
        ("text body", "must be bytes"),
        ("text header", "(str, str) pairs in latin-1"),
    ],
)
def test_misuse_is_logged_and_answered_500(body: str, logged: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if body == "no start_response":
            return [b"x"]
        if body == "start twice":
            start_response("200 OK", [])
            start_response("200 OK", [])
        if body == "bad status":
            start_response("OK", [])
        if body == "text body":
            start_response("200 OK", [])
            return iter(["text"])
        if body == "text header":
            start_response("200 OK", [("X-A", "\u2603")])
        return [b"x"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET /misused HTTP/1.1\r\nHost: h\r\n\r\n")
            data = await wire.wait_closed()
            responses, _ = parse_responses(data)
            assert [r.status for r in responses] == [500]

    with captured_log() as records:
        run(main())
    assert logged in messages(records)
    assert "GET /misused" in messages(records)


# wsgi.file_wrapper.


def file_app(path: Path, offset: int = 0, headers: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        file = open(path, "rb")  # noqa: SIM115 (the server closes it)
        file.seek(offset)
        start_response("200 OK", headers or [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](file, 8192)

    return app


def test_file_wrapper_on_a_real_socket_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = bytes(range(256)) * (5 * 4096 + 7)  # ~5 MiB, not a round size
    path.write_bytes(content)
    with serve(file_app(path)) as server, httpx.Client() as client:
        response = client.get(server.url)
        assert response.headers["content-length"] == str(len(content))
        assert response.content == content
        head = client.head(server.url)
        assert head.headers["content-length"] == str(len(content)) and head.content == b""
        again = client.get(server.url)  # the connection stayed in a good state
        assert again.content == content


def test_file_wrapper_from_an_offset_and_a_declared_length(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 20000)
    app = file_app(path, offset=5, headers=[("Content-Length", "100000")])

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
            first, second = await wire.wait_responses(2)
            expected = (b"0123456789" * 20000)[5 : 5 + 100000]
            assert first.body == expected and second.body == expected

    run(main())


def test_file_wrapper_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "small.txt"
    path.write_bytes(b"small file")
    files: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        file = open(path, "rb")  # noqa: SIM115
        files.append(file)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](file)

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"small file"
            await wait_until(lambda: files[0].closed)

    run(main())


def test_file_wrapper_of_a_file_like_without_a_descriptor() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"in memory" * 1000), 1000)

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"in memory" * 1000

    run(main())


# Threads.


def test_the_app_runs_in_the_pool_never_on_the_loop() -> None:
    threads: list[threading.Thread] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        threads.append(threading.current_thread())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve(app) as server:
        for _ in range(3):
            httpx.get(server.url)
        loop_thread = server.thread
    assert len(threads) == 3
    for thread in threads:
        assert thread is not threading.main_thread()
        assert thread is not loop_thread
        assert thread.name.startswith("porch-wsgi")


def test_a_blocking_app_does_not_block_other_connections() -> None:
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/block":
            release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve(app, threads=2) as server:
        blocked = threading.Thread(target=httpx.get, args=(server.url + "/block",))
        blocked.start()
        time.sleep(0.1)
        started = time.monotonic()
        assert httpx.get(server.url + "/free").text == "ok"
        assert time.monotonic() - started < 2
        release.set()
        blocked.join(5)


def test_the_pool_is_bounded() -> None:
    lock = threading.Lock()
    running = 0
    most = 0

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    with serve(app, threads=2) as server:
        workers = [threading.Thread(target=httpx.get, args=(server.url,)) for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
    assert most == 2


# The whole server against wsgiref's validator.


def validated_app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    stream = environ["wsgi.input"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (part for part in (b"a", b"b", b"c"))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]
    if path == "/file":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(__file__, "rb"))
    body = b""
    if "CONTENT_LENGTH" in environ:
        body = stream.read(int(environ["CONTENT_LENGTH"]))
    else:
        while piece := stream.read(7):
            body += piece
        stream.readline()
    data = b"%s %s %s" % (environ["REQUEST_METHOD"].encode(), path.encode(), body)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def test_wsgiref_validator_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    with (
        warnings.catch_warnings(record=True) as caught,
        captured_log() as records,
        serve(validator(validated_app)) as server,
    ):
        warnings.simplefilter("always")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)

        def request(method: str, path: str, body: Any = None, headers: Any = None) -> bytes:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            assert response.status == 200, response.read()
            return response.read()

        assert request("GET", "/x?y=1") == b"GET /x "
        assert request("POST", "/p", body=b"form=1") == b"POST /p form=1"
        chunks = iter([b"chunked ", b"body"])
        assert request("POST", "/c", body=chunks) == b"POST /c chunked body"
        assert request("HEAD", "/h") == b""
        assert request("GET", "/stream") == b"abc"
        assert request("GET", "/write") == b"written returned"
        assert request("GET", "/file") == Path(__file__).read_bytes()
        assert request("PUT", "/u", body=b"") == b"PUT /u "
        connection.close()
    gc.collect()
    assert messages(records) == ""
    assert [str(w.message) for w in caught] == []
    assert unraisable == []


def test_shutdown_does_not_wait_for_a_request_it_cut() -> None:
    release = threading.Event()
    entered = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        entered.set()
        release.wait(30)  # stuck far past the graceful timeout
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"late"]

    outcome: list[str] = []

    def request(url: str) -> None:
        try:
            outcome.append(httpx.get(url, timeout=30).text)
        except httpx.HTTPError as exc:
            outcome.append(type(exc).__name__)

    server = serve(app, timeout_graceful_shutdown=0.3)
    with captured_log():
        running = server.__enter__()
        client = threading.Thread(target=request, args=(running.url,), daemon=True)
        try:
            client.start()
            assert entered.wait(5)
            started = time.monotonic()
            server.__exit__(None, None, None)
            assert not running.thread.is_alive()
            assert time.monotonic() - started < 3.0
        finally:
            release.set()
            client.join(5)
    assert outcome == ["RemoteProtocolError"]  # cut: no response at all


@pytest.mark.parametrize(
    ("status", "line"),
    [
        ("200 OK", b"HTTP/1.1 200 OK\r\n"),
        ("299 Porch Custom", b"HTTP/1.1 299 Porch Custom\r\n"),
        ("404 NOT FOUND", b"HTTP/1.1 404 NOT FOUND\r\n"),  # Werkzeug's spelling, kept
        ("201", b"HTTP/1.1 201 Created\r\n"),
    ],
)
def test_reason_phrase_is_the_applications(status: str, line: bytes) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Type", "text/plain")])
        return [b"x"]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)
            assert wire.written().startswith(line)

    run(main())


def test_reason_phrase_with_a_control_character_is_refused() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK\r\nX-Injected: 1", [("Content-Type", "text/plain")])
        return [b"x"]

    async def main() -> bytes:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    assert data.startswith(b"HTTP/1.1 500 ") and b"X-Injected" not in data
    assert "invalid status" in messages(records)


def test_a_thread_outliving_the_loop_gets_a_disconnect() -> None:
    loop = asyncio.new_event_loop()
    loop.close()

    async def work() -> int:
        return 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ClientDisconnected):
            on_loop(loop, work())
        gc.collect()
    assert [str(w.message) for w in caught] == []  # no "coroutine was never awaited"


def test_repeated_content_type_keeps_the_first() -> None:
    seen: dict[str, str] = {}

    def app(environ: dict[str, object], start_response: object) -> list[bytes]:
        seen["type"] = str(environ["CONTENT_TYPE"])
        start_response("200 OK", [("Content-Length", "0")])  # type: ignore[operator]
        return []

    with serve(app) as server, RawClient(server.port) as client:
        client.send(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
            b"Content-Type: application/json\r\nContent-Length: 0\r\n\r\n"
        )
        status, _, _ = client.read_response()
    assert status == 200
    assert seen["type"] == "text/plain"
