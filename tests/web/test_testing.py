"""The TestClient itself (porch/web/testing.py, public as porch.testing): httpx's arguments,
cookies kept between calls, startup and shutdown as a context manager, on both paths; the
native path through porch's own server, its framing read back as a client reads it."""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch import App, Request, Response, StreamingResponse, WebSocketDisconnect
from porch.http.native import RequestHead
from porch.http.native import Response as NativeResponse
from porch.server.static import StaticFiles
from porch.testing import TestClient

Client = Callable[..., TestClient]


def echo_app() -> App:
    app = App(__name__)

    @app.route("/echo", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        result: dict[str, Any] = {
            "method": request.method,
            "query": request.query.multi_items(),
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "cookies": request.cookies,
            "client": list(request.client or ()),
            "url": request.url,
        }
        if content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
            form = await request.form()
            result["form"] = form.multi_items()
            result["files"] = {
                name: [upload.filename, upload.content_type, (await upload.read()).decode()]
                for name, upload in form.files.items()
            }
        elif content_type == "application/json":
            result["json"] = await request.json()
        else:
            result["body"] = (await request.body()).decode("latin-1")
        return result

    @app.get("/login")
    def login() -> Response:
        response = Response("in")
        response.set_cookie("session", "s1")
        return response

    @app.get("/logout")
    def logout() -> Response:
        response = Response("out")
        response.delete_cookie("session")
        return response

    return app


def test_default_path_is_native_for_a_porch_app() -> None:
    assert TestClient(App(__name__)).path == "native"
    assert TestClient(App(__name__), path="asgi").path == "asgi"
    with pytest.raises(ValueError, match="'native' or 'asgi'"):
        TestClient(App(__name__), path="wsgi")


def test_params(client_for: Client) -> None:
    client = client_for(echo_app())
    data = client.get("/echo", params={"a": "1", "b": ["x", "y"], "é": "ü"}).json()
    assert data["query"] == [["a", "1"], ["b", "x"], ["b", "y"], ["é", "ü"]]
    assert client.get("/echo?z=0").json()["query"] == [["z", "0"]]


def test_data_json_files_content(client_for: Client) -> None:
    client = client_for(echo_app())
    data = client.post("/echo", data={"name": "Ann", "tags": ["a", "b"]}).json()
    assert data["form"] == [["name", "Ann"], ["tags", "a"], ["tags", "b"]]
    data = client.put("/echo", json={"x": [1, 2]}).json()
    assert (data["method"], data["json"]) == ("PUT", {"x": [1, 2]})
    data = client.post(
        "/echo",
        data={"caption": "hi"},
        files={"doc": ("doc.txt", b"contents", "text/plain"), "raw": b"no name"},
    ).json()
    assert data["form"] == [["caption", "hi"]]
    assert data["files"]["doc"] == ["doc.txt", "text/plain", "contents"]
    assert data["files"]["raw"][2] == "no name"
    data = client.patch("/echo", content=b"raw body").json()
    assert (data["method"], data["body"]) == ("PATCH", "raw body")
    assert client.delete("/echo").json()["method"] == "DELETE"


def test_streamed_request_content(client_for: Client) -> None:
    client = client_for(echo_app())

    def pieces() -> Any:
        yield b"one,"
        yield b"two"

    assert client.post("/echo", content=pieces()).json()["body"] == "one,two"


def test_headers(client_for: Client) -> None:
    client = client_for(echo_app(), headers={"X-Default": "d"})
    data = client.get("/echo", headers={"X-Custom": "c", "X-Default": "override"}).json()
    assert data["headers"] == {"x-custom": "c", "x-default": "override"}
    assert client.get("/echo").json()["headers"] == {"x-default": "d"}


def test_cookies_kept_between_calls(client_for: Client) -> None:
    client = client_for(echo_app())
    assert client.get("/echo").json()["cookies"] == {}
    client.get("/login")
    assert client.cookies["session"] == "s1"
    assert client.get("/echo").json()["cookies"] == {"session": "s1"}
    client.get("/logout")
    assert client.get("/echo").json()["cookies"] == {}


def test_cookies_given_to_the_client(client_for: Client) -> None:
    client = client_for(echo_app(), cookies={"theme": "dark"})
    assert client.get("/echo").json()["cookies"] == {"theme": "dark"}
    client.cookies.set("lang", "fr")
    assert client.get("/echo").json()["cookies"] == {"theme": "dark", "lang": "fr"}


def test_base_url_and_client_address(client_for: Client) -> None:
    client = client_for(echo_app(), base_url="https://example.org", client=("10.1.2.3", 4567))
    data = client.get("/echo?q=1").json()
    assert data["url"] == "https://example.org/echo?q=1"
    assert data["client"] == ["10.1.2.3", 4567]


def lifecycle_app(events: list[str]) -> App:
    app = App(__name__)

    @app.on_startup
    def sync_start() -> None:
        events.append("sync startup")

    @app.on_startup
    async def async_start() -> None:
        events.append("async startup")
        app.state.ready = True

    @app.on_shutdown
    async def async_stop() -> None:
        events.append("async shutdown")

    @app.on_shutdown
    def sync_stop() -> None:
        events.append("sync shutdown")

    @app.get("/")
    def index() -> dict[str, bool]:
        events.append("request")
        return {"ready": getattr(app.state, "ready", False)}

    return app


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_context_manager_runs_startup_and_shutdown(path: str) -> None:
    events: list[str] = []
    with TestClient(lifecycle_app(events), path=path) as client:
        assert events == ["sync startup", "async startup"]
        assert client.get("/").json() == {"ready": True}
    assert events == ["sync startup", "async startup", "request", "async shutdown", "sync shutdown"]


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_without_the_context_manager_no_hooks_run(path: str) -> None:
    events: list[str] = []
    client = TestClient(lifecycle_app(events), path=path)
    assert client.get("/").json() == {"ready": False}
    client.close()
    assert events == ["request"]


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_failing_startup_raises_and_leaves_no_thread(path: str) -> None:
    app = App(__name__)

    @app.on_startup
    def fail() -> None:
        raise RuntimeError("no database")

    def portals() -> int:
        return sum(thread.name == "porch-test" for thread in threading.enumerate())

    before = portals()
    client = TestClient(app, path=path)
    with pytest.raises(RuntimeError, match="startup failed: RuntimeError: no database"):
        client.__enter__()
    assert portals() == before


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_failing_shutdown_raises(path: str) -> None:
    app = App(__name__)

    @app.on_shutdown
    def fail() -> None:
        raise RuntimeError("could not flush")

    client = TestClient(app, path=path)
    client.__enter__()
    with pytest.raises(RuntimeError, match="shutdown failed: RuntimeError: could not flush"):
        client.__exit__(None, None, None)


def test_asgi_app_without_lifespan_does_not_hang() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"plain asgi"})

    with TestClient(app) as client:
        assert client.path == "asgi"
        assert client.get("/").text == "plain asgi"


def test_asgi_lifespan_state_reaches_requests() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"greeting": "hello from lifespan"}

    async def home(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse(request.state.greeting)

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    with TestClient(app) as client:
        assert client.get("/").text == "hello from lifespan"


def test_native_only_application(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("static")
    files = StaticFiles(str(tmp_path))
    with TestClient(files) as client:
        assert client.path == "native"
        assert client.get("/a.txt").text == "static"
    with pytest.raises(ValueError, match="native and ASGI"):
        TestClient(files, path="asgi")


def test_wsgi_application_is_refused_clearly() -> None:
    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    with pytest.raises(ValueError, match="mount a WSGI application"):
        TestClient(wsgi)


def test_redirects_followed_on_request(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/a")
    def a() -> Any:
        from porch import redirect

        return redirect("/b")

    @app.get("/b")
    def b() -> str:
        return "b"

    client = client_for(app)
    assert client.get("/a").status_code == 302
    response = client.get("/a", follow_redirects=True)
    assert response.text == "b"
    assert [r.status_code for r in response.history] == [302]


def test_head_responses_have_no_body(client_for: Client) -> None:
    client = client_for(echo_app())
    response = client.head("/login")
    assert response.content == b""
    assert response.headers["content-length"] == "2"


def test_native_app_raising_http_error_is_answered_as_the_server_does() -> None:
    from porch.http.errors import HTTPError as RawHTTPError

    class Refuses:
        def __porch_http__(self, head: Any, body: Any) -> Any:
            raise RawHTTPError(451, "Unavailable here", [(b"x-why", b"law")])

    response = TestClient(Refuses()).get("/")
    assert response.status_code == 451
    assert response.text == "451 Unavailable here\n"
    assert response.headers["x-why"] == "law"


def test_close_stops_the_event_loop_thread() -> None:
    def portals() -> int:
        return sum(thread.name == "porch-test" for thread in threading.enumerate())

    before = portals()
    client = TestClient(echo_app())
    assert client.get("/login").text == "in"
    assert portals() == before + 1
    client.close()
    assert portals() == before


# The native path is porch's own server: what it writes is what the test reads.


class Native:
    """A native application from a plain function."""

    def __init__(self, handler: Callable[[RequestHead, Any], Any]) -> None:
        self.handler = handler

    def __porch_http__(self, head: RequestHead, body: Any) -> Any:
        return self.handler(head, body)


def test_native_path_reads_the_servers_framing() -> None:
    app = App(__name__)

    @app.get("/whole")
    def whole() -> str:
        return "whole"

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"one,", b"two"]))

    with TestClient(app) as client:
        response = client.get("/whole")
        assert response.headers["content-length"] == "5"
        # What porch's server adds to every answer; the old in-process copy had neither.
        assert response.headers["server"] == "porch"
        assert response.headers["date"].endswith(" GMT")
        assert response.reason_phrase == "OK"
        response = client.get("/stream")
        assert response.content == b"one,two"
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        response = client.head("/stream")
        assert (response.status_code, response.content) == (200, b"")
        assert "content-length" not in response.headers  # the stream never ran


def test_native_path_reads_what_the_server_sends_not_what_the_app_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A body longer than the application's own Content-Length: the server sends no byte past
    # it (and closes); the old copy of the framing handed the whole body to the test.
    answer = NativeResponse(200, [(b"content-length", b"3")], b"hello")
    client = TestClient(Native(lambda head, body: answer))
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client.get("/")
    assert (response.content, response.headers["content-length"]) == (b"hel", "3")
    assert "longer than its Content-Length" in caplog.text


def test_native_path_body_cut_short_is_a_protocol_error(caplog: pytest.LogCaptureFixture) -> None:
    # Shorter than its Content-Length: the server closes, and the client says what httpx says
    # over a socket.
    answer = NativeResponse(200, [(b"content-length", b"9")], iter([b"hello"]))
    client = TestClient(Native(lambda head, body: answer))
    with (
        caplog.at_level(logging.ERROR, logger="porch.error"),
        pytest.raises(httpx.RemoteProtocolError, match="cut short"),
    ):
        client.get("/")
    assert "shorter than its Content-Length" in caplog.text


def test_native_path_sends_http_1_1_bytes_through_the_servers_limits() -> None:
    def echo(head: RequestHead, body: Any) -> NativeResponse:
        text = f"{head.method} {head.target.decode()} HTTP/{head.http_version} {head.scheme}"
        return NativeResponse(200, [], text.encode())

    client = TestClient(Native(echo), base_url="https://example.org")
    assert client.get("/a%20b?q=1").text == "GET /a%20b?q=1 HTTP/1.1 https"
    # The request line passes the server's limit: the server answers, not the application.
    response = client.get("/" + "a" * 9000)
    assert (response.status_code, response.text) == (414, "414 Request line too long\n")


def test_native_path_keep_alive_and_close() -> None:
    client = TestClient(Native(lambda head, body: NativeResponse(200, [], b"ok")))
    assert "connection" not in client.get("/").headers  # HTTP/1.1 keeps it open
    assert client.get("/", headers={"connection": "close"}).headers["connection"] == "close"


@pytest.mark.parametrize("when", ["before the first chunk", "mid-stream"])
def test_native_app_failing_in_its_body_raises_in_the_test(
    when: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        if when == "mid-stream":
            yield b"half"
            await asyncio.sleep(0)
        raise RuntimeError(f"failed {when}")

    client = TestClient(Native(lambda head, body: NativeResponse(200, [], chunks())))
    with (
        caplog.at_level(logging.ERROR, logger="porch.error"),
        pytest.raises(RuntimeError, match=f"failed {when}"),
    ):
        client.get("/")
    # The server logged it too, as under porch run.
    assert "Exception in the application for GET /" in caplog.text


def test_root_path(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/where", name="where")
    def where(request: Request) -> dict[str, str]:
        return {
            "root_path": request.root_path,
            "path": request.path,
            "url": request.url,
            "url_for": request.url_for("where"),
        }

    assert client_for(app, root_path="/prefix/").get("/where").json() == {
        "root_path": "/prefix",
        "path": "/where",
        "url": "http://testserver/prefix/where",
        "url_for": "/prefix/where",
    }


def test_static_files_on_the_native_path(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"x" * 300_000)
    client = TestClient(StaticFiles(str(tmp_path)))
    response = client.get("/big.bin")
    assert (len(response.content), response.headers["content-length"]) == (300_000, "300000")
    response = client.head("/big.bin")
    assert (response.content, response.headers["content-length"]) == (b"", "300000")
    response = client.get("/big.bin", headers={"range": "bytes=10-19"})
    assert (response.status_code, response.content) == (206, b"x" * 10)
    assert client.get("/missing").text == "404 Not Found\n"  # the server's own error answer


# WebSockets.


def test_websocket_session_on_an_app(client_for: Client) -> None:
    """Parameters, dependencies, cookies, subprotocols and messages both ways."""
    from tests.web.test_websocket import make_app

    events: list[Any] = []
    client = client_for(make_app(events), cookies={"theme": "dark"})
    with client.websocket_connect(
        "/rooms/7", subprotocols=["chat"], headers={"x-user": "ann"}
    ) as ws:
        assert ws.accepted_subprotocol == "chat"
        hello = ws.receive_json()
        assert (hello["room"], hello["user"], hello["theme"]) == (7, "ann", "dark")
        ws.send_text("shout")
        assert ws.receive_text() == "SHOUT"
    assert events == ["left"]  # leaving the block closed it; the handler saw the disconnect

    with client.websocket_connect("/strict?kind=json") as ws:
        ws.send_json({"a": [1, 2]})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()  # the handler returns: the App closes the socket
        assert closed.value.code == 1000
    assert events[-1] == {"a": [1, 2]}

    with client.websocket_connect("/strict") as ws:
        ws.send_bytes(b"binary")  # text wanted: 1003
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert closed.value.code == 1003


def test_websocket_refusals_and_failures(client_for: Client) -> None:
    from porch.testing import WebSocketDenied
    from tests.web.test_websocket import make_app

    client = client_for(make_app([]))
    with pytest.raises(WebSocketDenied) as denied:
        client.websocket_connect("/rooms/7")  # the dependency aborts: 401, as HTTP
    assert denied.value.response.status_code == 401
    assert "who are you?" in denied.value.response.text
    with pytest.raises(WebSocketDisconnect):
        client.websocket_connect("/nowhere")  # closed before accept: a server answers 403
    with client.websocket_connect("/fails?when=after") as ws:
        ws.send_text("go")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive()
        assert closed.value.code == 1011  # the handler raised: the client sees 1011


def test_websocket_session_on_a_starlette_app() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket as SWebSocket

    async def echo(websocket: SWebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_bytes(data[::-1])

    app = Starlette(routes=[WebSocketRoute("/echo", echo)])
    with TestClient(app) as client, client.websocket_connect("/echo") as ws:
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"


def test_an_exception_in_the_application_reaches_the_test() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        raise ValueError("the application's bug")

    client = TestClient(broken)
    ws = client.websocket_connect("/")
    ws.send_text("x")
    with pytest.raises(ValueError, match="application's bug"):
        ws.receive()
    client.close()
