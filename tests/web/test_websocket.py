"""WebSocket routes of a porch App (porch/web/websocket.py), under porch run, with the
`websockets` client: parameters and dependencies, refusals, failures and close codes."""

import json
import logging
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from porch import App, Cookie, Depends, Header, Router, WebSocket, WebSocketDisconnect, abort
from porch.web.routing import RouteError
from tests.support import ThreadServer


class Greeting(msgspec.Struct):
    text: str


def user_of(x_user: Annotated[str | None, Header()] = None) -> str:
    if x_user is None:
        abort(401, "who are you?")
    return x_user


def make_app(events: list[Any]) -> App:
    app = App(__name__)
    rooms = Router("/rooms")

    @rooms.websocket("/<int:number>", name="room")
    async def room(
        ws: WebSocket,
        number: int,
        user: Annotated[str, Depends(user_of)],
        theme: Annotated[str, Cookie()] = "light",
    ) -> None:
        await ws.accept(subprotocol="chat" if "chat" in ws.subprotocols else None)
        await ws.send_json({"room": number, "user": user, "theme": theme, "client": ws.client})
        try:
            async for message in ws.iter_text():
                await ws.send_text(message.upper())
        finally:
            events.append("left")

    app.include(rooms)

    @app.websocket("/strict")
    async def strict(ws: WebSocket) -> None:
        await ws.accept()
        try:
            if ws.query.get("kind") == "json":
                events.append(await ws.receive_json())
            else:
                events.append(await ws.receive_text())
        except WebSocketDisconnect as exc:
            events.append(exc.code)
            raise

    @app.websocket("/fails")
    async def fails(ws: WebSocket) -> None:
        if ws.query.get("when") == "before":
            raise RuntimeError("before accepting")
        if ws.query.get("when") == "silent":
            return  # neither accepts nor refuses
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("after accepting")

    @app.get("/where")
    def where() -> str:
        return app.url_for("room", number=7)

    return app


@pytest.fixture
def events() -> list[Any]:
    return []


@pytest.fixture
def server(events: list[Any]) -> Iterator[str]:
    with ThreadServer(make_app(events)) as running:
        yield f"ws://127.0.0.1:{running.port}"


def test_parameters_dependencies_and_messages(server: str, events: list[Any]) -> None:
    headers = {"X-User": "ann", "Cookie": "theme=dark"}
    with connect(f"{server}/rooms/3", additional_headers=headers, subprotocols=["chat"]) as ws:
        assert ws.subprotocol == "chat"
        hello = json.loads(ws.recv())
        assert hello["room"] == 3 and hello["user"] == "ann" and hello["theme"] == "dark"
        assert hello["client"][0] == "127.0.0.1"
        ws.send("quiet")
        assert ws.recv() == "QUIET"
    wait_for(lambda: events == ["left"])


def wait_for(condition: Any) -> None:
    import time

    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_refusals_before_accept(server: str) -> None:
    with pytest.raises(InvalidStatus) as anonymous:
        connect(f"{server}/rooms/3")  # the dependency aborts: 401, its message
    assert anonymous.value.response.status_code == 401
    assert b"who are you?" in anonymous.value.response.body
    with pytest.raises(InvalidStatus) as not_a_number:
        connect(f"{server}/rooms/three", additional_headers={"X-User": "a"})
    assert not_a_number.value.response.status_code == 403  # no such route
    with pytest.raises(InvalidStatus) as silent:
        connect(f"{server}/fails?when=silent")
    assert silent.value.response.status_code == 403


def test_failures_are_logged_and_answered(server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="porch.error")
    with pytest.raises(InvalidStatus) as before:
        connect(f"{server}/fails?when=before")
    assert before.value.response.status_code == 500
    assert b"before accepting" not in before.value.response.body  # nothing of it shown
    with connect(f"{server}/fails?when=after") as ws:
        ws.send("go")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    errors = [r for r in caplog.records if r.exc_info]
    assert [str(r.exc_info[1]) for r in errors if r.exc_info] == [
        "before accepting",
        "after accepting",
    ]


@pytest.mark.parametrize(
    ("query", "message", "code"),
    [("", b"\x00binary", 1003), ("?kind=json", "{not json", 1007)],
)
def test_the_wrong_kind_of_message_closes(
    server: str, events: list[Any], query: str, message: Any, code: int
) -> None:
    with connect(f"{server}/strict{query}") as ws:
        ws.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    assert events == [code]


def test_a_client_that_leaves_is_no_error(
    server: str, events: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="porch.error")
    with connect(f"{server}/strict") as ws:
        ws.close(4000, "bye")
    wait_for(lambda: events == [4000])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_http_and_url_for(server: str) -> None:
    import httpx

    base = server.replace("ws://", "http://")
    assert httpx.get(f"{base}/where").text == "/rooms/7"
    assert httpx.get(f"{base}/rooms/7").status_code == 404  # a WebSocket route only


def test_registration_errors() -> None:
    app = App(__name__)
    with pytest.raises(RouteError, match="must be an async def"):

        @app.websocket("/sync")
        def sync(ws: WebSocket) -> None: ...

    with pytest.raises(RouteError, match="has no body"):

        @app.websocket("/body")
        async def body(ws: WebSocket, greeting: Greeting) -> None: ...
