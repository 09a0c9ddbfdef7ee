"""Errors (porch/web/errors.py and the App's error handling): abort and HTTPError, error
handlers by status and by exception class, the generic 500, JSON or HTML pages that escape
what they echo; every request through both of the App's paths."""

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from porch import App, HTTPError, JSONResponse, Request, Response, abort
from porch.http.errors import ClientDisconnected
from porch.http.native import RequestHead
from porch.testing import TestClient
from porch.web.errors import error_page, wants_json

Client = Callable[..., TestClient]
JSON = {"Accept": "application/json"}


class PaymentRequired(Exception):
    """A domain error an application maps to a response."""


class CardDeclined(PaymentRequired):
    """A narrower one: handled by its parent's handler."""


def raising_app() -> App:
    app = App(__name__)

    @app.get("/abort")
    def aborts() -> str:
        abort(403, "Members only")

    @app.get("/abort-default")
    async def aborts_default() -> str:
        abort(418)

    @app.get("/raise")
    async def raises() -> str:
        raise HTTPError(409, "Team name taken")

    @app.get("/headers")
    def with_headers() -> str:
        abort(401, "Log in", [(b"www-authenticate", b'Basic realm="club"')])

    @app.get("/script")
    def script(request: Request) -> str:
        abort(400, request.query.get("q", "<script>alert(1)</script>"))

    @app.get("/crash")
    def crash() -> str:
        password = "hunter2"  # noqa: F841 - a local the page must not show
        raise RuntimeError("database password is hunter2")

    @app.get("/crash-async")
    async def crash_async() -> str:
        raise KeyError("secret-key-42")

    @app.get("/declined")
    def declined() -> str:
        raise CardDeclined("card 4242 declined")

    return app


def test_abort_with_detail(client_for: Client) -> None:
    client = client_for(raising_app())
    response = client.get("/abort")
    assert response.status_code == 403
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>403 Forbidden</title>" in response.text
    assert "<p>Members only</p>" in response.text


def test_abort_without_detail_uses_the_phrase(client_for: Client) -> None:
    response = client_for(raising_app()).get("/abort-default")
    assert response.status_code == 418
    assert "418 I&#x27;m a Teapot" in response.text or "418 I&#x27;m a teapot" in response.text
    assert "<p>" not in response.text


def test_raise_http_error(client_for: Client) -> None:
    response = client_for(raising_app()).get("/raise", headers=JSON)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"status": 409, "detail": "Team name taken"}}


def test_http_error_headers_are_sent(client_for: Client) -> None:
    response = client_for(raising_app()).get("/headers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="club"'


def test_error_pages_escape_what_they_echo(client_for: Client) -> None:
    client = client_for(raising_app())
    response = client.get("/script")
    assert response.status_code == 400
    assert "<script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    payload = "\"><img src=x onerror=alert('x')>"
    response = client.get("/script", params={"q": payload})
    assert "<img" not in response.text
    assert "&lt;img src=x onerror=alert(&#x27;x&#x27;)&gt;" in response.text
    # In JSON, the detail is a string value: encoded, never raw markup in an HTML page.
    response = client.get("/script", headers=JSON)
    assert response.json()["error"]["detail"] == "<script>alert(1)</script>"
    assert response.headers["content-type"] == "application/json"


def test_unhandled_exception_is_a_generic_500_that_leaks_nothing(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(raising_app())
    for target in ("/crash", "/crash-async"):
        with caplog.at_level(logging.ERROR, logger="porch.error"):
            response = client.get(target)
        assert response.status_code == 500
        for secret in ("hunter2", "secret-key-42", "RuntimeError", "KeyError", "Traceback"):
            assert secret not in response.text
        assert "500 Internal Server Error" in response.text
        response = client.get(target, headers=JSON)
        assert response.json() == {"error": {"status": 500, "detail": "Internal Server Error"}}
    logged = [r for r in caplog.records if r.name == "porch.error"]
    assert any("hunter2" in str(r.exc_info[1]) for r in logged if r.exc_info)


def test_unknown_path_error_page_is_json_when_preferred(client_for: Client) -> None:
    client = client_for(raising_app())
    response = client.get("/missing", headers={"Accept": "application/json, text/html;q=0.9"})
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "detail": "Not Found"}}
    response = client.get("/missing", headers={"Accept": "text/html,application/json;q=0.9"})
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    response = client.get("/missing", headers={"Accept": "*/*"})
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_errorhandler_by_status(client_for: Client) -> None:
    app = raising_app()
    seen: list[tuple[str, int, str | None]] = []

    @app.errorhandler(404)
    def not_found(request: Request, error: HTTPError) -> str:
        seen.append((request.path, error.status, error.detail))
        return "<h1>No such page</h1>"

    @app.errorhandler(403)
    async def forbidden(request: Request, error: HTTPError) -> tuple[dict[str, str], int]:
        return {"why": error.detail}, 451

    client = client_for(app)
    response = client.get("/nowhere")
    # A bare body takes the status it handles: a 404 page stays a 404.
    assert (response.status_code, response.text) == (404, "<h1>No such page</h1>")
    assert seen == [("/nowhere", 404, None)]  # no detail was given
    response = client.get("/abort")
    assert (response.status_code, response.json()) == (451, {"why": "Members only"})


def test_errorhandler_sees_no_detail_unless_one_was_given(client_for: Client) -> None:
    app = raising_app()
    seen: list[str | None] = []

    @app.errorhandler(HTTPError)
    def any_error(request: Request, error: HTTPError) -> str:
        seen.append(error.detail)
        return error.detail or f"({error.status} without detail)"

    client = client_for(app)
    assert client.get("/abort-default").text == "(418 without detail)"
    assert client.get("/abort").text == "Members only"
    assert seen == [None, "Members only"]


def test_default_page_shows_the_phrase_without_detail(client_for: Client) -> None:
    response = client_for(raising_app()).get("/abort-default", headers=JSON)
    assert response.status_code == 418
    assert response.json()["error"]["detail"].lower() == "i'm a teapot"


def test_errorhandler_for_405_keeps_allow(client_for: Client) -> None:
    app = raising_app()

    @app.errorhandler(405)
    def not_allowed(request: Request, error: HTTPError) -> JSONResponse:
        return JSONResponse({"allowed": dict(error.headers)[b"allow"].decode()}, 405)

    response = client_for(app).post("/abort")
    assert response.status_code == 405
    assert response.json() == {"allowed": "GET, HEAD, OPTIONS"}
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_errorhandler_by_exception_class(client_for: Client) -> None:
    app = raising_app()

    @app.errorhandler(PaymentRequired)
    def payment(request: Request, exc: PaymentRequired) -> tuple[str, int]:
        return f"payment problem: {type(exc).__name__}", 402

    response = client_for(app).get("/declined")
    assert (response.status_code, response.text) == (402, "payment problem: CardDeclined")


def test_errorhandler_for_http_error_class(client_for: Client) -> None:
    app = raising_app()

    @app.errorhandler(HTTPError)
    def any_http_error(request: Request, error: HTTPError) -> dict[str, Any]:
        return {"status": error.status}

    client = client_for(app)
    response = client.get("/raise")
    assert (response.status_code, response.json()) == (409, {"status": 409})
    response = client.get("/nowhere")
    assert (response.status_code, response.json()) == (404, {"status": 404})


def test_errorhandler_500_handles_unhandled_exceptions(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app = raising_app()

    @app.errorhandler(500)
    def oops(request: Request, exc: Exception) -> str:
        return "<h1>Sorry</h1>"

    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client_for(app).get("/crash")
    assert (response.status_code, response.text) == (500, "<h1>Sorry</h1>")
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records)


def test_failing_error_handler_is_a_generic_500(client_for: Client) -> None:
    app = raising_app()

    @app.errorhandler(404)
    def broken(request: Request, error: HTTPError) -> str:
        raise ValueError("handler bug with secret")

    response = client_for(app).get("/nowhere")
    assert response.status_code == 500
    assert "secret" not in response.text


def test_error_handler_may_abort(client_for: Client) -> None:
    app = raising_app()

    @app.errorhandler(PaymentRequired)
    def payment(request: Request, exc: Exception) -> str:
        abort(402, "Pay first")

    response = client_for(app).get("/declined")
    assert response.status_code == 402
    assert "Pay first" in response.text


def test_errors_in_hooks_reach_the_handlers(client_for: Client) -> None:
    app = App(__name__)

    @app.before_request
    def check(request: Request) -> None:
        if "deny" in request.query:
            abort(403, "Denied by hook")
        if "crash" in request.query:
            raise PaymentRequired("from hook")

    @app.errorhandler(PaymentRequired)
    def payment(request: Request, exc: Exception) -> tuple[str, int]:
        return "handled", 402

    @app.get("/")
    def index() -> str:
        return "ok"

    client = client_for(app)
    assert client.get("/").text == "ok"
    response = client.get("/?deny")
    assert (response.status_code, "Denied by hook" in response.text) == (403, True)
    assert client.get("/?crash").status_code == 402


def test_client_disconnect_while_reading_is_not_logged_as_an_error(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    from porch.server.asgi import http_scope

    app = App(__name__)

    @app.post("/upload")
    async def upload(request: Request) -> bytes:
        return await request.body()

    class Gone:
        async def read(self) -> bytes:
            raise ClientDisconnected("client disconnected")

        async def stream(self) -> AsyncIterator[bytes]:
            raise ClientDisconnected("client disconnected")
            yield b""

    head = RequestHead("POST", b"/upload", b"/upload", b"", [(b"host", b"x")])

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def run() -> None:
        if path == "native":
            response = await app.__porch_http__(head, Gone())
            assert response.status == 400
        else:
            await app(http_scope(head), receive, send)

    with caplog.at_level(logging.ERROR, logger="porch.error"):
        asyncio.run(run())
    assert not [r for r in caplog.records if r.name == "porch.error"]


def test_debug_page_only_for_local_clients_not_forwarded(
    client_for: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORCH_DEBUG_TOKEN", "the-token")
    app = raising_app()
    app.debug = True
    assert "hunter2" not in client_for(app).get("/crash").text  # local, but no token
    token = {"X-Porch-Debug-Token": "the-token"}
    local = client_for(app, headers=token)
    assert "hunter2" in local.get("/crash").text
    remote = client_for(app, client=("203.0.113.9", 4000), headers=token)
    assert "hunter2" not in remote.get("/crash").text
    proxied = local.get("/crash", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 500
    assert "hunter2" not in proxied.text


# The page builders, unit by unit.


def _head(accept: bytes | None) -> RequestHead:
    headers = [(b"accept", accept)] if accept is not None else []
    return RequestHead("GET", b"/", b"/", b"", headers)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        (b"*/*", False),
        (b"application/json", True),
        (b"application/problem+json", True),
        (b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        (b"application/json;q=0.5, text/html", False),
        (b"application/json, */*;q=0.1", True),
        (b"application/json;q=0", False),
    ],
)
def test_wants_json(accept: bytes | None, expected: bool) -> None:
    assert wants_json(_head(accept)) is expected


def test_error_page_units() -> None:
    page = error_page(_head(None), 404, "<b>")
    assert page.status == 404
    assert b"&lt;b&gt;" in page.body  # type: ignore[operator]
    page = error_page(_head(b"application/json"), 599)
    assert page.body == b'{"error":{"status":599,"detail":"Error"}}'
    page = error_page(_head(None), 503, headers=[(b"retry-after", b"5")])
    assert (b"retry-after", b"5") in list(page.headers)


def test_http_error_and_response_objects() -> None:
    error = HTTPError(404)
    assert (error.status, error.detail, str(error)) == (404, None, "404 Not Found")
    with pytest.raises(HTTPError) as caught:
        abort(400, "bad")
    assert caught.value.detail == "bad"
    assert isinstance(Response("x"), Response)


def test_an_api_routes_errors_are_problem_details_unless_html_is_asked(
    client_for: Callable[..., Any],
) -> None:
    from typing import Annotated

    from porch import Query

    app = App(__name__)

    @app.get("/items/<int:item_id>")
    async def item(item_id: int, verbose: Annotated[bool, Query()] = False) -> dict[str, int]:
        abort(404, "No such item")

    @app.get("/page")
    async def page() -> str:
        abort(404)

    client = client_for(app)
    for accept in ("*/*", "application/json", None):
        headers = {"Accept": accept} if accept else {}
        response = client.get("/items/3", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No such item"
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    assert (
        client.get("/items/3", headers={"Accept": browser})
        .headers["content-type"]
        .startswith("text/html")
    )
    # A route that reads nothing typed keeps the negotiated page.
    assert (
        client.get("/page", headers={"Accept": "*/*"})
        .headers["content-type"]
        .startswith("text/html")
    )
