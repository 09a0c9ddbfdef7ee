"""Real applications (Flask, Django, Starlette, FastAPI) answer the same under `porch run` as
under the servers people run them on today: gunicorn (gthread) for WSGI, uvicorn for ASGI.

Every behaviour of the battery (tests/apps/battery.py) is sent, byte for byte the same, to an
app of tests/apps under porch and under its reference server; what comes back must be
equivalent: the same status, the same body, the same headers once normalised. One test per
(app, behaviour). The reference's answer is also checked against what the battery expects,
so that a behaviour cannot pass as two matching 404s.

Normalisation rules, and why each is legitimate:

1. Header names are compared lower-cased: they are case-insensitive (RFC 9110 §5.1), and
   porch lower-cases them where gunicorn keeps the application's spelling.
2. `Date` and `Server` are dropped: they name the moment and the server.
3. `Connection` and `Keep-Alive` are dropped: they are hop-by-hop connection management
   (RFC 9110 §7.6.1), which each server decides for itself (gunicorn's gthread worker, for
   one, closes idle connections after 2 s; uvicorn does not keep HTTP/1.0 connections).
4. Framing is compared apart from the other headers. When both sides send Content-Length,
   the values must be equal. When the application does not declare a length, the server
   chooses (RFC 9112 §6): porch sends Content-Length for a body it holds whole, where gunicorn
   chunks it; so one side may send a length where the other chunks, and then only the body
   is compared. A close-delimited body is accepted only for HTTP/1.0 requests, and porch must
   never chunk for those (RFC 9112 §6.1) -- uvicorn does, so its body is de-chunked first.
   A HEAD or 304 response carries no body: its Content-Length must be the same on both sides
   (only the app knows the length of the GET body, RFC 9110 §8.6), while chunked or
   nothing may differ (RFC 9112 §6.1 makes Transfer-Encoding in a HEAD answer informative).
5. Fields of different names are compared as a set (their order carries no meaning, RFC 9110
   §5.3); the values of one name are compared in order (Set-Cookie's order matters).
6. The reason phrase is compared by one dedicated behaviour (`reason_phrase`), not by every
   one: clients ignore it (RFC 9112 §4), and Werkzeug's upper-case phrases ("302 FOUND")
   would otherwise hide every other difference behind this one. The status line's version
   is not compared: porch and gunicorn answer HTTP/1.0 requests with "HTTP/1.0", uvicorn
   with "HTTP/1.1"; clients accept both.
7. Where the server itself refuses a request (an invalid request line), only the status is
   compared: the error page is each server's own.

Conditions made equal on both sides, not differences forgiven: every request names
`Host: example.test` (apps echo the host in redirects and url_for, and the two ports differ);
every server runs with PYTHONHASHSEED=0 (Flask's Allow header comes out of a set); after a 5xx
the client opens a new connection (uvicorn closes the connection after an app's exception,
even once the response is complete, and a reused connection would race that close).

Left out of the comparison where the reference is not a faithful model: X-Forwarded-For under
WSGI (gunicorn leaves REMOTE_ADDR alone; porch, like uvicorn, applies trusted proxy headers to
every interface, so that behaviour is compared against uvicorn only), and trailing whitespace
in request header values under ASGI (uvicorn's httptools protocol keeps it, RFC 9112 §5 says
it is not part of the value; compared against gunicorn only).

`--root-path /prefix` is compared as each family deploys it: gunicorn takes SCRIPT_NAME from
its environment and expects requests that still carry the prefix; uvicorn takes --root-path
and expects the proxy to have stripped it.
"""

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.apps import FILE_ENV, STREAM_DELAY
from tests.apps.battery import CASES, HOST, PREFIX, Case, file_content
from tests.support import ROOT, PorchProcess, listening_socket

pytestmark = pytest.mark.timeout(120)

# Flask builds Allow from a set of strings: one hash seed makes its order the same everywhere.
APP_ENV = {"PYTHONHASHSEED": "0"}
FILE_MTIME = 1_700_000_000

UVICORN_LAUNCHER = """
import socket, sys, uvicorn
fd, app, root_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
config = uvicorn.Config(app, root_path=root_path, log_level="warning", access_log=False,
                        timeout_graceful_shutdown=2)
uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
"""


@dataclass(frozen=True)
class AppSpec:
    """One application of tests/apps and the interface it speaks."""

    target: str
    interface: str  # "wsgi" or "asgi"


# Django's ASGI handler consumes a sync iterator whole before it sends (and warns so).
BUFFERS_SYNC_STREAMS = {"django-asgi"}

APPS = {
    "flask": AppSpec("tests.apps.flask_app:app", "wsgi"),
    "django": AppSpec("tests.apps.django_app.wsgi:application", "wsgi"),
    "starlette": AppSpec("tests.apps.starlette_app:app", "asgi"),
    "fastapi": AppSpec("tests.apps.fastapi_app:app", "asgi"),
    "django-asgi": AppSpec("tests.apps.django_app.asgi:application", "asgi"),
}


# What comes back.


@dataclass
class Observation:
    """A response, normalised as the module docstring says."""

    status: int
    headers: dict[str, list[str]]
    body: str
    content_length: int | None
    chunked: bool
    extra: dict[str, Any] = field(default_factory=dict)


DROPPED = {"date", "server", "connection", "keep-alive", "content-length", "transfer-encoding"}


def _describe_body(body: bytes) -> str:
    if len(body) <= 4096:
        return body.decode("utf-8", "backslashreplace")
    return f"<{len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}>"


def _normalise(
    status: int, pairs: list[tuple[str, str]], body: bytes, extra: dict[str, Any]
) -> Observation:
    headers: dict[str, list[str]] = {}
    length = None
    chunked = False
    for name, value in pairs:
        name = name.lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = value.lower() == "chunked"
        if name not in DROPPED:
            headers.setdefault(name, []).append(value)
    return Observation(status, headers, _describe_body(body), length, chunked, extra)


def fetch(client: httpx.Client, case: Case, interface: str) -> Observation:
    """Send the case with httpx; the normalised response."""
    body = case.body() if callable(case.body) else case.body
    headers = [
        (name.encode(), value if isinstance(value, bytes) else value.encode("latin-1"))
        for name, value in case.headers
    ]
    request = client.build_request(
        case.method, case.path_for(interface), headers=headers, content=body
    )
    start = time.monotonic()
    response = client.send(request, stream=True)
    arrivals = []
    pieces = []
    try:
        for piece in response.iter_raw():
            arrivals.append(time.monotonic() - start)
            pieces.append(piece)
    finally:
        response.close()
    client.cookies.clear()  # each case sends its own Cookie header, or none
    extra: dict[str, Any] = {}
    if "streamed" in case.checks:
        # The first chunk must arrive while the app still sleeps before the later ones.
        extra["streamed"] = bool(arrivals) and arrivals[0] < arrivals[-1] - 2 * STREAM_DELAY
    if "reason" in case.checks:
        extra["reason"] = response.reason_phrase
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
    return _normalise(response.status_code, pairs, b"".join(pieces), extra)


def fetch_raw(port: int, case: Case) -> Observation:
    """Send the case's exact bytes on a fresh connection; the normalised response.

    A request that expects 100-continue sends its head alone, and its body on the 100.
    """
    assert case.raw is not None
    head, _, body = case.raw.partition(b"\r\n\r\n")
    expects = b"\r\nexpect: 100-continue\r\n" in head.lower() + b"\r\n"
    extra = {}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")
        if expects:
            sock.sendall(head + b"\r\n\r\n")
            status, pairs = _read_head(reader)
            extra["interim"] = status
            if status == 100:
                sock.sendall(body)
                status, pairs = _read_head(reader)
        else:
            sock.sendall(case.raw)
            status, pairs = _read_head(reader)
        fields = {name.lower(): value for name, value in pairs}
        if case.method == "HEAD":
            content = b""
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            content = _read_chunked(reader)
        elif "content-length" in fields:
            content = reader.read(int(fields["content-length"]))
        else:
            content = reader.read()  # close-delimited
    return _normalise(status, pairs, content, extra)


def _read_head(reader: Any) -> tuple[int, list[tuple[str, str]]]:
    status_line = reader.readline().decode("latin-1")
    pairs = []
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        pairs.append((name.strip(), value.strip()))
    return int(status_line.split(" ")[1]), pairs


def _read_chunked(reader: Any) -> bytes:
    body = b""
    while size := int(reader.readline().split(b";")[0], 16):
        body += reader.read(size)
        reader.readline()
    while reader.readline() not in (b"\r\n", b""):
        pass  # trailer fields
    return body


def assert_equivalent(porch: Observation, reference: Observation, case: Case) -> None:
    """The rules of the module docstring, as assertions."""
    assert porch.status == reference.status
    assert porch.headers == reference.headers
    assert porch.body == reference.body
    assert porch.extra == reference.extra
    if case.method == "HEAD" or porch.status in (204, 304):
        # RFC 9110 §8.6: the Content-Length of a response without content, if any, is the
        # length of the GET body, which only the app can know; a server must not make one up
        # from an empty body.
        assert porch.content_length == reference.content_length
    elif porch.content_length is not None and reference.content_length is not None:
        assert porch.content_length == reference.content_length
    else:
        # Where a side sends no length, it says how the body ends: chunked on HTTP/1.1, or
        # by closing the connection where HTTP/1.0 has nothing else.
        for seen in (porch, reference):
            if seen.content_length is None:
                assert seen.chunked or case.http10, seen
    if case.http10:
        # RFC 9112 §6.1: no Transfer-Encoding in answer to an HTTP/1.0 request.
        assert not porch.chunked


# The servers.


class ReferenceProcess:
    """gunicorn or uvicorn in a subprocess, serving on a socket the test bound."""

    def __init__(self, spec: AppSpec, prefixed: bool, app_env: dict[str, str]) -> None:
        self.sock = listening_socket()
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        env = {**os.environ, **app_env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        if spec.interface == "wsgi":
            argv = [
                *("-m", "gunicorn", "--worker-class", "gthread", "--threads", "4"),
                *("--bind", f"fd://{fd}", "--no-control-socket", "--graceful-timeout", "2"),
                *("--log-level", "warning", spec.target),
            ]
            if prefixed:
                env["SCRIPT_NAME"] = PREFIX
        else:
            argv = ["-c", UVICORN_LAUNCHER, str(fd), spec.target, PREFIX if prefixed else ""]
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=env,
            pass_fds=[fd],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self._lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self._reader.join(2)
        self.sock.close()


class Running:
    """A started server and a keep-alive client for it."""

    def __init__(self, process: PorchProcess | ReferenceProcess) -> None:
        self.process = process
        assert process.port is not None
        self.port = process.port
        self.client = self._new_client()

    def _new_client(self) -> httpx.Client:
        # Host names no port: the apps echo it (url_for, redirects), and the ports differ.
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"host": HOST}, timeout=15
        )

    def fetch(self, case: Case, interface: str) -> Observation:
        """Send the case; the normalised response."""
        if case.raw is not None:
            return fetch_raw(self.port, case)
        seen = fetch(self.client, case, interface)
        if seen.status >= 500:
            # uvicorn closes the connection after an exception in the app, even once the
            # response is complete; the next request must not race that close.
            self.client.close()
            self.client = self._new_client()
        return seen

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server answers (the socket already queues connections)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.process.output}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/client", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer in {timeout}s:\n{self.process.output}")

    def stop(self) -> None:
        self.client.close()
        self.process.stop()


class Servers:
    """Porch and the reference server for one app at a time, started when first needed."""

    def __init__(self, app_env: dict[str, str]) -> None:
        self.app_env = app_env  # the environment of every server, porch and reference
        self.app: str | None = None
        self.running: dict[tuple[str, bool], Running] = {}

    def pair(self, app: str, prefixed: bool) -> tuple[Running, Running]:
        """(porch, reference) serving `app`, with or without the root path."""
        if app != self.app:
            self.close()
            self.app = app
        if ("porch", prefixed) not in self.running:
            spec = APPS[app]
            args = ["run", spec.target, "--no-access-log", "--no-request-id"]
            args += ["--timeout-graceful-shutdown", "2"]
            if prefixed:
                args += ["--root-path", PREFIX]
            porch = Running(PorchProcess(args, cwd=ROOT, env=self.app_env))
            reference = Running(ReferenceProcess(spec, prefixed, self.app_env))
            self.running["porch", prefixed] = porch
            self.running["reference", prefixed] = reference
            porch.wait_ready()
            reference.wait_ready()
        return self.running["porch", prefixed], self.running["reference", prefixed]

    def close(self) -> None:
        for running in self.running.values():
            running.stop()
        self.running.clear()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    served = tmp_path_factory.mktemp("thirdparty") / "report.bin"
    served.write_bytes(file_content())
    os.utime(served, (FILE_MTIME, FILE_MTIME))  # ETag and Last-Modified derive from it
    pool = Servers({**APP_ENV, FILE_ENV: str(served)})
    yield pool
    pool.close()


# Porch bugs this module found and that are still open; each names where the fix belongs.
PARAMS = [
    pytest.param(app, case, id=f"{app}-{case.name}")
    for app, spec in APPS.items()
    for case in sorted(CASES, key=lambda case: case.prefixed)
    if spec.interface in case.interfaces
]


@pytest.mark.parametrize(("app", "case"), PARAMS)
def test_same_as_reference_server(servers: Servers, app: str, case: Case) -> None:
    porch, reference = servers.pair(app, case.prefixed)
    interface = APPS[app].interface
    seen_porch = porch.fetch(case, interface)
    seen_reference = reference.fetch(case, interface)
    assert seen_reference.status == case.expected_status(app), seen_reference
    assert case.body_has in seen_reference.body
    if "streamed" in case.checks:
        assert seen_reference.extra["streamed"] == (app not in BUFFERS_SYNC_STREAMS)
    if case.server_page:
        assert seen_porch.status == seen_reference.status
    else:
        assert_equivalent(seen_porch, seen_reference, case)
