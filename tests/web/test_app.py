"""The App (porch/web/app.py): hooks, routers and their nesting, mounts and static folders,
url_for, state, startup and shutdown, middleware; every request through both paths."""

import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from porch import App, HTMLResponse, Request, Response, Router, abort
from porch.http.native import Response as NativeResponse
from porch.testing import TestClient
from porch.web.middleware.base import CallNext, Middleware
from porch.web.routing import RouteError

Client = Callable[..., TestClient]


# Hooks.


def test_before_request_runs_before_each_handler(client_for: Client) -> None:
    app = App(__name__)
    order: list[str] = []

    @app.before_request
    def first(request: Request) -> None:
        order.append("first")
        request.state.user = "ann"

    @app.before_request
    async def second(request: Request) -> None:
        order.append("second")

    @app.get("/")
    def index(request: Request) -> str:
        order.append("handler")
        return request.state.user

    assert client_for(app).get("/").text == "ann"
    assert order == ["first", "second", "handler"]


def test_before_request_may_answer(client_for: Client) -> None:
    app = App(__name__)
    reached: list[str] = []

    @app.before_request
    def login_required(request: Request) -> Any:
        if "session" not in request.cookies:
            return Response("log in first", 401)
        return None

    @app.before_request
    def never_after_an_answer(request: Request) -> None:
        reached.append("second hook")

    @app.get("/private")
    def private() -> str:
        reached.append("handler")
        return "secret"

    client = client_for(app)
    response = client.get("/private")
    assert (response.status_code, response.text) == (401, "log in first")
    assert reached == []
    client.cookies.set("session", "1")
    assert client.get("/private").text == "secret"
    assert reached == ["second hook", "handler"]


def test_before_request_may_return_any_handler_value(client_for: Client) -> None:
    app = App(__name__)

    @app.before_request
    async def maintenance(request: Request) -> Any:
        return {"maintenance": True}, 503

    @app.get("/")
    def index() -> str:
        return "never"

    response = client_for(app).get("/")
    assert (response.status_code, response.json()) == (503, {"maintenance": True})


def test_before_request_may_raise(client_for: Client) -> None:
    app = App(__name__)

    @app.before_request
    def deny(request: Request) -> None:
        abort(403, "No entry")

    @app.get("/")
    def index() -> str:
        return "never"

    response = client_for(app).get("/")
    assert response.status_code == 403
    assert "No entry" in response.text


def test_after_request_may_change_the_response(client_for: Client) -> None:
    app = App(__name__)

    @app.after_request
    def add_header(request: Request, response: Response) -> None:
        response.headers["X-Frame-Options"] = "DENY"

    @app.after_request
    async def add_another(request: Request, response: Response) -> Response:
        response.headers["X-Async"] = "1"
        return response

    @app.get("/")
    def index() -> str:
        return "<p>hi</p>"

    response = client_for(app).get("/")
    assert response.text == "<p>hi</p>"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-async"] == "1"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_after_request_may_return_another(client_for: Client) -> None:
    app = App(__name__)

    @app.after_request
    def replace(request: Request, response: Response) -> Any:
        if request.query.get("replace"):
            return HTMLResponse("replaced", 202)
        return None

    @app.after_request
    def then_sees_the_replacement(request: Request, response: Response) -> Any:
        response.headers["X-Status-Seen"] = str(response.status)
        return None

    @app.get("/")
    def index() -> str:
        return "original"

    client = client_for(app)
    response = client.get("/?replace=1")
    assert (response.status_code, response.text) == (202, "replaced")
    assert response.headers["x-status-seen"] == "202"
    assert client.get("/").text == "original"


def test_after_request_runs_on_error_pages_and_hook_answers(client_for: Client) -> None:
    app = App(__name__)

    @app.before_request
    def short_circuit(request: Request) -> Any:
        return "from hook" if request.query.get("hook") else None

    @app.after_request
    def security(request: Request, response: Response) -> None:
        response.headers["X-Content-Type-Options"] = "nosniff"

    @app.get("/")
    def index() -> str:
        raise RuntimeError("boom")

    client = client_for(app)
    assert client.get("/missing").headers["x-content-type-options"] == "nosniff"
    assert client.get("/").headers["x-content-type-options"] == "nosniff"
    response = client.get("/?hook=1")
    assert response.text == "from hook"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_failing_after_hook_is_a_500(client_for: Client) -> None:
    app = App(__name__)

    @app.after_request
    def broken(request: Request, response: Response) -> None:
        raise ValueError("after hook secret")

    @app.get("/")
    def index() -> str:
        return "x"

    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "secret" not in response.text


# Routers.


def test_router_with_prefix_and_the_same_decorators(client_for: Client) -> None:
    api = Router(prefix="/api")

    @api.get("/teams")
    def teams() -> list[str]:
        return ["Eagles"]

    @api.post("/teams")
    def add_team() -> tuple[dict[str, bool], int]:
        return {"created": True}, 201

    @api.put("/teams/<int:team_id>")
    def put_team(team_id: int) -> dict[str, Any]:
        return {"put": team_id}

    @api.patch("/teams/<int:team_id>")
    def patch_team(team_id: int) -> dict[str, Any]:
        return {"patch": team_id}

    @api.delete("/teams/<int:team_id>")
    def delete_team(team_id: int) -> None:
        return None

    @api.route("/ping", methods=["GET", "POST"], name="api_ping")
    async def ping(request: Request) -> str:
        return request.method

    app = App(__name__)
    app.include(api)
    client = client_for(app)
    assert client.get("/api/teams").json() == ["Eagles"]
    assert client.post("/api/teams").status_code == 201
    assert client.put("/api/teams/3").json() == {"put": 3}
    assert client.patch("/api/teams/3").json() == {"patch": 3}
    assert client.delete("/api/teams/3").status_code == 204
    assert client.post("/api/ping").text == "POST"
    assert client.get("/teams").status_code == 404
    assert app.url_for("teams") == "/api/teams"
    assert app.url_for("api_ping") == "/api/ping"


def test_routers_nest(client_for: Client) -> None:
    teams = Router(prefix="/teams", name="teams")

    @teams.get("/")
    def index() -> str:
        return "teams index"

    @teams.get("/<int:team_id>")
    def show(team_id: int) -> str:
        return f"team {team_id}"

    v1 = Router(prefix="/v1", name="v1")
    v1.include(teams)
    api = Router(prefix="/api")
    api.include(v1)
    app = App(__name__)
    app.include(api, prefix="/outer")

    @app.get("/")
    def index_page() -> str:
        return "home"

    client = client_for(app)
    assert client.get("/outer/api/v1/teams/").text == "teams index"
    assert client.get("/outer/api/v1/teams/4").text == "team 4"
    assert client.get("/").text == "home"
    assert app.url_for("v1.teams.show", team_id=4) == "/outer/api/v1/teams/4"
    assert app.url_for("v1.teams.index") == "/outer/api/v1/teams/"


def test_routes_added_to_a_router_after_include_are_served(client_for: Client) -> None:
    api = Router(prefix="/api")
    app = App(__name__)
    app.include(api)

    @api.get("/late")
    def late() -> str:
        return "late"

    assert client_for(app).get("/api/late").text == "late"


def test_router_errors() -> None:
    with pytest.raises(RouteError, match="must start with '/'"):
        Router(prefix="api")
    router = Router()
    with pytest.raises(RouteError, match="cannot include itself"):
        router.include(router)
    with pytest.raises(RouteError, match="must start with '/'"):
        router.add_route("teams", lambda: None)


def test_duplicate_names_are_clear_errors_at_startup() -> None:
    app = App(__name__)
    admin = Router(prefix="/admin")

    @app.get("/")
    def index() -> str:
        return ""

    @admin.get("/")
    def index() -> str:  # noqa: F811 - the clash under test
        return ""

    app.include(admin)
    with pytest.raises(RuntimeError, match="two routes are named 'index'"):
        TestClient(app).__enter__()


def test_duplicate_paths_are_clear_errors_at_startup() -> None:
    app = App(__name__)

    @app.get("/teams")
    def teams() -> str:
        return ""

    @app.route("/teams", methods=["GET"], name="other")
    def other() -> str:
        return ""

    with pytest.raises(RuntimeError, match="GET /teams has two routes"):
        TestClient(app).__enter__()


def test_same_router_included_twice(client_for: Client) -> None:
    shared = Router()

    @shared.get("/status")
    def status() -> str:
        return "ok"

    app = App(__name__)
    app.include(shared, prefix="/v1")
    app.include(shared, prefix="/v2")
    client = client_for(app)
    assert client.get("/v1/status").text == "ok"
    assert client.get("/v2/status").text == "ok"
    assert app.url_for("status") == "/v1/status"


def test_route_names_default_to_the_function_name_and_routes_list() -> None:
    app = App(__name__)

    @app.get("/teams/<int:team_id>")
    def team(team_id: int) -> str:
        return ""

    @app.post("/teams", name="create")
    def add() -> str:
        return ""

    routes = {(route.path, route.name, tuple(sorted(route.methods))) for route in app.routes}
    assert routes == {("/teams/<int:team_id>", "team", ("GET",)), ("/teams", "create", ("POST",))}


# url_for.


def test_url_for_with_params_and_extra_query(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/teams/<int:team_id>/players/<name>")
    def player(request: Request, team_id: int, name: str) -> dict[str, str]:
        return {
            "self": request.url_for("player", team_id=team_id, name=name),
            "next": request.url_for("player", team_id=team_id + 1, name="Zoë Ann", page=2),
        }

    client = client_for(app)
    assert client.get("/teams/1/players/bob").json() == {
        "self": "/teams/1/players/bob",
        "next": "/teams/2/players/Zo%C3%AB%20Ann?page=2",
    }
    assert app.url_for("player", team_id=3, name="x", tag=["a", "b"]) == (
        "/teams/3/players/x?tag=a&tag=b"
    )
    with pytest.raises(RouteError, match="no route is named 'nope'"):
        app.url_for("nope")
    with pytest.raises(RouteError, match="missing parameter 'name'"):
        app.url_for("player", team_id=1)


# Mounts and static folders.


def test_mount_a_native_app_and_url_for_under_its_root_path(client_for: Client) -> None:
    inner = App(__name__)

    @inner.get("/page/<int:n>", name="page")
    def page(request: Request, n: int) -> dict[str, str]:
        return {
            "path": request.path,
            "root_path": request.root_path,
            "url": request.url,
            "link": request.url_for("page", n=n + 1),
        }

    outer = App(__name__)
    outer.mount("/inner", inner)

    @outer.get("/")
    def home() -> str:
        return "outer"

    client = client_for(outer)
    assert client.get("/").text == "outer"
    assert client.get("/inner/page/1").json() == {
        "path": "/page/1",
        "root_path": "/inner",
        "url": "http://testserver/inner/page/1",
        "link": "/inner/page/2",
    }
    assert client.get("/inner/missing").status_code == 404
    assert [mount.prefix for mount in outer.mounts] == ["/inner"]


def test_routes_win_over_mounts_longest_mount_first(client_for: Client) -> None:
    def text_app(text: str) -> App:
        app = App(__name__)

        @app.get("/<path:rest>")
        def anything(rest: str) -> str:
            return f"{text}:{rest}"

        return app

    outer = App(__name__)
    outer.mount("/a", text_app("a"))
    outer.mount("/a/b", text_app("ab"))

    @outer.get("/a/own")
    def own() -> str:
        return "own route"

    client = client_for(outer)
    assert client.get("/a/own").text == "own route"
    assert client.get("/a/x").text == "a:x"
    assert client.get("/a/b/y").text == "ab:y"
    assert client.get("/ab/y").status_code == 404


def test_static_folder(client_for: Client, tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_text("body { color: red }")
    app = App(__name__, static_folder=None)
    app.static("/assets", str(tmp_path))
    client = client_for(app)
    response = client.get("/assets/css/site.css")
    assert response.status_code == 200
    assert response.text == "body { color: red }"
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    etag = response.headers["etag"]
    assert client.get("/assets/css/site.css", headers={"If-None-Match": etag}).status_code == 304
    ranged = client.get("/assets/css/site.css", headers={"Range": "bytes=0-3"})
    assert (ranged.status_code, ranged.text) == (206, "body")
    head = client.head("/assets/css/site.css")
    assert (head.content, head.headers["content-length"]) == (b"", "19")
    assert client.get("/assets/missing.css").status_code == 404
    assert client.get("/assets/../test_app.py").status_code == 404


def test_static_folder_beside_the_module_by_default(
    client_for: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "app.js").write_text("console.log(1)")
    module = types.ModuleType("fake_site")
    module.__file__ = str(tmp_path / "site.py")
    monkeypatch.setitem(sys.modules, "fake_site", module)
    app = App("fake_site")
    assert app.root_folder == str(tmp_path)
    response = client_for(app).get("/static/app.js")
    assert response.text == "console.log(1)"
    # Without a static folder there is no mount.
    assert App(__name__).mounts == [] or not (Path(__file__).parent / "static").is_dir()


# State, startup and shutdown.


def test_state_startup_shutdown(path: str) -> None:
    app = App(__name__)
    events: list[str] = []

    @app.on_startup
    async def connect() -> None:
        app.state.db = {"teams": ["Eagles"]}
        events.append("startup")

    @app.on_shutdown
    def disconnect() -> None:
        events.append("shutdown")
        app.state.db = None

    @app.get("/teams")
    def teams(request: Request) -> Any:
        assert request.app is app
        return request.app.state.db["teams"]

    with TestClient(app, path=path) as client:
        assert client.get("/teams").json() == ["Eagles"]
    assert events == ["startup", "shutdown"]
    assert app.state.db is None


# Middleware (porch's own on both paths; ASGI middleware on the ASGI face).


class Stamp(Middleware):
    def __init__(self, value: str = "on") -> None:
        self.value = value

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        response = await call_next(request)
        headers = [*response.headers, (b"x-stamp", self.value.encode())]
        return NativeResponse(response.status, headers, response.body)


def test_porch_middleware_on_both_paths(client_for: Client) -> None:
    app = App(__name__)
    app.add_middleware(Stamp, value="outer")

    @app.get("/")
    def index() -> str:
        return "x"

    client = client_for(app)
    assert client.get("/").headers["x-stamp"] == "outer"
    assert client.get("/missing").headers["x-stamp"] == "outer"


def test_asgi_middleware_turns_the_native_face_off() -> None:
    class Header:
        def __init__(self, app: Any, value: str) -> None:
            self.app = app
            self.value = value

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def stamped(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-asgi", self.value.encode())]
                await send(message)

            await self.app(scope, receive, stamped)

    app = App(__name__)

    @app.get("/")
    def index() -> str:
        return "x"

    assert hasattr(app, "__porch_http__")
    app.add_middleware(Header, value="yes")
    assert not hasattr(app, "__porch_http__")
    with TestClient(app) as client:
        assert client.path == "asgi"
        assert client.get("/").headers["x-asgi"] == "yes"


def test_debug_flag_from_the_server_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from porch.server import settings as server_settings

    # `porch run --debug` records its settings; no variable travels through os.environ.
    monkeypatch.setattr(server_settings, "_serving", server_settings.Settings(debug=True))
    assert App(__name__).debug is True
    assert App(__name__, debug=False).debug is False
    monkeypatch.setattr(server_settings, "_serving", server_settings.Settings())
    assert App(__name__).debug is False
    monkeypatch.setattr(server_settings, "_serving", None)  # under another server
    monkeypatch.setenv("PORCH_DEBUG", "1")
    assert App(__name__).debug is False
    monkeypatch.setenv("DEBUG", "1")  # the application's own settings
    assert App(__name__).debug is True


class Raises(Middleware):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        raise self.error


def test_http_error_from_a_middleware_keeps_its_status(client_for: Client) -> None:
    app = App(__name__)
    app.add_middleware(Raises, error=abort_error(403, "no entry"))
    app.add_middleware(Stamp, value="outside")
    response = client_for(app).get("/")
    assert response.status_code == 403
    assert "no entry" in response.text
    assert response.headers["x-stamp"] == "outside"  # the outer middleware saw it


def test_exception_in_a_middleware_is_a_500_the_outer_ones_see(client_for: Client) -> None:
    app = App(__name__)
    app.add_middleware(Raises, error=RuntimeError("middleware secret"))
    app.add_middleware(Stamp, value="outside")
    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "secret" not in response.text
    assert response.headers["x-stamp"] == "outside"


def abort_error(status: int, detail: str) -> Exception:
    from porch import HTTPError

    return HTTPError(status, detail)


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_shutdown_lets_the_worker_threads_go_and_a_restart_works(path: str) -> None:
    import threading
    import time

    app = App(__name__)

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [threading.current_thread().name.encode()]

    app.mount("/wsgi", wsgi)

    @app.get("/")
    def index() -> str:
        return threading.current_thread().name

    first = app.executor
    with TestClient(app, path=path) as client:
        assert client.get("/").text.startswith("porch-app")
        assert client.get("/wsgi/").text.startswith("porch-app")
    threads: set[threading.Thread] = first._threads  # type: ignore[attr-defined]
    assert threads
    assert app.executor is not first
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.is_alive() for t in threads)
    with TestClient(app, path=path) as client:
        assert client.get("/").text.startswith("porch-app")
        assert client.get("/wsgi/").text.startswith("porch-app")


@pytest.mark.parametrize("path", ["native", "asgi"])
def test_mounted_porch_apps_start_and_stop_with_their_host(path: str) -> None:
    events: list[str] = []
    inner = App(__name__)
    inner.on_startup(lambda: events.append("inner startup"))
    inner.on_shutdown(lambda: events.append("inner shutdown"))

    @inner.get("/")
    def index() -> str:
        return "inner"

    outer = App(__name__)
    outer.on_startup(lambda: events.append("outer startup"))
    outer.on_shutdown(lambda: events.append("outer shutdown"))
    outer.mount("/inner", inner)
    inner_pool = inner.executor
    with TestClient(outer, path=path) as client:
        assert client.get("/inner/").text == "inner"
    assert events == ["inner startup", "outer startup", "outer shutdown", "inner shutdown"]
    assert inner.executor is not inner_pool  # its threads were let go too


def test_eager_false_runs_every_request_in_a_task_of_its_own() -> None:
    # On porch's server (the native path), a handler can need a task before its first await:
    # asyncio.timeout() does. eager=False gives it one from the start, on every Python.
    import asyncio

    import httpx

    from tests.support import serve

    app = App(__name__, eager=False)

    @app.get("/")
    async def index() -> dict[str, bool]:
        async with asyncio.timeout(5):
            return {"task": asyncio.current_task() is not None}

    with serve(app) as server:
        response = httpx.get(server.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"task": True}
