"""Routers (porch/web/router.py): route objects and their metadata, and the hooks and error
handlers of routers, which also answer the paths under their prefix that match no route (as
Flask's blueprints); every request through both paths."""

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from porch import App, Request, Response, Router, abort
from porch.testing import TestClient

Client = Callable[..., TestClient]


def json_404s() -> tuple[App, list[str]]:
    """An App with an /api router that answers its errors as JSON, and hooks on both."""
    app = App(__name__, static_folder=None)
    api = Router(prefix="/api", tags=["api"])
    seen: list[str] = []

    @app.get("/")
    def index() -> str:
        return "home"

    @api.get("/teams/<int:team_id>", tags=["teams"], status=200, summary="One team")
    def team(team_id: int) -> dict[str, int]:
        if team_id > 10:
            abort(404, "No such team")
        return {"id": team_id}

    @api.errorhandler(404)
    def api_not_found(request: Request, exc: Exception) -> Any:
        return {"error": "not found", "detail": getattr(exc, "detail", None)}, 404

    @app.before_request
    def app_before(request: Request) -> None:
        seen.append("app before")

    @api.before_request
    def api_before(request: Request) -> None:
        seen.append("api before")

    @api.after_request
    def api_after(request: Request, response: Response) -> None:
        seen.append("api after")
        response.headers["X-Api"] = "1"

    @app.after_request
    def app_after(request: Request, response: Response) -> None:
        seen.append("app after")
        response.headers["X-App"] = "1"

    app.include(api)
    return app, seen


def test_route_objects_carry_their_metadata() -> None:
    app, _ = json_404s()
    (route,) = [route for route in app.routes if route.name == "team"]
    assert route.path == "/api/teams/<int:team_id>"
    assert route.methods == frozenset({"GET"})
    assert route.tags == ("api", "teams")
    assert (route.status, route.summary) == (200, "One team")
    with pytest.raises(TypeError, match="unknown route option"):
        app.get("/x", colour="blue")


def test_router_hooks_run_outermost_first_then_innermost_first(client_for: Client) -> None:
    app, seen = json_404s()
    client = client_for(app)
    response = client.get("/api/teams/1")
    assert response.json() == {"id": 1}
    assert seen == ["app before", "api before", "api after", "app after"]
    assert (response.headers["x-api"], response.headers["x-app"]) == ("1", "1")
    seen.clear()
    # The App's own routes: only its hooks.
    response = client.get("/")
    assert seen == ["app before", "app after"]
    assert "x-api" not in response.headers


def test_router_errorhandler_answers_its_aborts_and_unknown_paths(client_for: Client) -> None:
    app, seen = json_404s()
    client = client_for(app)
    for path in ("/api/teams/11", "/api/nothing-here", "/api"):
        seen.clear()
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not found", path
        # Hooks run for a 404 too, as Flask runs them.
        assert seen == ["app before", "api before", "api after", "app after"], path
    assert client.get("/api/teams/11").json()["detail"] == "No such team"
    # Outside the router's prefix, the App's default page.
    response = client.get("/elsewhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-app"] == "1" and "x-api" not in response.headers


def test_hooks_run_for_405_options_redirects_and_static_files(
    client_for: Client, tmp_path: Path
) -> None:
    (tmp_path / "style.css").write_text("body{}")
    app = App(__name__, static_folder=None)
    app.static("/static", str(tmp_path))
    seen: list[tuple[str, int]] = []

    @app.get("/teams/")
    def teams() -> str:
        return "teams"

    @app.after_request
    def note(request: Request, response: Response) -> None:
        seen.append((request.method, response.status))
        response.headers["X-Frame-Options"] = "DENY"

    client = client_for(app, follow_redirects=False)
    answers = [
        client.post("/teams/"),  # 405
        client.options("/teams/"),  # 204 with Allow
        client.get("/teams"),  # 308 to /teams/
        client.get("/static/style.css"),  # a static file
        client.get("/missing"),  # 404
    ]
    assert [response.status_code for response in answers] == [405, 204, 308, 200, 404]
    assert all(response.headers["x-frame-options"] == "DENY" for response in answers)
    assert answers[0].headers["allow"] == "GET, HEAD, OPTIONS"
    assert answers[3].text == "body{}"
    assert seen == [("POST", 405), ("OPTIONS", 204), ("GET", 308), ("GET", 200), ("GET", 404)]


def test_before_request_may_answer_a_404(client_for: Client) -> None:
    app = App(__name__, static_folder=None)

    @app.before_request
    def maintenance(request: Request) -> Any:
        return ("down for maintenance", 503) if request.path.startswith("/down") else None

    assert client_for(app).get("/down/anything").status_code == 503


def test_a_failing_after_hook_never_turns_a_404_into_a_500(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(__name__, static_folder=None)

    @app.after_request
    def needs_a_route(request: Request, response: Response) -> None:
        response.headers["X-Route"] = request.route.name  # type: ignore[union-attr]

    @app.get("/")
    def index() -> str:
        return "home"

    client = client_for(app)
    assert client.get("/").headers["x-route"] == "index"
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client.get("/missing")
    assert response.status_code == 404
    assert "x-route" not in response.headers
    assert any("AttributeError" in repr(record.exc_info) for record in caplog.records)


def test_error_handlers_innermost_first(client_for: Client) -> None:
    app = App(__name__, static_folder=None)
    outer = Router(prefix="/outer")
    inner = Router(prefix="/inner")

    @inner.get("/boom")
    def boom() -> str:
        raise KeyError("x")

    @outer.get("/boom")
    def outer_boom() -> str:
        raise KeyError("y")

    @app.errorhandler(KeyError)
    def app_handler(request: Request, exc: Exception) -> Any:
        return "app handled", 500

    @outer.errorhandler(LookupError)
    def outer_handler(request: Request, exc: Exception) -> Any:
        return "outer handled", 500

    outer.include(inner)
    app.include(outer)
    client = client_for(app)
    # The inner router has none: its parent's handler (for a base class) comes before the
    # App's (for the exact class).
    assert client.get("/outer/inner/boom").text == "outer handled"
    assert client.get("/outer/boom").text == "outer handled"


def test_teardown_runs_once_the_response_is_sent(client_for: Client) -> None:
    app = App(__name__, static_folder=None)
    api = Router(prefix="/api")
    events: list[tuple[str, str, str | None]] = []

    @app.teardown_request
    async def app_teardown(request: Request, exc: BaseException | None) -> None:
        events.append(("app", request.path, type(exc).__name__ if exc else None))

    @api.teardown_request
    def api_teardown(request: Request, exc: BaseException | None) -> None:
        events.append(("api", request.path, type(exc).__name__ if exc else None))
        raise RuntimeError("a teardown that fails is logged, nothing more")

    @api.get("/fail")
    def fail() -> str:
        raise ValueError("no")

    @api.get("/stream")
    def stream() -> Response:
        from porch import StreamingResponse

        events.append(("handler", "/api/stream", None))
        return StreamingResponse(iter(["a", "b"]))

    @app.get("/")
    def index() -> str:
        return "home"

    app.include(api)
    client = client_for(app)
    assert client.get("/").text == "home"
    assert client.get("/api/fail").status_code == 500
    assert client.get("/api/stream").text == "ab"
    assert client.get("/nowhere").status_code == 404

    def settled() -> bool:
        return len(events) >= 7

    for _ in range(100):
        if settled():
            break
        client._portal_run(asyncio.sleep(0.01))
    assert events == [
        ("app", "/", None),
        ("api", "/api/fail", "ValueError"),
        ("app", "/api/fail", "ValueError"),
        ("handler", "/api/stream", None),
        ("api", "/api/stream", None),
        ("app", "/api/stream", None),
        ("app", "/nowhere", None),  # an HTTP error is no exception to tear down after
    ]
