"""Handlers (porch/web/handlers.py): signatures, threads, and what return values become;
every request through both of the App's paths."""

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from porch import App, HTMLResponse, JSONResponse, Request, Response
from porch.http.native import Response as NativeResponse
from porch.testing import TestClient
from porch.web.handlers import make_response
from porch.web.routing import RouteError

Client = Callable[..., TestClient]


# Arguments.


def test_def_and_async_def_handlers(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/sync")
    def sync() -> str:
        return "sync"

    @app.get("/async")
    async def asynchronous() -> str:
        return "async"

    client = client_for(app)
    assert client.get("/sync").text == "sync"
    assert client.get("/async").text == "async"


def test_request_by_name_or_annotation(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/named")
    def named(request) -> str:  # type: ignore[no-untyped-def]
        assert isinstance(request, Request)
        return request.path

    @app.get("/annotated")
    async def annotated(req: Request) -> str:
        return req.path

    @app.get("/string-annotation")
    def string_annotation(r: "Request") -> str:
        return r.path

    client = client_for(app)
    assert client.get("/named").text == "/named"
    assert client.get("/annotated").text == "/annotated"
    assert client.get("/string-annotation").text == "/string-annotation"


def test_path_parameters_by_name_converted(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/teams/<int:team_id>/players/<name>", name="player")
    async def player(request: Request, name: str, team_id: int) -> dict[str, Any]:
        return {"team_id": team_id, "name": name, "params": request.path_params}

    client = client_for(app)
    assert client.get("/teams/7/players/ann").json() == {
        "team_id": 7,
        "name": "ann",
        "params": {"team_id": 7, "name": "ann"},
    }


def test_handler_may_ignore_path_parameters_and_take_defaults(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/a/<int:x>")
    def ignores() -> str:
        return "ignored"

    @app.get("/b/<int:x>")
    def with_default(x: int, page: int = 1) -> str:
        return f"{x} {page}"

    @app.get("/c/<int:x>")
    def with_kwargs(**params: Any) -> str:
        return repr(params)

    client = client_for(app)
    assert client.get("/a/1").text == "ignored"
    assert client.get("/b/2").text == "2 1"
    assert client.get("/c/3").text == "{}"


def test_unknown_parameter_is_an_error_when_the_route_is_added() -> None:
    app = App(__name__)

    def team(teamid) -> str:  # type: ignore[no-untyped-def]
        return ""

    with pytest.raises(RouteError, match="'teamid' is neither the request nor a path parameter"):
        app.get("/teams/<int:team_id>")(team)


def test_callable_objects_and_partials(client_for: Client) -> None:
    class Greeter:
        async def __call__(self, name: str) -> str:
            return f"hello {name}"

    def hello(greeting: str, name: str) -> str:
        return f"{greeting} {name}"

    app = App(__name__)
    app.add_route("/obj/<name>", Greeter(), name="obj")
    app.add_route("/partial/<name>", functools.partial(hello, "hi"), name="partial")
    client = client_for(app)
    assert client.get("/obj/ann").text == "hello ann"
    assert client.get("/partial/bob").text == "hi bob"


def test_def_handlers_run_in_the_thread_pool_async_on_the_loop(client_for: Client) -> None:
    app = App(__name__)
    seen: dict[str, str] = {}

    @app.on_startup
    async def remember_loop_thread() -> None:
        seen["loop"] = threading.current_thread().name

    @app.get("/sync")
    def sync() -> str:
        seen["sync"] = threading.current_thread().name
        return ""

    @app.get("/async")
    async def asynchronous() -> str:
        seen["async"] = threading.current_thread().name
        return ""

    client = client_for(app)
    client.get("/sync")
    client.get("/async")
    assert seen["sync"] != seen["loop"]
    assert seen["sync"].startswith("porch-app")
    assert seen["async"] == seen["loop"]


def test_def_handlers_do_not_block_the_loop(client_for: Client) -> None:
    app = App(__name__)
    started = threading.Event()
    release = threading.Event()

    @app.get("/block")
    def block() -> str:
        started.set()
        release.wait(5)
        return "released"

    @app.get("/free")
    async def free() -> str:
        release.set()
        return "free"

    client = client_for(app)
    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(client.get("/block").text))
    thread.start()
    assert started.wait(5)
    # The loop answers another request while the def handler waits.
    assert client.get("/free").text == "free"
    thread.join(5)
    assert results == ["released"]


def test_context_variables_reach_def_handlers(client_for: Client) -> None:
    import contextvars

    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="unset")
    app = App(__name__)

    @app.before_request
    def set_var(request: Request) -> None:
        current.set("from the hook")

    @app.get("/")
    def index() -> str:
        return current.get()

    assert client_for(app).get("/").text == "from the hook"


# Return values.


@dataclasses.dataclass
class Team:
    name: str
    level: str


class Player(msgspec.Struct):
    name: str
    number: int


def returns_app() -> App:
    app = App(__name__)
    values: dict[str, Any] = {
        "str": "<p>héllo</p>",
        "bytes": b"\x00\x01",
        "dict": {"a": 1, "ü": "é"},
        "list": [1, "two", None],
        "dataclass": Team("Eagles", "U10"),
        "struct": Player("Ann", 9),
        "response": Response("plain", 202, {"X-A": "b"}, media_type="text/plain"),
        "html-response": HTMLResponse("<b>x</b>", 201),
        "json-response": JSONResponse({"k": "v"}, 203),
        "pair": ("made", 201),
        "triple": ({"ok": True}, 202, {"X-Extra": "1"}),
        "triple-list-headers": ("x", 200, [("X-One", "1"), ("X-Two", "2")]),
        "none": None,
        "bytearray": bytearray(b"ab"),
        "native": NativeResponse(207, [(b"content-type", b"text/x-custom")], b"native"),
        "bad-type": 1j,
        "number": 3.5,
        "bool": True,
        "bad-tuple": ("a", 200, {}, "extra"),
        "bad-status": ("a", "not a number"),
        "set": {1, 2},
    }
    for key, value in values.items():

        def handler(value: Any = value) -> Any:
            return value

        app.add_route(f"/{key}", handler, name=key)
    return app


def test_str_is_html(client_for: Client) -> None:
    response = client_for(returns_app()).get("/str")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == "<p>héllo</p>".encode()
    assert response.headers["content-length"] == str(len("<p>héllo</p>".encode()))


def test_bytes_are_octet_stream(client_for: Client) -> None:
    client = client_for(returns_app())
    for path in ("/bytes", "/bytearray"):
        response = client.get(path)
        assert response.headers["content-type"] == "application/octet-stream"
    assert client.get("/bytes").content == b"\x00\x01"
    assert client.get("/bytearray").content == b"ab"


def test_dict_list_dataclass_struct_are_json(client_for: Client) -> None:
    client = client_for(returns_app())
    expected = {
        "/dict": {"a": 1, "ü": "é"},
        "/list": [1, "two", None],
        "/dataclass": {"name": "Eagles", "level": "U10"},
        "/struct": {"name": "Ann", "number": 9},
    }
    for path, body in expected.items():
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == body


def test_responses_as_they_are(client_for: Client) -> None:
    client = client_for(returns_app())
    response = client.get("/response")
    assert (response.status_code, response.text) == (202, "plain")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-a"] == "b"
    response = client.get("/html-response")
    assert (response.status_code, response.text) == (201, "<b>x</b>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    response = client.get("/json-response")
    assert (response.status_code, response.json()) == (203, {"k": "v"})
    response = client.get("/native")
    assert (response.status_code, response.text) == (207, "native")
    assert response.headers["content-type"] == "text/x-custom"


def test_tuples(client_for: Client) -> None:
    client = client_for(returns_app())
    response = client.get("/pair")
    assert (response.status_code, response.text) == (201, "made")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    response = client.get("/triple")
    assert (response.status_code, response.json()) == (202, {"ok": True})
    assert response.headers["x-extra"] == "1"
    response = client.get("/triple-list-headers")
    assert response.headers["x-one"] == "1"
    assert response.headers["x-two"] == "2"


def test_none_is_204(client_for: Client) -> None:
    response = client_for(returns_app()).get("/none")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


@pytest.mark.parametrize("target", ["/bad-type", "/bad-tuple", "/bad-status", "/set"])
def test_bad_return_type_is_a_clear_500_logged(
    client_for: Client, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(returns_app())
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client.get(target)
    assert response.status_code == 500
    # The client learns nothing of the code; the log says what went wrong, and where.
    assert "handler" not in response.text
    records = [r for r in caplog.records if r.name == "porch.error"]
    assert records, "the 500 was not logged"
    assert records[0].exc_info is not None
    message = str(records[0].exc_info[1])
    assert "handler" in message or "status" in message or "invalid literal" in message


def test_bad_return_type_names_the_type_and_the_choices() -> None:
    with pytest.raises(TypeError, match="returned a complex: return a str, bytes, dict"):
        make_response(1j)
    with pytest.raises(TypeError, match="returned an object: "):
        make_response(object())


def test_numbers_and_bools_are_json(client_for: Client) -> None:
    client = client_for(returns_app())
    for target, expected in (("/number", 3.5), ("/bool", True)):
        response = client.get(target)
        assert response.headers["content-type"] == "application/json"
        assert response.json() == expected


def test_after_request_sees_a_response_object_for_each_kind(client_for: Client) -> None:
    app = returns_app()
    kinds: dict[str, tuple[int, str]] = {}

    @app.after_request
    def look(request: Request, response: Response) -> None:
        assert isinstance(response, Response)
        kinds[request.path] = (response.status, response.headers.get("content-type", ""))

    client = client_for(app)
    for path in ("/str", "/dict", "/none", "/native", "/pair", "/dataclass"):
        assert client.get(path).status_code < 300
    assert kinds == {
        "/str": (200, "text/html; charset=utf-8"),
        "/dict": (200, "application/json"),
        "/none": (204, ""),
        "/native": (207, "text/x-custom"),
        "/pair": (201, "text/html; charset=utf-8"),
        "/dataclass": (200, "application/json"),
    }


def test_handler_exception_in_a_def_handler_is_a_500(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/")
    def boom() -> str:
        raise RuntimeError("secret detail")

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "secret detail" not in response.text


def test_body_and_headers_tuple_as_flask_allows(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/dict")
    def with_dict() -> Any:
        return "body", {"X-A": "1"}

    @app.get("/list")
    def with_list() -> Any:
        return {"k": 1}, [("X-B", "2")]

    client = client_for(app)
    response = client.get("/dict")
    assert (response.status_code, response.text, response.headers["x-a"]) == (200, "body", "1")
    response = client.get("/list")
    assert (response.status_code, response.json(), response.headers["x-b"]) == (200, {"k": 1}, "2")


# Response models and route statuses.


class ItemOut(msgspec.Struct):
    name: str
    price: float


class Account:
    """An ORM-like object: attributes, one of which must never be sent."""

    def __init__(self) -> None:
        self.name = "ann"
        self.price = 2.0
        self.password_hash = "argon2id$secret"


def models_app() -> App:
    app = App(__name__)

    @app.get("/object")
    def from_object() -> ItemOut:
        return Account()  # type: ignore[return-value]

    @app.get("/dict")
    async def from_dict() -> list[ItemOut]:
        return [{"name": "a", "price": 1, "password_hash": "x"}]  # type: ignore[list-item]

    @app.get("/same")
    async def same() -> ItemOut:
        return ItemOut("b", 3.0)

    @app.get("/wrong")
    async def wrong() -> ItemOut:
        return {"name": "no price"}  # type: ignore[return-value]

    @app.post("/created", status=201)
    async def created() -> ItemOut:
        return ItemOut("c", 1.0)

    @app.post("/created-plain", status=201)
    async def created_plain() -> dict[str, bool]:
        return {"ok": True}

    @app.delete("/gone", status=204)
    async def gone() -> None:
        return None

    @app.post("/own-status", status=201)
    async def own_status() -> ItemOut:
        return JSONResponse({"name": "d", "price": 1}, 202)  # type: ignore[return-value]

    @app.get("/explicit", response_model=list[ItemOut])
    async def explicit() -> Any:
        return [Account()]

    return app


def test_response_models_send_exactly_the_declared_fields(client_for: Client) -> None:
    client = client_for(models_app())
    # No password hash leaks through a forgotten field.
    assert client.get("/object").json() == {"name": "ann", "price": 2.0}
    assert client.get("/dict").json() == [{"name": "a", "price": 1.0}]
    assert client.get("/same").json() == {"name": "b", "price": 3.0}
    assert client.get("/explicit").json() == [{"name": "ann", "price": 2.0}]


def test_a_value_the_model_cannot_hold_is_a_logged_500(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client_for(models_app()).get("/wrong")
    assert response.status_code == 500
    assert "price" not in response.text
    assert any("does not hold" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_route_status(client_for: Client) -> None:
    client = client_for(models_app())
    created = client.post("/created")
    assert (created.status_code, created.json()) == (201, {"name": "c", "price": 1.0})
    assert client.post("/created-plain").status_code == 201
    gone = client.delete("/gone")
    assert (gone.status_code, gone.content) == (204, b"")
    assert client.post("/own-status").status_code == 202  # a Response says its own
