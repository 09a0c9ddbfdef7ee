"""--health-path (porch/server/protocol.py): answered by the server itself, without the
application — 200 while serving, 503 with Connection: close once a graceful shutdown has begun."""

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.apps import INTERFACES, Recorder, make_app
from tests.support import ROOT, RawClient, needs_tool, nginx_test, serve

HEALTH = b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.fixture(params=INTERFACES)
def interface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Counting:
    """An ASGI application that answers "app" to anything, counting what it answers."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.paths.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})


def test_answered_without_the_application() -> None:
    app = Counting()
    with serve(app, health_path="/healthz") as server, httpx.Client(base_url=server.url) as client:
        answer = client.get("/healthz?probe=1")
        assert (answer.status_code, answer.text) == (200, "ok\n")
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert answer.headers["cache-control"] == "no-store"
        head = client.head("/healthz")
        assert (head.status_code, head.content) == (200, b"")
        assert app.paths == []  # the application saw neither
        # Other methods, and other paths, are the application's.
        assert client.post("/healthz", content=b"x").text == "app"
        assert client.get("/healthz/more").text == "app"
    assert app.paths == ["POST /healthz", "GET /healthz/more"]


def test_without_the_setting_the_path_is_the_applications() -> None:
    app = Counting()
    with serve(app) as server:
        assert httpx.get(server.url + "/healthz").text == "app"
    assert app.paths == ["GET /healthz"]


def test_503_and_close_once_shutting_down(tmp_path: Path) -> None:
    recorder = Recorder()
    settings = {
        "health_path": "/healthz",
        "timeout_graceful_shutdown": 10.0,
        "access_log": True,
        "access_log_path": str(tmp_path / "access.log"),
    }
    server = serve(make_app("native", recorder), **settings)
    with server as running, RawClient(running.port) as idle, RawClient(running.port) as busy:
        idle.send(HEALTH)
        assert idle.read_response()[0] == 200
        # A request in flight keeps the server in its graceful shutdown...
        busy.send(b"POST /gated HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
        time.sleep(0.2)
        running.server.stop_threadsafe()
        time.sleep(0.2)
        # ...while a balancer's check on a connection still open learns it is going away.
        idle.send(HEALTH)
        status, headers, body = idle.read_response()
        assert (status, body) == (503, b"shutting down\n")
        assert headers["connection"] == "close"
        assert idle.is_closed()
        recorder.gate.set()
        assert busy.read_response()[0] == 200
    lines = (tmp_path / "access.log").read_text().splitlines()
    assert lines[0].endswith("ms") and '"GET /healthz HTTP/1.1" 200 3 ' in lines[0]
    assert any('"GET /healthz HTTP/1.1" 503 14 ' in line and line.endswith("(shutting down)")
               for line in lines), lines  # fmt: skip


def test_a_path_must_start_with_a_slash() -> None:
    from porch.server.settings import Settings

    with pytest.raises(ValueError, match="--health-path must start with /"):
        Settings(health_path="healthz").validate()


def test_threads_stay_free(interface: str) -> None:
    # Every application thread busy: the health check still answers at once.
    recorder = Recorder()
    with (
        serve(make_app(interface, recorder), health_path="/healthz", threads=1) as server,
        recorder.held(server.url, 2),
    ):
        time.sleep(0.2)
        started = time.monotonic()
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0


@needs_tool("nginx")
def test_the_documented_nginx_set_up_is_one_nginx_accepts(tmp_path: Path) -> None:
    # docs/server.md's health-check set-up behind nginx, checked by nginx itself.
    text = (ROOT / "docs" / "server.md").read_text()
    (block,) = [b for b in re.findall(r"```nginx\n(.*?)```", text, re.S) if "/healthz" in b]
    temporary = " ".join(
        f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\n{temporary} uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;\n"
        f"access_log off;\n{block}}}\n"
    )
    checked = nginx_test(conf)
    assert checked.returncode == 0, checked.stderr
