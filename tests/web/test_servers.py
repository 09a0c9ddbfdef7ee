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

from tests.support import IN_CI, ROOT, PorchProcess

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
