"""ASGI 3 `http` scope (`porch/server/asgi.py`): the scope, receive and send, exactly per spec."""

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.http.errors import ClientDisconnected
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

GENERIC_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 26\r\n"
    b"connection: close\r\n" + HEADER_LINES + b"\r\n500 Internal Server Error\n"
)


async def reply(send: Any, body: bytes = b"ok", status: int = 200) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def scopes_of(request: bytes, count: int = 1, **settings: Any) -> list[dict[str, Any]]:
    """The scopes an application receives for `request` (on a FakeTransport)."""
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await reply(send)

    async def main() -> None:
        async with Wire(app, **settings) as wire:
            wire.send(request)
            await wire.wait_responses(count)

    run(main())
    return scopes


# The scope.


def test_scope_keys_and_types() -> None:
    (scope,) = scopes_of(
        b"GET /caf%C3%A9/a%2Fb?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\n"
        b"X-Custom: Value\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n"
    )
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert isinstance(scope["asgi"]["spec_version"], str)
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a/b"
    assert scope["raw_path"] == b"/caf%C3%A9/a%2Fb"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["root_path"] == ""
    assert [tuple(h) for h in scope["headers"]] == [
        (b"host", b"example.com"),
        (b"x-custom", b"Value"),
        (b"x-dup", b"1"),
        (b"x-dup", b"2"),
    ]
    assert scope["client"] == ("127.0.0.1", 50000)
    assert scope["server"] == ("127.0.0.1", 8000)
    assert "http.response.pathsend" in scope["extensions"]
    assert "state" not in scope  # no lifespan state was set up


def test_scope_types_strictly() -> None:
    (scope,) = scopes_of(b"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
    for key in ("type", "http_version", "method", "scheme", "path", "root_path"):
        assert type(scope[key]) is str, key
    for key in ("raw_path", "query_string"):
        assert type(scope[key]) is bytes, key
    for name, value in scope["headers"]:
        assert type(name) is bytes and type(value) is bytes
        assert name == name.lower()
    host, port = scope["client"]
    assert type(host) is str and type(port) is int


def test_path_with_undecodable_bytes() -> None:
    (scope,) = scopes_of(b"GET /%FF%2e HTTP/1.1\r\nHost: h\r\n\r\n")
    assert scope["path"] == "/\ufffd."
    assert scope["raw_path"] == b"/%FF%2e"


def test_http_10_scope() -> None:
    (scope,) = scopes_of(b"GET /x HTTP/1.0\r\n\r\n")
    assert scope["http_version"] == "1.0"
    assert scope["headers"] == []


def test_root_path_is_part_of_path() -> None:
    (scope,) = scopes_of(b"GET /users?a=1 HTTP/1.1\r\nHost: h\r\n\r\n", root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/users"
    assert scope["raw_path"] == b"/api/users"
    assert scope["query_string"] == b"a=1"


def test_each_request_gets_its_own_scope() -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append({"extensions": dict(scope["extensions"]), "asgi": dict(scope["asgi"])})
        # Middleware may write into the scope; the next request must not see it.
        scope["extensions"]["x.custom"] = {}
        scope["asgi"]["x"] = 1
        scope["headers"].append((b"x-added", b"1"))
        await reply(send)

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
            await wire.wait_responses(2)

    run(main())
    assert seen[0] == seen[1]
    assert "x.custom" not in seen[1]["extensions"]


# receive().


def test_receive_gives_a_chunked_body_in_order() -> None:
    received: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message)
            if not message.get("more_body"):
                break
        await reply(send, b"".join(m["body"] for m in received))

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"3\r\nabc\r\n", b"2\r\nde\r\n", b"0\r\n\r\n"):
                await wire.settle(5)
                wire.send(piece)
            (response,) = await wire.wait_responses(1)
            assert response.body == b"abcde"

    run(main())
    assert all(m["type"] == "http.request" for m in received)
    assert all(type(m["body"]) is bytes for m in received)
    assert [m["more_body"] for m in received][-1] is False
    assert all(m["more_body"] for m in received[:-1])
    assert len(received) >= 2


def test_receive_without_a_body() -> None:
    received: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        received.append(await receive())
        await reply(send)

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)

    run(main())
    assert received == [{"type": "http.request", "body": b"", "more_body": False}]


def test_receive_after_the_body_waits_for_the_disconnect() -> None:
    waiting: list[asyncio.Task[Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        waiting.append(asyncio.current_task())  # type: ignore[arg-type]
        message = await receive()  # how an SSE app learns the client left
        waiting.append(message)  # type: ignore[arg-type]

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wait_until(lambda: waiting)
            await wire.settle(10)
            assert len(waiting) == 1  # still waiting
            wire.protocol.connection_lost(None)
            await wait_until(lambda: len(waiting) == 2)
            assert waiting[1] == {"type": "http.disconnect"}

    run(main())


def test_receive_after_the_response_is_a_disconnect() -> None:
    received: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await reply(send)
        received.append(await receive())

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)
            await wait_until(lambda: received)
            assert not wire.transport.closed

    run(main())
    assert received == [{"type": "http.disconnect"}]


def test_disconnect_while_reading_the_body() -> None:
    received: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            received.append(message)
            if message["type"] == "http.disconnect":
                return

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
            await wait_until(lambda: received)
            wire.protocol.connection_lost(ConnectionResetError())
            await wait_until(lambda: received[-1]["type"] == "http.disconnect")
            await wait_until(lambda: wire.protocol.state.active_requests == 0)

    with captured_log() as records:
        run(main())
    assert received[0] == {"type": "http.request", "body": b"abc", "more_body": True}
    assert messages(records) == ""  # a client leaving is not an application error


def test_send_after_disconnect_raises_oserror() -> None:
    raised: list[BaseException] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"
        try:
            await send({"type": "http.response.body", "body": b"b", "more_body": True})
        except OSError as exc:
            raised.append(exc)
            raise

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wait_until(lambda: b"1\r\na\r\n" in wire.written())
            wire.protocol.connection_lost(None)
            await wait_until(lambda: raised)

    with captured_log() as records:
        run(main())
    assert isinstance(raised[0], ClientDisconnected)
    assert messages(records) == ""


def test_body_over_the_limit_mid_read() -> None:
    events: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            events.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        try:
            await reply(send, b"too late")
        except OSError as exc:
            events.append(type(exc).__name__)

    async def main() -> None:
        async with Wire(app, limit_request_body=10) as wire:
            wire.send(
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"
            )
            await wait_until(lambda: events)
            wire.send(b"8\r\nefghijkl\r\n")
            data = await wire.wait_closed()
            (response,), _ = parse_responses(data)
            assert response.status == 413
            await wait_until(lambda: len(events) == 3)

    with captured_log() as records:
        run(main())
    assert events == ["http.request", "http.disconnect", "ClientDisconnected"]
    assert messages(records) == ""


# send(): responses.


def test_streamed_response_with_a_content_length() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send(
            {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"6")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def", "more_body": False})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wire.wait_responses(1)
            assert wire.written() == (
                b"HTTP/1.1 201 Created\r\ncontent-length: 6\r\n" + HEADER_LINES + b"\r\nabcdef"
            )
            assert not wire.transport.closed

    run(main())


def test_body_message_defaults_and_bytes_like() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": bytearray(b"ab"), "more_body": True})
        await send({"type": "http.response.body", "body": memoryview(b"cd"), "more_body": True})
        await send({"type": "http.response.body"})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"abcd"

    run(main())


def test_headers_keep_their_order_and_repeats() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(b"Set-Cookie", b"a=1"), (b"X-Other", b"x"), (b"set-cookie", b"b=2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.headers[:3] == [
                ("set-cookie", "a=1"),
                ("x-other", "x"),
                ("set-cookie", "b=2"),
            ]
            assert response.header("content-length") == "0"

    run(main())


def test_pathsend(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 4096  # 1 MiB: past the small-file threshold
    path.write_bytes(content)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(path)})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
            get, head = await wire.wait_responses(2)
            assert get.header("content-length") == str(len(content))
            assert get.body == content
            assert head.header("content-length") == str(len(content))
            assert wire.written().endswith(b"\r\n\r\n")

    run(main())

    with serve(app) as server:
        response = httpx.get(server.url + "/")
    assert response.content == content


def test_pathsend_of_a_missing_file_is_500(tmp_path: Path) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.pathsend", "path": str(tmp_path / "missing")})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            assert await wire.wait_closed() == GENERIC_500

    with captured_log() as records:
        run(main())
    assert "FileNotFoundError" in messages(records)


# Errors and misuse of the protocol: logged clearly, answered with a generic 500.


async def body_first(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.body", "body": b"x"})


async def start_twice(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def status_not_a_number(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": "OK", "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


async def status_out_of_range(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 42, "headers": []})
    await send({"type": "http.response.body", "body": b"x"})


async def header_as_text(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [("x-a", "b")]})
    await send({"type": "http.response.body", "body": b"x"})


async def header_with_newline(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"x-a", b"b\r\nSet-Cookie: evil=1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"x"})


async def body_as_text(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": "text"})


async def unknown_message(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.bogus"})


async def returns_without_response(scope: Any, receive: Any, send: Any) -> None:
    await receive()


async def returns_a_value(scope: Any, receive: Any, send: Any) -> Any:
    return "a response?"


async def raises_at_once(scope: Any, receive: Any, send: Any) -> None:
    raise ValueError("secret-value")


@pytest.mark.parametrize(
    ("app", "logged"),
    [
        (body_first, "expected 'http.response.start'"),
        (start_twice, "'http.response.start' sent twice"),
        (status_not_a_number, "malformed 'http.response.start'"),
        (status_out_of_range, "status 42"),
        (header_as_text, "malformed 'http.response.start'"),
        (header_with_newline, "CR, LF or NUL"),
        (body_as_text, "'body' must be bytes, not str"),
        (unknown_message, "unexpected message 'http.response.bogus'"),
        (returns_without_response, "returned without starting a response"),
        (returns_a_value, "returned 'a response?'"),
        (raises_at_once, "ValueError: secret-value"),
    ],
    ids=lambda value: getattr(value, "__name__", "")[:20],
)
def test_misuse_is_logged_and_answered_500(app: Any, logged: str) -> None:
    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET /where HTTP/1.1\r\nHost: h\r\n\r\n")
            assert await wire.wait_closed() == GENERIC_500

    with captured_log() as records:
        run(main())
    text = messages(records)
    assert "GET /where" in text
    assert logged in text


def test_returning_in_the_middle_of_a_response_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            data = await wire.wait_closed()
            assert data.endswith(b"\r\n\r\n4\r\nhalf\r\n")  # no last chunk: cut short

    with captured_log() as records:
        run(main())
    assert "returned without completing a response" in messages(records)


def test_sending_after_the_response_completed() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await reply(send, b"done")
        await send({"type": "http.response.body", "body": b"more"})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            (response,) = await wire.wait_responses(1)
            assert response.body == b"done"
            await wire.settle(10)
            assert not wire.transport.closed  # the response was whole: the connection goes on

    with captured_log() as records:
        run(main())
    assert "sent after the response completed" in messages(records)


def test_exception_after_a_complete_response_keeps_the_connection() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await reply(send, b"fine")
        raise RuntimeError("background work failed")

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
            responses = await wire.wait_responses(2)
            assert [r.body for r in responses] == [b"fine", b"fine"]

    with captured_log() as records:
        run(main())
    assert "background work failed" in messages(records)


def test_response_longer_than_its_content_length_is_cut() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"3")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abcdef"})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
            data = await wire.wait_closed()
            responses, rest = parse_responses(data)
            assert [r.body for r in responses] == [b"abc"] and rest == b""

    with captured_log() as records:
        run(main())
    assert "longer than its Content-Length" in messages(records)


def test_response_shorter_than_its_content_length_closes() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc"})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" * 2)
            data = await wire.wait_closed()
            assert data.endswith(b"\r\n\r\nabc")

    with captured_log() as records:
        run(main())
    assert "shorter than its Content-Length" in messages(records)


def test_an_app_that_is_an_object_with_async_call() -> None:
    class App:
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                await reply(send, b"object")

    with serve(App()) as server:
        assert httpx.get(server.url).text == "object"


def test_e2e_scope_on_a_real_socket() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scopes.append(scope)
            await reply(send)

    with serve(app) as server:
        httpx.get(server.url + "/a%20b?c=d", headers={"X-Test": "1"})
    (scope,) = scopes
    assert scope["server"] == ("127.0.0.1", server.port)
    assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
    assert scope["path"] == "/a b" and scope["query_string"] == b"c=d"
    assert (b"x-test", b"1") in [tuple(h) for h in scope["headers"]]


def test_concurrent_connections_run_concurrently() -> None:
    started = asyncio.Event()
    count = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal count
        if scope["type"] != "http":
            return
        count += 1
        if count == 2:
            started.set()
        await asyncio.wait_for(started.wait(), 5)  # both must be in flight at once
        await reply(send)

    with serve(app) as server, httpx.Client() as first, httpx.Client() as second:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(c.get, server.url) for c in (first, second)]
            assert [f.result(10).status_code for f in futures] == [200, 200]


def test_log_level_of_a_client_disconnect_is_debug() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b"b", "more_body": True})

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wait_until(lambda: wire.written())
            wire.protocol.connection_lost(None)
            await wait_until(lambda: wire.protocol.state.active_requests == 0)

    with captured_log() as records:
        run(main())
    assert messages(records) == ""
    assert any("disconnected" in r.getMessage() for r in records if r.levelno == logging.DEBUG)


class ClientGone(Exception):
    """What frameworks raise on http.disconnect (Starlette's ClientDisconnect)."""


async def returns_on_disconnect(scope: Any, receive: Any, send: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def raises_on_disconnect(scope: Any, receive: Any, send: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    raise ClientGone


@pytest.mark.parametrize("app", [returns_on_disconnect, raises_on_disconnect])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["length", "chunked"],
)
def test_body_cut_short_by_eof_is_400(app: Any, request_bytes: bytes) -> None:
    async def main() -> bytes:
        async with Wire(app) as wire:
            wire.send(request_bytes)
            await wire.settle(5)
            wire.protocol.eof_received()  # the client half-closed inside the body
            return await wire.wait_closed()

    with captured_log() as records:
        data = run(main())
    (response,), _ = parse_responses(data)
    assert response.status == 400  # the request's fault, not the application's
    assert response.body == b"400 Request body cut short\n"
    assert messages(records) == ""


def wrapped_disconnect(wrap: Any) -> Any:
    """An app that streams, and once its send fails (the client left) raises what `wrap`
    makes of that error, as frameworks do."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"a", "more_body": True})
                await asyncio.sleep(0.01)
        except OSError as exc:
            raise wrap(exc) from exc

    return app


def starlette_stream() -> Any:
    from starlette.responses import StreamingResponse

    async def forever() -> Any:
        while True:
            yield b"a"
            await asyncio.sleep(0.01)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await StreamingResponse(forever())(scope, receive, send)

    return app


def leave_a_stream(app: Any) -> list[logging.LogRecord]:
    """The log of `app` streaming a response to a client that leaves after its first bytes."""

    async def main() -> None:
        async with Wire(app) as wire:
            wire.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
            await wait_until(lambda: b"a" in wire.written())
            wire.protocol.connection_lost(None)
            await wait_until(lambda: wire.protocol.state.active_requests == 0)
            await asyncio.sleep(0.05)

    with captured_log() as records:
        run(main())
    return records


@pytest.mark.parametrize(
    "app",
    [
        wrapped_disconnect(lambda exc: ClientGone()),
        wrapped_disconnect(lambda exc: ExceptionGroup("in a task group", [exc])),
        wrapped_disconnect(lambda exc: BaseExceptionGroup("nested", [ExceptionGroup("x", [exc])])),
        starlette_stream(),
    ],
    ids=["own-exception", "exception-group", "nested-groups", "starlette"],
)
def test_a_client_leaving_a_stream_is_no_application_error(app: Any) -> None:
    """Whatever a framework wraps the disconnect in, it is logged at debug, not as an error."""
    records = leave_a_stream(app)
    assert messages(records) == ""
    assert any("disconnected" in r.getMessage() for r in records if r.levelno == logging.DEBUG)


def test_an_error_unrelated_to_the_disconnect_is_still_logged() -> None:
    """A real bug that surfaces as the client leaves is an error still."""
    app = wrapped_disconnect(lambda exc: ExceptionGroup("two", [exc, KeyError("bug")]))
    assert "Exception in the application" in messages(leave_a_stream(app))
