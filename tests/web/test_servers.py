"""The same App, unmodified, over real sockets under real servers: `porch run` (the native
path), uvicorn, hypercorn and granian (ASGI); each started as a subprocess on a free port and
given the same battery of requests (tests/web/servers_app.py)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import IN_CI, ROOT, PorchProcess, RawClient
from tests.web.servers_app import BODY_LIMIT

TARGET = "tests.web.servers_app:app"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


def peer_command(name: str, port: int) -> list[str]:
    python = sys.executable
    if name == "uvicorn":
        return [python, "-m", "uvicorn", TARGET, "--port", str(port), "--log-level", "warning"]
    if name == "hypercorn":
        return [python, "-m", "hypercorn", TARGET, "--bind", f"127.0.0.1:{port}"]
    return [
        python,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        TARGET,
    ]


@contextlib.contextmanager
def peer_server(name: str) -> Iterator[str]:
    """`name` serving the application in a subprocess; yields its base URL."""
    try:
        __import__(name)
    except ImportError:
        if IN_CI:
            raise
        pytest.skip(f"{name} is not installed")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    process = subprocess.Popen(
        peer_command(name, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process.stdout:
            process.stdout.close()


@contextlib.contextmanager
def porch_server() -> Iterator[str]:
    with PorchProcess(["run", TARGET], cwd=ROOT) as porch:
        porch.wait_ready()
        yield porch.url


@pytest.fixture(scope="module", params=["porch", "uvicorn", "hypercorn", "granian"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A real server (one per module and kind) serving the battery's application: its name
    and base URL."""
    name = str(request.param)
    running = porch_server() if name == "porch" else peer_server(name)
    with running as url:
        yield name, url


@pytest.fixture
def client(server: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[1], timeout=10) as client:
        yield client


def test_the_face_each_server_calls(server: tuple[str, str], client: httpx.Client) -> None:
    # Porch calls the App natively; every other server through ASGI.
    assert client.get("/face").text == ("native" if server[0] == "porch" else "asgi")


def test_html(client: httpx.Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "<h1>Hello</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == "14"


def test_json(client: httpx.Client) -> None:
    response = client.get("/api/teams")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == [{"name": "Eagles", "level": "U10"}]


def test_path_parameter(client: httpx.Client) -> None:
    assert client.get("/teams/42").json() == {"id": 42, "type": "int"}
    assert client.get("/teams/forty-two").status_code == 404


def test_form_with_a_file(client: httpx.Client) -> None:
    content = os.urandom(300_000)
    for target in ("/upload", "/sync-upload"):
        response = client.post(
            target,
            data={"name": "Eagles"},
            files={"file": ("crest.png", content, "image/png")},
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["name"] == "Eagles"
        assert data["size"] == len(content)
    data = client.post(
        "/upload", data={"name": "x"}, files={"file": ("crest.png", content, "image/png")}
    ).json()
    assert (data["filename"], data["content_type"]) == ("crest.png", "image/png")


def test_cookie(client: httpx.Client) -> None:
    response = client.get("/login")
    assert response.headers["set-cookie"] == "session=s-1; Path=/; HttpOnly; SameSite=Lax"
    assert client.get("/whoami").json() == {"session": "s-1"}


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    assert client.get("/missing").status_code == 404
    response = client.post("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


def test_head(client: httpx.Client) -> None:
    response = client.head("/")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "14"


def test_startup_ran(client: httpx.Client) -> None:
    assert client.get("/state").json() == {"started": True}


def test_keep_alive_many_requests(client: httpx.Client) -> None:
    for index in range(50):
        assert client.get(f"/teams/{index}").json()["id"] == index


@pytest.mark.parametrize(
    "host",
    [b"example.com:@evil.example", b"example.com:443@evil.example", b"example.com evil.example"],
)
def test_invalid_host_never_reaches_the_app(server: tuple[str, str], host: bytes) -> None:
    # Other servers pass Host on unchecked: the App's ASGI face refuses what porch's server
    # refuses, so request.base_url (password-reset links...) cannot name another host.
    port = int(server[1].rpartition(":")[2])
    with RawClient(port) as raw:
        raw.send(b"GET /base-url HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        status, _, body = raw.read_response()
    assert status == 400
    assert b"evil" not in body


def test_valid_host_makes_the_base_url(client: httpx.Client) -> None:
    response = client.get("/base-url", headers={"host": "example.com:8443"})
    assert response.text == "http://example.com:8443/"


# Body limits hold under every server (the App's own max_body_size), and blocking handlers
# never wait for a body on a thread.


def raw_port(server: tuple[str, str]) -> int:
    return int(server[1].rpartition(":")[2])


def test_declared_body_over_the_limit_is_413_at_once(server: tuple[str, str]) -> None:
    for target in (b"/size", b"/sync-size"):
        with RawClient(raw_port(server)) as raw:
            started = time.monotonic()
            raw.send(b"POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 500000000\r\n\r\n" % target)
            status, _, body = raw.read_response()
            assert status == 413, body
            assert time.monotonic() - started < 2.0, "answered without waiting for the body"


def test_chunked_body_over_the_limit_is_413_once_that_much_came(server: tuple[str, str]) -> None:
    # A little more than the limit, and never the end of the body: the answer cannot wait
    # for the whole of it.
    with RawClient(raw_port(server)) as raw:
        raw.send(b"POST /size HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
        with contextlib.suppress(OSError):
            for _ in range(BODY_LIMIT // 65536 + 4):
                raw.send(chunk)
        status, _, body = raw.read_response()
    assert status == 413, body


def test_bodies_within_the_limit(client: httpx.Client) -> None:
    # 1.5 MiB: the blocking handler's body was received into a temporary file first.
    content = os.urandom(1_500_000)
    for target in ("/size", "/sync-size"):
        response = client.post(target, content=content)
        assert (response.status_code, response.text) == (200, str(len(content)))
    chunked = client.post("/sync-size", content=iter([content[:700_000], content[700_000:]]))
    assert chunked.text == str(len(content))


def test_deeply_nested_json_is_400(client: httpx.Client) -> None:
    json_type = {"Content-Type": "application/json"}
    response = client.post("/json", content=b"[" * 100_000, headers=json_type)
    assert response.status_code == 400
    assert "nested too deeply" in response.text
    assert client.post("/json", content=b"[[1]]", headers=json_type).json() == {"type": "list"}


def test_slow_bodies_hold_no_thread(server: tuple[str, str], client: httpx.Client) -> None:
    # More blocking handlers waiting for a slow body than the App has threads (40): other
    # requests to blocking handlers are still answered at once.
    sockets = []
    try:
        for _ in range(45):
            sock = socket.create_connection(("127.0.0.1", raw_port(server)), timeout=5)
            sock.sendall(b"POST /sync-size HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nx")
            sockets.append(sock)
        time.sleep(0.3)
        started = time.monotonic()
        assert client.get("/").status_code == 200
        assert time.monotonic() - started < 0.5
    finally:
        for sock in sockets:
            sock.close()


def test_typed_api(client: httpx.Client) -> None:
    order = {"customer": "ann", "lines": [{"sku": "abc", "quantity": 2}]}
    created = client.post("/orders", json=order, headers={"X-Shop": "main"})
    assert created.status_code == 201
    assert created.json() == {"customer": "ann@main", "lines": [{"sku": "abc", "quantity": 2}]}
    invalid = client.post(
        "/orders",
        json={"customer": "ann", "lines": [{"sku": "ab", "quantity": 0}]},
        headers={"X-Shop": "main"},
    )
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in invalid.json()["errors"]] == [["body", "lines", 0, "sku"]]
    not_json = client.post("/orders", content=b"{}", headers={"X-Shop": "m"})
    assert not_json.status_code == 415
    assert client.get("/orders?page=2&limit=5").json() == {"page": 2, "limit": 5}
    errors = client.get("/orders?page=0&limit=99").json()["errors"]
    assert [error["loc"] for error in errors] == [["query", "page"], ["query", "limit"]]


def test_websocket_route(server: tuple[str, str]) -> None:
    """An App's WebSocket route, with its path converter and typed query parameter, under
    each server; under porch run its HTTP routes stay on the native path meanwhile."""
    import json

    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    name, url = server
    base = url.replace("http://", "ws://")
    with connect(f"{base}/ws/rooms/blue?times=2") as ws:
        ws.send('{"hi": [1, 2]}')
        assert json.loads(ws.recv()) == {"room": "blue", "said": {"hi": [1, 2]}, "times": 2}
        ws.send("[]")
        assert json.loads(ws.recv())["said"] == []
    with pytest.raises(InvalidStatus) as invalid:
        connect(f"{base}/ws/rooms/blue?times=9")
    # The 422 itself where the server has ASGI's websocket.http.response; a refusal elsewhere.
    assert invalid.value.response.status_code in (422, 403), name
    if name in ("porch", "uvicorn"):
        assert invalid.value.response.status_code == 422
        assert json.loads(invalid.value.response.body)["errors"][0]["loc"] == ["query", "times"]
    with pytest.raises(InvalidStatus) as unknown:
        connect(f"{base}/ws/nowhere")
    assert unknown.value.response.status_code == 403
    assert httpx.get(f"{url}/ws/rooms/blue").status_code == 404  # no HTTP route there
