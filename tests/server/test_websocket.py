"""WebSockets under `porch run` (porch/server/websocket.py): the ASGI `websocket` scope
driven by the `websockets` client library and by raw frames, in a real server."""

import asyncio
import base64
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support import ROOT, PorchProcess, RawClient, ThreadServer

Events = list[dict[str, Any]]


def echo_app(events: Events | None = None, **accept: Any) -> Any:
    """An ASGI app that accepts (with `accept`'s subprotocol and headers) and echoes every
    message; `events` records what it received."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", **accept})
        while True:
            message = await receive()
            if events is not None:
                events.append(message)
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close please":
                await send({"type": "websocket.close", "code": 4001, "reason": "as asked"})
                continue
            reply = {k: v for k, v in message.items() if k in ("text", "bytes") and v is not None}
            await send({"type": "websocket.send", **reply})

    return app


def ws_url(server: ThreadServer, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def test_text_and_bytes_are_echoed() -> None:
    events: Events = []
    with ThreadServer(echo_app(events)) as server:
        with connect(ws_url(server)) as ws:
            ws.send("héllo")
            assert ws.recv() == "héllo"
            ws.send(b"\x00\xff" * 1000)
            assert ws.recv() == b"\x00\xff" * 1000
        deadline = time.monotonic() + 5
        while not events or events[-1]["type"] != "websocket.disconnect":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert events[-1] == {"type": "websocket.disconnect", "code": 1000, "reason": ""}


def test_scope_subprotocol_and_accept_headers() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        scopes.append(scope)
        await receive()
        await send(
            {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-room", b"1")]}
        )
        await send({"type": "websocket.send", "text": "hi"})
        await send({"type": "websocket.close"})

    url = "/ws/a%20b?x=1"
    with (
        ThreadServer(app) as server,
        connect(ws_url(server, url), subprotocols=["chat", "x"]) as ws,
    ):
        assert ws.subprotocol == "chat"
        assert ws.response.headers["x-room"] == "1"
        assert ws.recv() == "hi"
        with pytest.raises(ConnectionClosed):
            ws.recv()
    scope = scopes[0]
    assert scope["type"] == "websocket" and scope["scheme"] == "ws"
    assert scope["path"] == "/ws/a b" and scope["raw_path"] == b"/ws/a%20b"
    assert scope["query_string"] == b"x=1"
    assert scope["subprotocols"] == ["chat", "x"]
    assert "websocket.http.response" in scope["extensions"]
    assert "method" not in scope


def test_compression_is_negotiated() -> None:
    with ThreadServer(echo_app()) as server, connect(ws_url(server)) as ws:
        assert "permessage-deflate" in ws.response.headers["sec-websocket-extensions"]
        ws.send("x" * 100_000)
        assert ws.recv() == "x" * 100_000
    with (
        ThreadServer(echo_app(), ws_per_message_deflate=False) as server,
        connect(ws_url(server)) as ws,
    ):
        assert "sec-websocket-extensions" not in ws.response.headers


def test_refusals_before_accept() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        if scope["path"] == "/closed":
            await send({"type": "websocket.close"})
        else:
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"text/plain")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": b"who are you?"})

    with ThreadServer(app) as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(server, "/closed"))
        assert refused.value.response.status_code == 403
        with pytest.raises(InvalidStatus) as denied:
            connect(ws_url(server, "/denied"))
        assert denied.value.response.status_code == 401
        assert denied.value.response.body == b"who are you?"


def handshake(path: str = "/ws", **headers: str) -> bytes:
    fields = {
        "Host": "a",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value)
    return f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode()


@pytest.mark.parametrize(
    ("request_bytes", "why"),
    [
        (handshake(Sec_WebSocket_Key=""), b"Sec-WebSocket-Key"),
        (handshake(Sec_WebSocket_Key="c2hvcnQ="), b"Sec-WebSocket-Key"),
        (handshake(Sec_WebSocket_Version="8"), b"Sec-WebSocket-Version"),
        (handshake().replace(b"GET", b"PUT", 1), b"must be a GET"),
        (handshake().replace(b"HTTP/1.1", b"HTTP/1.0", 1), b"HTTP/1.1"),
    ],
)
def test_bad_handshakes_get_400_and_never_reach_the_app(request_bytes: bytes, why: bytes) -> None:
    calls: Events = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            calls.append(scope)

    with ThreadServer(app) as server:
        client = RawClient(server.port)
        client.send(request_bytes)
        status, _headers, body = client.read_response()
    assert status == 400 and why in body, body
    assert calls == []


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0
) -> bytes:
    """One client frame, as RFC 6455 §5.2 lays it out."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def open_raw(port: int) -> socket.socket:
    """A raw connection past the handshake (the 101 read)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(handshake())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def close_code(sock: socket.socket) -> int:
    """The code of the server's close frame, reading past any other frame."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, "closed without a close frame"
        data += chunk
        while len(data) >= 2:
            opcode, length = data[0] & 0x0F, data[1] & 0x7F
            offset = 2
            if length == 126:
                (length,) = struct.unpack("!H", data[2:4])
                offset = 4
            if len(data) < offset + length:
                break
            payload, data = data[offset : offset + length], data[offset + length :]
            if opcode == 0x8:
                return int(struct.unpack("!H", payload[:2])[0])


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        (frame(0x1, b"hi", mask=False), 1002),  # a client must mask
        (frame(0x3, b"hi"), 1002),  # a reserved opcode
        (frame(0x1, b"hi", rsv=0b100), 1002),  # a reserved bit, no extension agreed
        (frame(0x0, b"hi"), 1002),  # a continuation with nothing to continue
        (frame(0x1, b"\xff\xfe"), 1007),  # text that is not UTF-8
        (frame(0x1, b"\xc3", fin=False) + frame(0x0, b"\x28"), 1007),  # split, still not
        (frame(0x2, b"x" * 2000), 1009),  # past --ws-max-size
    ],
)
def test_protocol_violations_close_with_their_code(sent: bytes, code: int) -> None:
    with ThreadServer(echo_app(), ws_max_size=1000) as server:
        sock = open_raw(server.port)
        sock.sendall(sent)
        assert close_code(sock) == code
        sock.close()


def test_fragments_make_one_message() -> None:
    with ThreadServer(echo_app()) as server:
        sock = open_raw(server.port)
        sock.sendall(frame(0x1, "hé".encode()[:2], fin=False) + frame(0x0, "hé".encode()[2:]))
        reply = sock.recv(100)
        assert reply == b"\x81\x03" + "hé".encode()
        sock.close()


def test_close_codes_both_ways() -> None:
    events: Events = []
    with ThreadServer(echo_app(events)) as server:
        with connect(ws_url(server)) as ws:
            ws.send("close please")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "as asked")
        with connect(ws_url(server)) as ws:
            ws.close(4002, "bye")
        deadline = time.monotonic() + 5
        while sum(e["type"] == "websocket.disconnect" for e in events) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    disconnects = [e for e in events if e["type"] == "websocket.disconnect"]
    assert disconnects[0]["code"] == 4001
    assert disconnects[1] == {"type": "websocket.disconnect", "code": 4002, "reason": "bye"}


def test_a_peer_that_does_not_answer_pings_is_closed() -> None:
    with ThreadServer(echo_app(), ws_ping_interval=0.3, ws_ping_timeout=0.3) as server:
        sock = open_raw(server.port)
        started = time.monotonic()
        assert close_code(sock) == 1011  # a ping came and went unanswered
        assert 0.5 <= time.monotonic() - started < 3
        sock.close()


def test_big_messages_up_to_the_limit() -> None:
    size = 16 * 1024 * 1024
    with (
        ThreadServer(echo_app()) as server,
        connect(ws_url(server), max_size=None, compression=None) as ws,
    ):
        ws.send(b"\x01" * size)
        assert len(ws.recv()) == size
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(b"\x01" * (size + 1))
            ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_shutdown_closes_open_sockets_with_1001() -> None:
    with ThreadServer(echo_app()) as server, connect(ws_url(server)) as ws:
        ws.send("still here")
        assert ws.recv() == "still here"
        server.server.stop_threadsafe()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_wsgi_and_ws_none_refuse_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"plain"]

    caplog.set_level(logging.WARNING, logger="porch.error")
    for app, options, reason in (
        (wsgi, {}, "WSGI applications cannot take WebSocket connections"),
        (echo_app(), {"ws": "none"}, "--ws none"),
    ):
        with ThreadServer(app, **options) as server:
            for _ in range(2):
                with pytest.raises(InvalidStatus) as refused:
                    connect(ws_url(server))
                assert refused.value.response.status_code == 400
        assert sum(reason in record.getMessage() for record in caplog.records) == 1


def test_starlette_and_fastapi_websocket_routes() -> None:
    from fastapi import FastAPI, WebSocket
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def starlette_echo(websocket: Any) -> None:
        await websocket.accept()
        name = await websocket.receive_text()
        await websocket.send_json({"hello": name})
        await websocket.close()

    fastapi = FastAPI()

    @fastapi.websocket("/ws/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"{room}: {text}")

    starlette = Starlette(routes=[WebSocketRoute("/ws", starlette_echo)])
    with ThreadServer(starlette) as server:
        with connect(ws_url(server)) as ws:
            ws.send("porch")
            assert ws.recv() == '{"hello":"porch"}'
        with pytest.raises(InvalidStatus) as missing:
            connect(ws_url(server, "/nowhere"))
        assert missing.value.response.status_code == 403
    with ThreadServer(fastapi) as server, connect(ws_url(server, "/ws/lobby")) as ws:
        ws.send("hi")
        assert ws.recv() == "lobby: hi"


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_dropped_connection_is_a_1006_disconnect() -> None:
    events: Events = []
    with ThreadServer(echo_app(events)) as server:
        sock = open_raw(server.port)
        sock.sendall(frame(0x1, b"one"))
        assert sock.recv(100) == b"\x81\x03one"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, no close frame
        wait_for(lambda: events and events[-1]["type"] == "websocket.disconnect")
    assert events[-1]["code"] == 1006


def test_application_failures(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        if scope["path"] == "/returns":
            return  # neither accepts nor refuses: a bug, answered 500
        if scope["path"] == "/raises-before":
            raise ValueError("before the handshake")
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("after the handshake")

    caplog.set_level(logging.ERROR, logger="porch.error")
    with ThreadServer(app) as server:
        for path in ("/returns", "/raises-before"):
            with pytest.raises(InvalidStatus) as failed:
                connect(ws_url(server, path))
            assert failed.value.response.status_code == 500
            assert b"Traceback" not in failed.value.response.body
        with connect(ws_url(server, "/raises-after")) as ws:
            ws.send("boom")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    failures = [r for r in caplog.records if "Exception in the application" in r.getMessage()]
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == [
        "ASGI: the application returned without accepting or refusing the WebSocket",
        "before the handshake",
        "after the handshake",
    ]


def test_a_handshake_left_unanswered_is_closed(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await receive()
            await asyncio.sleep(60)  # forgets to answer

    with ThreadServer(app, timeout_request_header=0.5) as server:
        client = RawClient(server.port)
        client.send(handshake())
        started = time.monotonic()
        assert client.read_until_close(timeout=5) == b""
        assert time.monotonic() - started < 3
    assert any("neither accepted nor refused" in r.getMessage() for r in caplog.records)


def test_frames_sent_with_the_handshake_are_kept() -> None:
    with ThreadServer(echo_app()) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(handshake() + frame(0x1, b"early") + frame(0x1, b"bird"))
        data = b""
        while data.count(b"\x81") < 2 or not data.endswith(b"bird"):
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert data.split(b"\r\n\r\n", 1)[1] == b"\x81\x05early\x81\x04bird"
        sock.close()


def test_a_client_that_does_not_read_makes_send_wait() -> None:
    """The application's sends wait for a client that reads nothing (nothing piles up in the
    server), and the client is dropped once it has read nothing for --timeout-send."""
    sent: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        try:
            while True:
                await send({"type": "websocket.send", "bytes": b"x" * 65536})
                sent.append(1)
        except OSError:
            pass  # the client was dropped

    with ThreadServer(app, timeout_send=1.0) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(handshake())
        time.sleep(0.5)
        stalled = len(sent)
        time.sleep(0.5)
        assert len(sent) == stalled  # waiting, not buffering
        assert stalled * 65536 < 16 * 1024 * 1024  # the socket buffers and a high-water mark
        wait_for(lambda: server.server.state is not None and not server.server.state.connections)
        sock.close()


def test_wss_over_tls(tmp_path: Path) -> None:
    from tests.server.test_tls import Certificates

    certs = Certificates(tmp_path)
    context = ssl.create_default_context(cafile=str(certs.ca))
    scopes: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scopes.append(scope["scheme"])
            await echo_app()(scope, receive, send)

    with (
        ThreadServer(app, ssl_certfile=str(certs.cert), ssl_keyfile=str(certs.key)) as server,
        connect(f"wss://127.0.0.1:{server.port}/ws", ssl=context) as ws,
    ):
        ws.send("secret")
        assert ws.recv() == "secret"
    assert scopes == ["wss"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=64),
            st.builds(
                frame,
                st.integers(0, 15),
                st.binary(max_size=200),
                fin=st.booleans(),
                mask=st.booleans(),
                rsv=st.integers(0, 7),
            ),
        ),
        max_size=6,
    )
)
def test_fuzzed_frames_never_break_the_server(
    fuzz_server: ThreadServer, pieces: list[bytes]
) -> None:
    sock = open_raw(fuzz_server.port)
    try:
        for piece in pieces:
            sock.sendall(piece)
    except OSError:
        pass  # closed on us, as it may
    sock.close()
    # The server still serves, and no connection or task is left behind for long.
    with connect(ws_url(fuzz_server)) as ws:
        ws.send("alive")
        assert ws.recv() == "alive"


def tasks_of(server: ThreadServer) -> int:
    """How many tasks the server's loop holds (asked on its own thread)."""
    state = server.server.state
    assert state is not None

    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), state.loop).result(5)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ThreadServer]:
    with ThreadServer(echo_app(), ws_max_size=4096) as server:
        before = tasks_of(server)
        yield server
        state = server.server.state
        assert state is not None
        wait_for(lambda: not state.connections, timeout=10)
        wait_for(lambda: tasks_of(server) <= before, timeout=10)  # no task left behind


def read_frames(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """`count` server frames: (opcode, payload)."""
    data, frames = b"", []
    while len(frames) < count:
        chunk = sock.recv(65536)
        assert chunk, frames
        data += chunk
        while len(data) >= 2:
            length, offset = data[1] & 0x7F, 2
            if length == 126:
                (length,), offset = struct.unpack("!H", data[2:4]), 4
            if len(data) < offset + length:
                break
            frames.append((data[0] & 0x0F, data[offset : offset + length]))
            data = data[offset + length :]
    return frames


def test_whole_frames_and_control_frames_in_one_read() -> None:
    """Several frames in one piece of data, control frames among them, of every length
    encoding up to 16 bits: each answered, in order."""
    with ThreadServer(echo_app()) as server:
        sock = open_raw(server.port)
        medium = os.urandom(300)
        sock.sendall(
            frame(0x1, b"a")
            + frame(0x9, b"ping!")
            + frame(0x2, medium)
            + frame(0x1, "é".encode() * 100)
        )
        frames = read_frames(sock, 4)
        assert (0xA, b"ping!") in frames  # the pong
        echoes = [item for item in frames if item[0] != 0xA]
        assert echoes == [(0x1, b"a"), (0x2, medium), (0x1, "é".encode() * 100)]
        sock.close()


def test_a_django_channels_consumer() -> None:
    app = "tests.apps.django_app.asgi_channels:application"
    with PorchProcess(["run", app, "--no-access-log"], cwd=ROOT) as process:
        process.wait_ready(timeout=30)
        url = f"ws://127.0.0.1:{process.port}"
        with connect(f"{url}/ws/echo/") as ws:
            ws.send("hello")
            assert ws.recv() == "django: hello"
            ws.send(b"\x00\x01")
            assert ws.recv() == b"\x00\x01"
    assert "Traceback" not in process.output, process.output


def test_a_porch_app_keeps_its_native_path_and_serves_a_mounted_apps_websockets() -> None:
    """Under porch run an App answers HTTP natively, while a WebSocket handshake goes through
    its ASGI face to the Starlette application mounted under /chat."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from porch import App
    from porch.server.native import NativeAdapter

    paths: list[tuple[str, str]] = []

    async def room(websocket: Any) -> None:
        paths.append((websocket.scope["root_path"], websocket.scope["path"]))
        await websocket.accept()
        await websocket.send_text(f"room {websocket.path_params['name']}")
        await websocket.close()

    app = App(__name__)
    app.mount("/chat", Starlette(routes=[WebSocketRoute("/rooms/{name}", room)]))

    @app.get("/")
    def home() -> str:
        return "home"

    with ThreadServer(app) as server:
        state = server.server.state
        assert state is not None and isinstance(state.config.adapter, NativeAdapter)
        with connect(ws_url(server, "/chat/rooms/blue")) as ws:
            assert ws.recv() == "room blue"
        with pytest.raises(InvalidStatus) as unrouted:
            connect(ws_url(server, "/elsewhere"))
        assert unrouted.value.response.status_code == 403
    assert paths == [("/chat", "/chat/rooms/blue")]


def test_a_native_application_without_an_asgi_face_refuses() -> None:
    from porch.http.native import Response

    class Native:
        async def __porch_http__(self, head: Any, body: Any) -> Response:
            return Response(200, [], b"native")

    with ThreadServer(Native()) as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(server))
        assert refused.value.response.status_code == 400
