"""Mounted applications (porch/web/mounts.py): Starlette, FastAPI, Flask, a plain WSGI
callable and a native porch App under a prefix, with root_path / SCRIPT_NAME as the specs say,
request bodies in and streamed bodies out; every request through both of the App's paths."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from porch import App, Request
from porch.testing import TestClient

Client = Callable[..., TestClient]


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request as SRequest
    from starlette.responses import FileResponse, JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def info(request: SRequest) -> JSONResponse:
        return JSONResponse(
            {
                "root_path": request.scope["root_path"],
                "path": request.scope["path"],
                "raw_path": request.scope["raw_path"].decode(),
                "url": str(request.url),
                "url_for": str(request.url_for("info", item="y")),
                "query": request.url.query,
            }
        )

    async def echo(request: SRequest) -> JSONResponse:
        body = await request.body()
        form = None
        if request.headers.get("content-type", "").startswith("multipart/"):
            data = await request.form()
            upload = data["file"]
            form = {"field": data["field"], "file": (await upload.read()).decode()}  # type: ignore[union-attr]
        return JSONResponse({"length": len(body), "form": form})

    async def stream(request: SRequest) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(50):
                await asyncio.sleep(0)
                yield b"%d\n" % index

        return StreamingResponse(chunks(), media_type="text/plain")

    async def file(request: SRequest) -> FileResponse:
        return FileResponse(__file__, media_type="text/x-python")

    return Starlette(
        routes=[
            Route("/file", file),
            Route("/info/{item}", info, name="info"),
            Route("/echo", echo, methods=["POST"]),
            Route("/stream", stream),
        ]
    )


def fastapi_app() -> Any:
    from fastapi import FastAPI
    from fastapi import Request as FRequest
    from fastapi.responses import StreamingResponse

    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int, request: FRequest, q: str | None = None) -> dict[str, Any]:
        return {
            "item_id": item_id,
            "q": q,
            "root_path": request.scope["root_path"],
            "url_for": str(request.url_for("item", item_id=item_id)),
        }

    @api.post("/items")
    async def create(payload: dict[str, Any]) -> dict[str, Any]:
        return {"created": payload}

    @api.get("/numbers")
    def numbers() -> StreamingResponse:
        return StreamingResponse((b"%d," % i for i in range(100)), media_type="text/plain")

    return api


def flask_app() -> Any:
    from flask import Flask, request, url_for
    from flask import Response as FResponse

    flask = Flask(__name__)

    @flask.route("/hello/<name>")
    def hello(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "script_name": request.environ["SCRIPT_NAME"],
            "path_info": request.environ["PATH_INFO"],
            "url_for": url_for("hello", name="x"),
            "url": request.url,
        }

    @flask.route("/echo", methods=["POST"])
    def echo() -> dict[str, Any]:
        upload = request.files.get("file")
        return {
            "form": dict(request.form),
            "file": upload.read().decode() if upload else None,
            "raw": len(request.get_data()) if not upload else None,
        }

    @flask.route("/stream")
    def stream() -> FResponse:
        def lines() -> Iterator[str]:
            for index in range(30):
                yield f"line {index}\n"

        return FResponse(lines(), mimetype="text/plain")

    return flask


def plain_wsgi(environ: dict[str, Any], start_response: Any) -> Any:
    """A Django-less, framework-less WSGI callable."""
    path = environ["PATH_INFO"]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")  # the legacy write() callable
        return [b"then returned"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"chunk %d;" % i for i in range(20))
    if path == "/boom":
        raise RuntimeError("wsgi secret")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    data = {
        "SCRIPT_NAME": environ["SCRIPT_NAME"],
        "PATH_INFO": path,
        "QUERY_STRING": environ["QUERY_STRING"],
        "REQUEST_METHOD": environ["REQUEST_METHOD"],
        "body": body.decode("latin-1"),
        "HTTP_X_TEST": environ.get("HTTP_X_TEST"),
    }
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Wsgi", "1")])
    return [json.dumps(data).encode()]


def host_app() -> App:
    app = App(__name__)
    app.mount("/starlette", starlette_app())
    app.mount("/fastapi", fastapi_app())
    app.mount("/flask", flask_app())
    app.mount("/wsgi", plain_wsgi)

    inner = App(__name__)

    @inner.route("/where/<path:rest>", methods=["GET", "POST"])
    async def where(request: Request, rest: str) -> dict[str, Any]:
        return {
            "root_path": request.root_path,
            "path": request.path,
            "rest": rest,
            "body": (await request.body()).decode(),
            "link": request.url_for("where", rest="a/b"),
        }

    app.mount("/native", inner)

    @app.get("/")
    def home() -> str:
        return "host"

    return app


# Starlette.


def test_starlette_root_path(client_for: Client) -> None:
    client = client_for(host_app())
    data = client.get("/starlette/info/thing?x=1").json()
    assert data == {
        "root_path": "/starlette",
        "path": "/starlette/info/thing",
        "raw_path": "/starlette/info/thing",
        "url": "http://testserver/starlette/info/thing?x=1",
        "url_for": "http://testserver/starlette/info/y",
        "query": "x=1",
    }


def test_starlette_request_bodies(client_for: Client) -> None:
    client = client_for(host_app())
    assert client.post("/starlette/echo", content=b"x" * 100_000).json() == {
        "length": 100_000,
        "form": None,
    }
    response = client.post(
        "/starlette/echo", data={"field": "v"}, files={"file": ("f.txt", b"file body")}
    )
    assert response.json()["form"] == {"field": "v", "file": "file body"}
    assert client.post("/starlette/echo").json() == {"length": 0, "form": None}


def test_starlette_streaming(client_for: Client) -> None:
    response = client_for(host_app()).get("/starlette/stream")
    assert response.text == "".join(f"{i}\n" for i in range(50))
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_starlette_file_response(client_for: Client) -> None:
    response = client_for(host_app()).get("/starlette/file")
    assert response.status_code == 200
    with open(__file__, "rb") as source:
        assert response.content == source.read()


def test_starlette_404_is_its_own(client_for: Client) -> None:
    response = client_for(host_app()).get("/starlette/nothing")
    assert response.status_code == 404
    assert response.text == "Not Found"


# FastAPI.


def test_fastapi(client_for: Client) -> None:
    client = client_for(host_app())
    assert client.get("/fastapi/items/3?q=z").json() == {
        "item_id": 3,
        "q": "z",
        "root_path": "/fastapi",
        "url_for": "http://testserver/fastapi/items/3",
    }
    assert client.get("/fastapi/items/x").status_code == 422
    assert client.post("/fastapi/items", json={"a": [1]}).json() == {"created": {"a": [1]}}
    assert client.get("/fastapi/numbers").text == "".join(f"{i}," for i in range(100))
    docs = client.get("/fastapi/openapi.json")
    assert docs.status_code == 200
    assert "/items/{item_id}" in docs.json()["paths"]


# Flask.


def test_flask_script_name(client_for: Client) -> None:
    data = client_for(host_app()).get("/flask/hello/ann").json()
    assert data == {
        "name": "ann",
        "script_name": "/flask",
        "path_info": "/hello/ann",
        "url_for": "/flask/hello/x",
        "url": "http://testserver/flask/hello/ann",
    }


def test_flask_request_bodies(client_for: Client) -> None:
    client = client_for(host_app())
    response = client.post("/flask/echo", data={"a": "1"}, files={"file": ("f", b"flask file")})
    assert response.json() == {"form": {"a": "1"}, "file": "flask file", "raw": None}
    response = client.post("/flask/echo", content=b"r" * 70_000)
    assert response.json()["raw"] == 70_000


def test_flask_streaming(client_for: Client) -> None:
    response = client_for(host_app()).get("/flask/stream")
    assert response.text == "".join(f"line {i}\n" for i in range(30))


# A plain WSGI callable.


def test_plain_wsgi_environ(client_for: Client) -> None:
    client = client_for(host_app())
    response = client.post(
        "/wsgi/some/where%20else?q=1", content=b"payload", headers={"X-Test": "t"}
    )
    assert response.status_code == 201
    assert response.headers["x-wsgi"] == "1"
    assert response.json() == {
        "SCRIPT_NAME": "/wsgi",
        "PATH_INFO": "/some/where else",
        "QUERY_STRING": "q=1",
        "REQUEST_METHOD": "POST",
        "body": "payload",
        "HTTP_X_TEST": "t",
    }


def test_plain_wsgi_at_the_mount_point_itself(client_for: Client) -> None:
    client = client_for(host_app())
    assert client.get("/wsgi").json()["PATH_INFO"] == "/"
    assert client.get("/wsgi/").json()["PATH_INFO"] == "/"
    assert client.get("/wsgix").status_code == 404


def test_plain_wsgi_write_and_streams(client_for: Client) -> None:
    client = client_for(host_app())
    assert client.get("/wsgi/write").text == "written then returned"
    assert client.get("/wsgi/stream").text == "".join(f"chunk {i};" for i in range(20))


def test_failing_wsgi_app_is_a_500(client_for: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        response = client_for(host_app()).get("/wsgi/boom")
    assert response.status_code == 500
    assert "wsgi secret" not in response.text


# A native porch App.


def test_native_app_root_path_and_bodies(client_for: Client) -> None:
    client = client_for(host_app())
    assert client.get("/").text == "host"
    response = client.post("/native/where/x/y", content=b"to the inner app")
    assert response.json() == {
        "root_path": "/native",
        "path": "/where/x/y",
        "rest": "x/y",
        "body": "to the inner app",
        "link": "/native/where/a/b",
    }


def test_mounts_nest(client_for: Client) -> None:
    leaf = App(__name__)

    @leaf.get("/leaf")
    def leaf_page(request: Request) -> dict[str, str]:
        return {"root_path": request.root_path, "path": request.path}

    middle = App(__name__)
    middle.mount("/wsgi", plain_wsgi)
    middle.mount("/leaf-app", leaf)
    top = App(__name__)
    top.mount("/middle", middle)
    client = client_for(top)
    assert client.get("/middle/leaf-app/leaf").json() == {
        "root_path": "/middle/leaf-app",
        "path": "/leaf",
    }
    data = client.get("/middle/wsgi/x").json()
    assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("/middle/wsgi", "/x")


def test_mount_at_the_root_catches_what_routes_do_not(client_for: Client) -> None:
    app = App(__name__)

    @app.get("/own")
    def own() -> str:
        return "own"

    app.mount("/", plain_wsgi)
    client = client_for(app)
    assert client.get("/own").text == "own"
    data = client.get("/anything/else").json()
    assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("", "/anything/else")


def test_mount_prefix_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        App(__name__).mount("legacy", plain_wsgi)


def test_asgi_app_that_fails_before_answering_is_a_500(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("asgi secret")

    async def silent(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    app = App(__name__)
    app.mount("/broken", broken)
    app.mount("/silent", silent)
    client = client_for(app)
    for target in ("/broken/x", "/silent/x"):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="porch.error"):
            response = client.get(target)
        assert response.status_code == 500
        assert "secret" not in response.text
        assert len(caplog.records) == 1  # logged once


@pytest.mark.parametrize("pause", [0.0, 0.01], ids=["at-once", "later"])
def test_asgi_app_failing_mid_stream_raises_in_the_client(client_for: Client, pause: float) -> None:
    """Once a piece of body is sent, the response is cut, as the server does for an
    application it serves itself (a 500 can no longer replace it)."""

    async def half(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        if pause:
            await asyncio.sleep(pause)  # the answer has gone out by now
        raise RuntimeError("mid-stream failure")

    app = App(__name__)
    app.mount("/half", half)
    with pytest.raises(RuntimeError, match="mid-stream failure"):
        client_for(app).get("/half/")


def test_asgi_background_work_after_the_response_does_not_delay_it(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    import threading
    import time

    release = threading.Event()
    finished = threading.Event()

    async def with_background(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"answer"})
        # Background work, as Starlette runs it after the answer: the client need not wait.
        while not release.is_set():
            await asyncio.sleep(0.005)
        finished.set()
        raise RuntimeError("background failure")

    app = App(__name__)
    app.mount("/bg", with_background)
    client = client_for(app)
    with caplog.at_level(logging.ERROR, logger="porch.error"):
        assert client.get("/bg/").text == "answer"
        assert not finished.is_set()
        release.set()
        assert finished.wait(5)
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    assert caplog.records[0].getMessage() == "Exception in the application for GET /"


def test_percent_encoded_prefix_still_reaches_the_mount(client_for: Client) -> None:
    import httpx

    client = client_for(host_app())
    for raw in (b"/wsg%69/x%20y", b"/wsgi%2Fx%20y"):
        url = httpx.URL("http://testserver", raw_path=raw)
        data = client.get(url).json()
        assert (data["SCRIPT_NAME"], data["PATH_INFO"]) == ("/wsgi", "/x y"), raw


def test_trailing_slash_redirect_inside_a_mount(client_for: Client) -> None:
    inner = App(__name__)

    @inner.get("/teams/")
    def teams() -> str:
        return "teams"

    outer = App(__name__)
    outer.mount("/café", inner)
    client = client_for(outer)
    response = client.get("/caf%C3%A9/teams")
    assert response.status_code == 308
    assert response.headers["location"] == "/caf%C3%A9/teams/"
    assert client.get("/caf%C3%A9/teams/").text == "teams"


def test_a_mounted_wsgi_apps_body_is_spooled_not_held_in_memory(client_for: Client) -> None:
    """As the server's own WSGI adapter: past 1 MiB the body waits in a temporary file."""
    seen: list[tuple[bool, int]] = []

    def upload(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"]
        seen.append((bool(getattr(body, "_rolled", False)), len(body.read())))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    app = App(__name__)
    app.mount("/upload", upload)
    client = client_for(app)
    for size in (1000, 3 * 1024 * 1024):
        assert client.post("/upload", content=b"x" * size).text == "ok"
    assert seen == [(False, 1000), (True, 3 * 1024 * 1024)]


MOUNTED_FILES_APP = """
from pathlib import Path

from flask import Flask, send_file
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route

from porch import App

DATA = Path(__file__).with_name("data.bin")

flask = Flask(__name__)

@flask.route("/data")
def data():
    return send_file(DATA)

async def starlette_data(request):
    return FileResponse(DATA)

app = App(__name__)
app.mount("/flask", flask)
app.mount("/starlette", Starlette(routes=[Route("/data", starlette_data)]))

@app.after_request
def stamp(request, response):
    response.headers["x-host"] = "porch"
    return response
"""


def test_files_from_mounted_apps_under_porch_run(tmp_path: Path) -> None:
    """Flask's send_file (wsgi.file_wrapper) and Starlette's FileResponse (pathsend) through a
    real socket: the whole file, the App's hooks on the answer, HEAD without a body."""
    import os

    import httpx

    from tests.support import PorchProcess

    data = os.urandom(300_000)
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "files_app.py").write_text(MOUNTED_FILES_APP)
    with PorchProcess(["run", "files_app:app", "--no-access-log"], cwd=tmp_path) as process:
        process.wait_ready(timeout=30)
        with httpx.Client(base_url=process.url) as client:
            for prefix in ("/flask", "/starlette"):
                response = client.get(f"{prefix}/data")
                assert response.status_code == 200, (prefix, process.output)
                assert response.content == data, prefix
                assert response.headers["x-host"] == "porch"
                head = client.head(f"{prefix}/data")
                assert head.status_code == 200
                assert head.headers["content-length"] == str(len(data))
                assert head.content == b""
