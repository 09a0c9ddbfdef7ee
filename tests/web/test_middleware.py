"""Middleware in general (`porch/web/middleware/base.py`, `App.add_middleware`): order,
options, short cuts, errors, streams, mounts, and third-party ASGI middleware."""

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.gzip import GZipMiddleware as StarletteGZip

from porch.http import HTTPError
from porch.http.native import Response as NativeResponse
from porch.testing import TestClient
from porch.web import App, PlainTextResponse, Request, StreamingResponse
from porch.web.middleware import CallNext, CORSMiddleware, Middleware
from tests.support import RawClient, serve


class Trace(Middleware):
    """Records its name on the way in and out, and adds a header."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        self.log.append(f"{self.name} in")
        response = await call_next(request)
        self.log.append(f"{self.name} out")
        header = (b"x-trace", self.name.encode())
        return NativeResponse(response.status, [*response.headers, header], response.body)


class Gate(Middleware):
    """Answers 401 itself unless the request has the password."""

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        if request.headers.get("x-password") != "open":
            return NativeResponse(401, [(b"content-type", b"text/plain")], b"closed")
        request.state.user = "alice"
        return await call_next(request)


class Upper(Middleware):
    """Upper-cases a streamed body chunk by chunk."""

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        response = await call_next(request)
        body = response.body
        if isinstance(body, bytes):
            return NativeResponse(response.status, response.headers, body.upper())

        async def upper() -> AsyncIterator[bytes]:
            async for chunk in body:  # type: ignore[union-attr]
                yield chunk.upper()

        return NativeResponse(response.status, response.headers, upper())


class Fails(Middleware):
    """Raises what it is given, before calling the application."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, request: Request, call_next: CallNext) -> NativeResponse:
        raise self.error


def make_app() -> App:
    app = App("tests.web.test_middleware", static_folder=None)
    app.state.handled = 0

    @app.get("/")
    def index(request: Request) -> str:
        app.state.handled += 1
        return f"hello {getattr(request.state, 'user', 'nobody')}"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaput")

    @app.get("/stream")
    async def stream() -> Any:
        async def chunks() -> AsyncIterator[str]:
            for word in ("one ", "two ", "three"):
                await asyncio.sleep(0)
                yield word

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


def test_last_added_runs_first(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    log: list[str] = []
    app.add_middleware(Trace, name="inner", log=log)
    app.add_middleware(Trace, name="outer", log=log)
    response = client_for(app).get("/")
    assert response.text == "hello nobody"
    assert log == ["outer in", "inner in", "inner out", "outer out"]
    assert response.headers.get_list("x-trace") == ["inner", "outer"]


def test_short_cut_and_request_state(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    app.add_middleware(Gate)
    client = client_for(app)
    closed = client.get("/")
    assert (closed.status_code, closed.text) == (401, "closed")
    assert app.state.handled == 0
    assert client.get("/", headers={"x-password": "open"}).text == "hello alice"
    assert app.state.handled == 1


def test_sees_error_responses(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    log: list[str] = []
    app.add_middleware(Trace, name="t", log=log)
    client = client_for(app)
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["x-trace"] == "t"
    failed = client.get("/boom")
    assert failed.status_code == 500
    assert failed.headers["x-trace"] == "t"
    assert "kaput" not in failed.text


def test_streamed_body_through_a_middleware(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    app.add_middleware(Upper)
    client = client_for(app)
    assert client.get("/stream").text == "ONE TWO THREE"
    assert client.get("/").text == "HELLO NOBODY"


def test_added_after_the_first_request(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    client = client_for(app)
    assert "x-trace" not in client.get("/").headers
    app.add_middleware(Trace, name="late", log=[])
    assert client.get("/").headers["x-trace"] == "late"


def test_wraps_mounted_applications(client_for: Callable[..., TestClient]) -> None:
    def legacy(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"wsgi says hi"]

    app = make_app()
    app.mount("/legacy", legacy)
    app.add_middleware(Upper)
    response = client_for(app).get("/legacy/")
    assert response.text == "WSGI SAYS HI"


def test_failing_middleware_is_a_generic_500(client_for: Callable[..., TestClient]) -> None:
    app = make_app()
    app.add_middleware(Fails, error=RuntimeError("secret detail"))
    response = client_for(app).get("/")
    assert response.status_code == 500
    assert "secret detail" not in response.text
    assert app.state.handled == 0


def test_http_error_from_a_middleware_keeps_its_status(
    client_for: Callable[..., TestClient],
) -> None:
    """A middleware may refuse a request by raising, as a handler may."""
    app = make_app()
    app.add_middleware(Fails, error=HTTPError(403, "no entry"))
    response = client_for(app).get("/")
    assert response.status_code == 403
    assert "no entry" in response.text


def test_outer_middleware_sees_the_500_of_an_inner_one(
    client_for: Callable[..., TestClient],
) -> None:
    """The 500 of a failing middleware still passes the ones outside it (CORS on a 500)."""
    app = make_app()
    app.add_middleware(Fails, error=RuntimeError("inner"))
    app.add_middleware(CORSMiddleware, allow_origins=["https://site.example"])
    response = client_for(app).get("/", headers={"origin": "https://site.example"})
    assert response.status_code == 500
    assert response.headers["access-control-allow-origin"] == "https://site.example"


def test_base_class_passes_the_next_awaitable_through() -> None:
    """PERF: the base class adds no coroutine of its own."""
    marker: Any = object()
    request: Any = object()
    assert Middleware()(request, lambda _: marker) is marker


# Third-party ASGI middleware.


class Stamp:
    """A plain ASGI middleware: adds a header to every HTTP response."""

    def __init__(self, app: Any, value: str = "yes") -> None:
        self.app = app
        self.value = value.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def stamped(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-stamp", self.value)]}
            await send(message)

        await self.app(scope, receive, stamped if scope["type"] == "http" else send)


class StarletteTiming(BaseHTTPMiddleware):
    """Starlette's own style of middleware."""

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-starlette"] = request.url.path
        return response


def asgi_wrapped_app() -> App:
    app = make_app()

    @app.get("/long")
    def long() -> Any:
        return PlainTextResponse("words " * 500)

    app.add_middleware(StarletteGZip, minimum_size=100)
    app.add_middleware(StarletteTiming)
    app.add_middleware(Stamp, value="outer")
    app.add_middleware(Trace, name="porch", log=[])
    return app


def test_asgi_middleware_turns_off_the_native_path() -> None:
    app = make_app()
    assert hasattr(app, "__porch_http__")
    app.add_middleware(Stamp)
    assert not hasattr(app, "__porch_http__")
    assert TestClient(app).path == "asgi"


def test_asgi_middleware_in_process() -> None:
    with TestClient(asgi_wrapped_app()) as client:
        response = client.get("/long", headers={"accept-encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"  # Starlette's GZip
        assert response.text == "words " * 500
        assert response.headers["x-stamp"] == "outer"
        assert response.headers["x-starlette"] == "/long"
        assert response.headers["x-trace"] == "porch"  # porch's own run inside
        failed = client.get("/boom")
        assert failed.status_code == 500
        assert failed.headers["x-stamp"] == "outer"


def test_asgi_middleware_over_a_socket() -> None:
    with serve(asgi_wrapped_app()) as server:
        with RawClient(server.port) as raw:
            raw.send(b"GET /long HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
            status, headers, body = raw.read_response()
        assert status == 200
        assert headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == b"words " * 500
        assert headers["x-stamp"] == "outer"
        assert headers["x-trace"] == "porch"
        with httpx.Client(base_url=server.url) as client:
            response = client.get("/stream")
            assert response.text == "one two three"
            assert response.headers["x-starlette"] == "/stream"
