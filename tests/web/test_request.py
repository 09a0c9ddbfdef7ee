"""The Request (porch/web/request.py): the head's parts, the body (whole, JSON, form, stream),
the sync twins for def handlers, and lazy parsing; every request through both paths."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from porch import App, Request
from porch.http.errors import HTTPError
from porch.http.native import RequestHead
from porch.server.asgi import http_scope
from porch.testing import TestClient
from porch.web.datastructures import Headers, MultiDict
from tests.support import NoBody

Client = Callable[..., TestClient]


def inspect_app() -> App:
    app = App(__name__)

    @app.route("/inspect/<path:rest>", methods=["GET", "POST"])
    async def inspect(request: Request, rest: str) -> dict[str, Any]:
        return {
            "method": request.method,
            "url": request.url,
            "path": request.path,
            "base_url": request.base_url,
            "root_path": request.root_path,
            "scheme": request.scheme,
            "host": request.host,
            "client": list(request.client) if request.client else None,
            "page": request.query.get("page", "1"),
            "missing": request.query.get("missing", "default"),
            "tags": request.query.getlist("tag"),
            "none": request.query.getlist("none"),
            "query": request.query.multi_items(),
            "accept": request.headers.get("ACCEPT"),
            "x_multi": request.headers.getlist("x-multi"),
            "has_x_multi": "X-Multi" in request.headers,
            "cookies": request.cookies,
            "repr": repr(request),
        }

    return app


def test_head_parts(client_for: Client) -> None:
    client = client_for(inspect_app(), cookies={"session": "abc", "theme": "dark"})
    response = client.get(
        "/inspect/a%20b/c?page=2&tag=x&tag=y&empty=&caf%C3%A9=%C3%A9",
        headers=[("Accept", "text/plain"), ("X-Multi", "1"), ("x-multi", "2")],
    )
    data = response.json()
    assert data["method"] == "GET"
    assert data["path"] == "/inspect/a b/c"
    assert data["url"] == (
        "http://testserver/inspect/a%20b/c?page=2&tag=x&tag=y&empty=&caf%C3%A9=%C3%A9"
    )
    assert data["base_url"] == "http://testserver/"
    assert data["root_path"] == ""
    assert data["scheme"] == "http"
    assert data["host"] == "testserver"
    assert data["client"] == ["127.0.0.1", 50000]
    assert data["page"] == "2"
    assert data["missing"] == "default"
    assert data["tags"] == ["x", "y"]
    assert data["none"] == []
    assert data["query"] == [
        ["page", "2"],
        ["tag", "x"],
        ["tag", "y"],
        ["empty", ""],
        ["café", "é"],
    ]
    assert data["accept"] == "text/plain"
    assert data["x_multi"] == ["1", "2"]
    assert data["has_x_multi"] is True
    assert data["cookies"] == {"session": "abc", "theme": "dark"}
    assert data["repr"].startswith("<Request GET '/inspect/a%20b/c?page=2")


def test_https_and_host_with_port(client_for: Client) -> None:
    client = client_for(inspect_app(), base_url="https://example.org:8443")
    data = client.get("/inspect/x").json()
    assert data["scheme"] == "https"
    assert data["host"] == "example.org:8443"
    assert data["url"] == "https://example.org:8443/inspect/x"


def test_host_falls_back_to_the_server_address() -> None:
    head = RequestHead("GET", b"/", b"/", b"", [], "1.0", None, ("10.0.0.1", 8080))
    assert Request(head, NoBody()).host == "10.0.0.1:8080"
    head = RequestHead("GET", b"/", b"/", b"", [], "1.0", None, ("10.0.0.1", 80))
    assert Request(head, NoBody()).host == "10.0.0.1"
    head = RequestHead("GET", b"/", b"/", b"", [], "1.0", None, None)
    assert Request(head, NoBody()).host == ""


def test_query_with_bad_percent_encoding_is_not_an_error(client_for: Client) -> None:
    client = client_for(inspect_app())
    data = client.get("/inspect/x?a=%ff%fe&b=%zz&c").json()
    assert data["query"] == [["a", "\ufffd\ufffd"], ["b", "%zz"], ["c", ""]]


def test_cookie_header_quirks(client_for: Client) -> None:
    client = client_for(inspect_app())
    response = client.get(
        "/inspect/x", headers={"Cookie": 'a=1; b="quoted"; junk; a=2; =novalue; c=x=y'}
    )
    assert response.json()["cookies"] == {"a": "1", "b": "quoted", "c": "x=y"}


def body_app() -> App:
    app = App(__name__)

    @app.post("/body")
    async def body(request: Request) -> bytes:
        return await request.body()

    @app.post("/json")
    async def parsed(request: Request) -> dict[str, Any]:
        data = await request.json()
        again = await request.json()
        return {"data": data, "same": data is again}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        sizes = [len(chunk) async for chunk in request.stream()]
        return {"total": sum(sizes)}

    @app.post("/body-then-stream")
    async def body_then_stream(request: Request) -> bytes:
        await request.body()
        return b"".join([chunk async for chunk in request.stream()])

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {"fields": form.multi_items()}

    @app.post("/sync/body")
    def sync_body(request: Request) -> bytes:
        return request.sync.body()

    @app.post("/sync/json")
    def sync_json(request: Request) -> Any:
        return request.sync.json()

    @app.post("/sync/form")
    def sync_form(request: Request) -> dict[str, Any]:
        form = request.sync.form()
        upload = form.files.get("file")
        return {
            "fields": form.multi_items(),
            "file": upload.file.read().decode() if upload else None,
        }

    @app.post("/sync/stream")
    def sync_stream(request: Request) -> dict[str, int]:
        return {"total": sum(len(chunk) for chunk in request.sync.stream())}

    @app.post("/sync-in-async")
    async def sync_in_async(request: Request) -> bytes:
        return request.sync.body()

    return app


def test_body(client_for: Client) -> None:
    client = client_for(body_app())
    assert client.post("/body", content=b"raw \x00 bytes").content == b"raw \x00 bytes"
    assert client.post("/body").content == b""


def test_json(client_for: Client) -> None:
    client = client_for(body_app())
    response = client.post("/json", json={"a": [1, 2], "b": "é"})
    assert response.json() == {"data": {"a": [1, 2], "b": "é"}, "same": True}


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"\xff\xfe\x00", b'{"a": 1} trailing', b"[1,"]
)
def test_bad_json_is_400_with_a_helpful_message(client_for: Client, content: bytes) -> None:
    client = client_for(body_app())
    response = client.post("/json", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "Invalid JSON body" in response.text


def test_bad_json_message_as_json(client_for: Client) -> None:
    client = client_for(body_app())
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    response = client.post("/json", content=b"{oops", headers=headers)
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert detail.startswith("Invalid JSON body: Expecting property name")
    assert "line 1 column 2" in detail


def test_stream(client_for: Client) -> None:
    client = client_for(body_app())
    assert client.post("/stream", content=b"x" * 100_000).json() == {"total": 100_000}
    assert client.post("/body-then-stream", content=b"again").content == b"again"


def test_sync_twins_in_def_handlers(client_for: Client) -> None:
    client = client_for(body_app())
    assert client.post("/sync/body", content=b"sync").content == b"sync"
    assert client.post("/sync/json", json=[1, {"x": None}]).json() == [1, {"x": None}]
    response = client.post("/sync/form", data={"a": "1"}, files={"file": ("f.txt", b"text")})
    assert response.json() == {"fields": [["a", "1"]], "file": "text"}
    assert client.post("/sync/stream", content=b"y" * 5000).json() == {"total": 5000}
    json_type = {"Content-Type": "application/json"}
    assert client.post("/sync/json", content=b"nope", headers=json_type).status_code == 400


def test_sync_twins_in_an_async_handler_are_a_clear_error(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(body_app())
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client.post("/sync-in-async", content=b"x")
    assert response.status_code == 500
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert any("request.sync is for `def` handlers" in str(e) for e in errors)


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        ("body", "a coroutine"),
        ("json", "a coroutine"),
        ("form", "a coroutine"),
        ("stream", "an async iterator"),
    ],
)
def test_body_methods_not_awaited_in_a_def_handler_name_request_sync(
    client_for: Client, caplog: pytest.LogCaptureFixture, method: str, kind: str
) -> None:
    # Without the check, request.form() in a def handler hands back a coroutine that is never
    # awaited, and the handler fails further on with an AttributeError that says nothing.
    app = App(__name__)

    @app.post("/caught")
    def caught(request: Request) -> str:
        try:
            getattr(request, method)()
        except RuntimeError as error:
            return str(error)
        return "no error"

    @app.post("/uncaught")
    def uncaught(request: Request) -> str:
        return str(getattr(request, method)())

    client = client_for(app)
    expected = (
        f"request.{method}() is {kind}: in a `def` handler (it runs in a worker thread), "
        f"use request.sync.{method}()"
    )
    assert client.post("/caught", data={"a": "1"}).text == expected
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        assert client.post("/uncaught", data={"a": "1"}).status_code == 500
    errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert [str(e) for e in errors] == [expected]


def test_request_state_and_url_for(client_for: Client) -> None:
    app = App(__name__)

    @app.before_request
    def mark(request: Request) -> None:
        request.state.user = "ann"

    @app.get("/teams/<int:team_id>", name="team")
    def team(request: Request, team_id: int) -> dict[str, str]:
        return {"user": request.state.user, "next": request.url_for("team", team_id=team_id + 1)}

    assert client_for(app).get("/teams/1").json() == {"user": "ann", "next": "/teams/2"}


# Laziness: what a handler does not touch is not read.


class TrackingReader:
    """A body reader that records whether anything read it."""

    def __init__(self, data: bytes = b"x" * 1000) -> None:
        self.data = data
        self.reads = 0

    async def read(self) -> bytes:
        self.reads += 1
        return self.data

    async def stream(self) -> AsyncIterator[bytes]:
        self.reads += 1
        yield self.data


def _post_head() -> RequestHead:
    return RequestHead(
        "POST",
        b"/ignore?a=1",
        b"/ignore",
        b"a=1",
        [(b"host", b"testserver"), (b"content-length", b"1000"), (b"cookie", b"a=b")],
        "1.1",
        ("127.0.0.1", 1),
        ("testserver", 80),
    )


def lazy_app(seen: list[Request]) -> App:
    app = App(__name__)

    @app.post("/ignore")
    async def ignore(request: Request) -> str:
        seen.append(request)
        return "ignored"

    @app.post("/read")
    async def read(request: Request) -> bytes:
        return await request.body()

    return app


def test_untouched_body_is_not_read(path: str) -> None:
    seen: list[Request] = []
    app = lazy_app(seen)
    reader = TrackingReader()
    head = _post_head()
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append({})
        return {"type": "http.request", "body": b"x" * 1000, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        if path == "native":
            response = await app.__porch_http__(head, reader)
            assert response.body == b"ignored"
        else:
            await app(http_scope(head), receive, send)
            assert sent[-1]["body"] == b"ignored"

    asyncio.run(run())
    assert reader.reads == 0
    assert received == []
    # Nor are the query, the headers or the cookies parsed.
    request = seen[0]
    assert request._query is None
    assert request._headers is None
    assert request._cookies is None


def test_touched_body_is_read_once(path: str) -> None:
    app = lazy_app([])
    reader = TrackingReader(b"data")
    head = _post_head()
    head.raw_path = b"/read"
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": b"data", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        if path == "native":
            response = await app.__porch_http__(head, reader)
            assert response.body == b"data"
        else:
            await app(http_scope(head), receive, send)
            assert sent[-1]["body"] == b"data"

    asyncio.run(run())
    assert (reader.reads if path == "native" else len(received)) == 1


# The multi-dicts.


def test_multidict() -> None:
    data = MultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert data["a"] == "1"
    assert data.get("a") == "1"
    assert data.get("z", "d") == "d"
    assert data.getlist("a") == ["1", "3"]
    assert data.getlist("z") == []
    assert list(data) == ["a", "b"]
    assert len(data) == 2
    assert data.multi_items() == [("a", "1"), ("b", "2"), ("a", "3")]
    assert data == MultiDict([("a", "1"), ("b", "2"), ("a", "3")])
    assert data != MultiDict([("a", "1"), ("b", "2")])
    assert MultiDict({"x": "y"}) == {"x": "y"}
    with pytest.raises(KeyError):
        data["z"]


def test_headers() -> None:
    headers = Headers([(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-a", b"\xe9")])
    assert headers["Content-Type"] == "text/plain"
    assert headers.get("X-A") == "1"
    assert headers.getlist("x-a") == ["1", "é"]
    assert headers.get("missing") is None
    assert headers.get("missing", "d") == "d"
    assert "CONTENT-TYPE" in headers
    assert 3 not in headers
    assert list(headers) == ["content-type", "x-a"]
    assert len(headers) == 2
    assert dict(headers) == {"content-type": "text/plain", "x-a": "1"}
    with pytest.raises(KeyError):
        headers["missing"]


def test_json_of_a_big_body(client_for: Client) -> None:
    client = client_for(body_app())
    payload = {"rows": [{"i": i, "text": "é" * 10} for i in range(5000)]}
    response = client.post(
        "/json", content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    assert response.json()["data"] == payload


def test_body_after_stream_is_a_clear_error(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(__name__)

    @app.post("/stream-then-body")
    async def stream_then_body(request: Request) -> bytes:
        async for _ in request.stream():
            pass
        return await request.body()

    @app.post("/stream-twice")
    async def stream_twice(request: Request) -> bytes:
        first = b"".join([chunk async for chunk in request.stream()])
        return first + b"".join([chunk async for chunk in request.stream()])

    client = client_for(app)
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        assert client.post("/stream-then-body", content=b"abc").status_code == 500
        assert client.post("/stream-twice", content=b"abc").status_code == 500
    messages = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert any("already consumed by request.stream()" in m for m in messages)
    assert len(messages) == 2


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_max_body_size_is_413(client_for: Client, chunked: bool) -> None:
    app = body_app()
    app.max_body_size = 1000
    client = client_for(app)

    def content(size: int) -> Any:
        data = b"x" * size
        return iter([data[:500], data[500:]]) if chunked else data

    for target in ("/body", "/stream", "/sync/body", "/sync/stream", "/sync/form"):
        response = client.post(target, content=content(1001))
        assert response.status_code == 413, (target, response.text)
        assert "larger than 1000 bytes" in response.text
    assert client.post("/body", content=content(1000)).content == b"x" * 1000
    assert client.post("/sync/stream", content=content(1000)).json() == {"total": 1000}
    app.max_body_size = None  # the application's own limit off: the server's still holds
    assert len(client.post("/body", content=content(5000)).content) == 5000


def test_bad_content_length_is_400_when_the_body_is_read() -> None:
    # Porch's server refuses it before; under another server the App says so itself.
    app = body_app()
    head = RequestHead("POST", b"/body", b"/body", b"", [(b"content-length", b"1e3")])
    with pytest.raises(HTTPError) as raised:
        asyncio.run(Request(head, NoBody(), app).body())
    assert raised.value.status == 400


def test_deeply_nested_json_is_400(client_for: Client) -> None:
    client = client_for(body_app())
    json_type = {"Content-Type": "application/json"}
    response = client.post("/json", content=b"[" * 100_000, headers=json_type)
    assert response.status_code == 400
    assert "nested too deeply" in response.text
    assert client.post("/sync/json", content=b"{" * 100_000, headers=json_type).status_code == 400


def test_def_handler_body_arrives_before_the_thread_is_taken(client_for: Client) -> None:
    # Past 1 MiB the body waits in a temporary file; the handler reads it whole from there.
    client = client_for(body_app())
    data = bytes(range(256)) * 8000  # 2 MB
    assert client.post("/sync/body", content=data).content == data
    assert client.post("/sync/stream", content=iter([data[:10], data[10:]])).json() == {
        "total": len(data)
    }


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_of_another_media_type_is_415(client_for: Client, content_type: str | None) -> None:
    # What a form on another site can post without a CORS preflight is never read as JSON.
    client = client_for(body_app())
    headers = {"Content-Type": content_type} if content_type else {}
    for target in ("/json", "/sync/json"):
        response = client.post(target, content=b'{"admin": true}', headers=headers)
        assert response.status_code == 415, target
    vendor = {"Content-Type": "application/merge-patch+json"}
    assert client.post("/json", content=b"[1]", headers=vendor).status_code == 200


def test_on_sent_callbacks_run_once_the_server_has_the_response(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(__name__)
    events: list[str] = []

    @app.get("/")
    async def index(request: Request) -> str:
        async def closed() -> None:
            events.append("async callback")

        def failing() -> None:
            raise RuntimeError("a callback that fails is logged")

        request.on_sent(lambda: events.append("callback"))
        request.on_sent(failing)
        request.on_sent(closed)
        events.append("handler")
        return "ok"

    client = client_for(app)
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        assert client.get("/").text == "ok"
        for _ in range(100):
            if len(events) == 3:
                break
            client._portal_run(asyncio.sleep(0.01))
    assert events == ["handler", "callback", "async callback"]
    assert any("a callback that fails" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
