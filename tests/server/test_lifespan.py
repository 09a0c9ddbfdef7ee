"""ASGI lifespan (`porch/server/lifespan.py`): startup and shutdown around the server's life."""

import asyncio
from typing import Any

import httpx
import pytest

from porch.http.native import Response
from porch.server.adapters import LifespanFailure
from porch.server.lifespan import Lifespan
from porch.server.server import EXIT_STARTUP_FAILED
from tests.server.wire import captured_log, messages, run
from tests.support import ThreadServer, serve


def lifespan_app(events: list[str], fail_startup: str | None = None) -> Any:
    """An app that handles lifespan, records it, and puts a value in the state."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                if message["type"] == "lifespan.startup":
                    if fail_startup is not None:
                        await send({"type": "lifespan.startup.failed", "message": fail_startup})
                        return
                    scope["state"]["db"] = "connected"
                    scope["state"]["shared"] = []
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        else:
            state = scope["state"]
            state["shared"].append(scope["path"])
            state["per_request"] = scope["path"]  # must not leak into the next request
            body = f"{state['db']} {sorted(state)}".encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

    return app


def test_startup_and_shutdown_around_the_server() -> None:
    events: list[str] = []
    with serve(lifespan_app(events)) as server:
        assert events == ["lifespan.startup"]
        response = httpx.get(server.url + "/one")
        assert response.text == "connected ['db', 'per_request', 'shared']"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


def test_state_is_copied_into_each_request() -> None:
    events: list[str] = []
    app = lifespan_app(events)
    states: list[dict[str, Any]] = []

    async def spy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            states.append(dict(scope["state"]))
        await app(scope, receive, send)

    with serve(spy) as server, httpx.Client(base_url=server.url) as client:
        client.get("/one")
        client.get("/two")
    # A shallow copy: keys set by one request stay in it; shared objects are shared.
    assert "per_request" not in states[0] and "per_request" not in states[1]
    assert states[1]["shared"] is states[0]["shared"]
    assert states[1]["shared"] == ["/one", "/two"]


def test_startup_failed_stops_the_server() -> None:
    events: list[str] = []
    server = ThreadServer(lifespan_app(events, fail_startup="no database"))
    with captured_log() as records, pytest.raises(RuntimeError, match="exited with 3"):
        server.__enter__()
    server.thread.join(5)
    server.sock.close()
    assert server.exit_code == EXIT_STARTUP_FAILED
    assert "no database" in messages(records)


def test_startup_exception_in_on_mode_stops_the_server() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("cannot start")

    server = ThreadServer(app, lifespan="on")
    with captured_log() as records, pytest.raises(RuntimeError, match="exited with 3"):
        server.__enter__()
    server.thread.join(5)
    server.sock.close()
    assert "cannot start" in messages(records)


def test_auto_mode_with_an_app_that_does_not_support_lifespan() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "unsupported scope"  # like many older apps
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"served"})

    with captured_log() as records, serve(app) as server:
        assert httpx.get(server.url).text == "served"
    assert messages(records) == ""  # not an error: the server goes on without lifespan
    assert any("lifespan" in r.getMessage() for r in records)


def test_off_mode_never_calls_lifespan() -> None:
    scopes: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope["type"])
        if scope["type"] == "http":
            assert "state" not in scope
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with serve(app, lifespan="off") as server:
        httpx.get(server.url)
    assert scopes == ["http"]


def test_native_app_that_speaks_asgi_gets_lifespan() -> None:
    events: list[str] = []

    class App:
        async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return

        def __porch_http__(self, head: Any, body: Any) -> Response:
            return Response(200, [], b"native")

    with serve(App()) as server:
        assert httpx.get(server.url).text == "native"
    assert events == ["lifespan.startup", "lifespan.shutdown"]


# The Lifespan class alone.


def test_state_kept_when_the_app_returns_right_after_startup() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        scope["state"]["ready"] = True
        await send({"type": "lifespan.startup.complete"})
        # Returning here is allowed: there is simply nothing to do at shutdown.

    async def main() -> None:
        lifespan = Lifespan(app, "auto")
        await lifespan.startup()
        assert lifespan.state == {"ready": True}
        await asyncio.wait_for(lifespan.shutdown(), 2)

    run(main())


def test_startup_failed_message() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "bad config"})

    async def main() -> None:
        lifespan = Lifespan(app, "auto")
        with pytest.raises(LifespanFailure, match="bad config"):
            await lifespan.startup()

    run(main())


def test_exception_after_startup_complete_is_not_a_startup_failure() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise RuntimeError("shutdown broke")

    async def main() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await asyncio.wait_for(lifespan.shutdown(), 2)

    with captured_log() as records:
        run(main())
    assert "shutdown broke" in messages(records)


def test_shutdown_failed_is_logged() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    async def main() -> None:
        lifespan = Lifespan(app, "on")
        await lifespan.startup()
        await asyncio.wait_for(lifespan.shutdown(), 2)

    with captured_log() as records:
        run(main())
    assert "flush failed" in messages(records)


def test_lifespan_scope() -> None:
    scopes: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def main() -> None:
        lifespan = Lifespan(app)
        await lifespan.startup()
        await lifespan.shutdown()

    run(main())
    (scope,) = scopes
    assert scope["type"] == "lifespan"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["state"] == {}


def test_unexpected_lifespan_message_fails_startup_in_on_mode() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.done"})

    async def main() -> None:
        with pytest.raises(LifespanFailure, match="unexpected message"):
            await Lifespan(app, "on").startup()

    with captured_log():
        run(main())
