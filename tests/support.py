"""Helpers the tests share: porch on a real socket (in a thread or a subprocess), a raw
socket client, and a fake transport for byte-level protocol tests."""

import asyncio
import contextlib
import functools
import os
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from porch.server.loader import make_adapter
from porch.server.protocol import HTTPProtocol
from porch.server.server import Server, bind_socket
from porch.server.settings import Settings
from porch.server.state import ConnectionConfig, ServerState

ROOT = Path(__file__).resolve().parent.parent
# In CI (CI set), a test whose tool is missing fails instead of skipping: CI must install it.
IN_CI = bool(os.environ.get("CI"))


def needs_tool(name: str) -> pytest.MarkDecorator:
    """Skip a test locally when the program `name` is not installed; in CI, let it fail."""
    return pytest.mark.skipif(
        shutil.which(name) is None and not IN_CI, reason=f"{name} is not installed"
    )


PORCH = [sys.executable, "-m", "porch"]


def nginx_test(conf: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` of the configuration file `conf`, everything of nginx's in its folder."""
    folder = str(conf.parent)
    return subprocess.run(
        ["nginx", "-t", "-p", folder, "-e", f"{folder}/error.log", "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def porch_db_command(
    *args: str, cwd: Path, database_url: str, path: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """subprocess.run's or Popen's arguments for `python -m porch db ARGS` in `cwd` on
    `database_url` (`path` put on PYTHONPATH before porch's own source)."""
    python_path = [*map(str, path), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    return {
        "args": [*PORCH, "db", *args],
        "cwd": cwd,
        "env": {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, python_path)),
            "PYTHONDONTWRITEBYTECODE": "1",  # an app.py that a test changes within the second
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
        },
        "text": True,
    }


def porch_db(
    *args: str, cwd: Path, database_url: str, path: tuple[Path, ...] = (), status: int = 0
) -> str:
    """`python -m porch db ARGS` (see porch_db_command): its output, once it exits with
    `status`, which holds no traceback."""
    command = porch_db_command(*args, cwd=cwd, database_url=database_url, path=path)
    done = subprocess.run(**command, capture_output=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == status, output
    assert "Traceback" not in output
    return output


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A bound, listening TCP socket on a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ThreadServer:
    """Porch serving `app` from a background thread (its own event loop)."""

    def __init__(self, app: Any, **settings: Any) -> None:
        settings.setdefault("access_log", False)
        # Responses byte for byte as the peers send them; tests/server/test_requestid.py
        # turns request ids on.
        settings.setdefault("request_id", False)
        settings.setdefault("timeout_graceful_shutdown", 5.0)
        self.settings = Settings(**settings)
        if self.settings.uds:
            self.sock = bind_socket(self.settings)  # `serve(app, uds=path)`: a unix socket
            self.port = 0
        else:
            self.sock = listening_socket(self.settings.host)
            self.port = self.sock.getsockname()[1]
        self.server = Server(self.settings, app)
        self.server.announce = False
        self.ready = threading.Event()
        self.server.on_ready = self.ready.set
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.exit_code = self.server.run([self.sock])
        self.ready.set()

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("server did not start")
        if self.exit_code is not None:
            raise RuntimeError(f"server exited with {self.exit_code}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop_threadsafe()
        self.thread.join(10)
        self.sock.close()


@contextlib.contextmanager
def serve(app: Any, **settings: Any) -> Iterator[ThreadServer]:
    """Porch serving `app` in this process; yields the ThreadServer (its .url, .port)."""
    with ThreadServer(app, **settings) as server:
        yield server


def limit_files(most: int) -> None:
    """Let this process open at most `most` file descriptors."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))


class PorchProcess:
    """`python -m porch ARGS --fd N` in a subprocess, on a socket the test bound."""

    def __init__(
        self,
        args: list[str],
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
        bind: bool = True,
        files: int | None = None,
    ) -> None:
        """`files`: the most file descriptors porch may open (RLIMIT_NOFILE), if not ours."""
        self.sock = listening_socket() if bind else None
        self.port = self.sock.getsockname()[1] if self.sock else None
        fd_args = ["--fd", str(self.sock.fileno())] if self.sock else []
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(cwd or ""), str(ROOT / "src"), full_env.get("PYTHONPATH", "")])
        )
        self.proc = subprocess.Popen(
            [*PORCH, *args, *fd_args],
            cwd=cwd,
            env=full_env,
            pass_fds=[self.sock.fileno()] if self.sock else [],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=None if files is None else functools.partial(limit_files, files),
        )
        if self.sock is not None:
            # Only porch holds the socket now: once it stops listening, connecting is refused.
            self.sock.close()
        self._output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._output.append(line)

    @property
    def output(self) -> str:
        return "".join(self._output)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 15.0, marker: str = "listening on") -> None:
        """Wait until the server logs that it listens (or exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.output.lower():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"porch exited with {self.proc.returncode}:\n{self.output}")
            time.sleep(0.02)
        raise RuntimeError(f"porch did not start in {timeout}s:\n{self.output}")

    def wait_output(self, text: str, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until `text` appears `count` times in the output (RuntimeError on exit/timeout)."""
        deadline = time.monotonic() + timeout
        while self.output.count(text) < count:
            if self.proc.poll() is not None:
                self._reader.join(2)
                if self.output.count(text) >= count:
                    return
                raise RuntimeError(f"porch exited with {self.proc.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{text!r} x{count} not seen in {timeout}s:\n{self.output}")
            time.sleep(0.02)

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit by itself; its status (TimeoutExpired if it does not)."""
        code = self.proc.wait(timeout)
        self._reader.join(2)
        return code

    def children(self) -> list[int]:
        """The pids of the process's live children (its workers)."""
        return child_pids(self.proc.pid)

    def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        """Signal the process and wait for it; its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            code = self.proc.wait()
        self._reader.join(2)
        if self.sock:
            self.sock.close()
        return code

    def __enter__(self) -> "PorchProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def child_pids(pid: int) -> list[int]:
    """The pids of the live (not zombie) children of `pid`, from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry))
    return sorted(children)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class RawClient:
    """A plain socket for sending exact bytes and reading what comes back."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_close(self, timeout: float = 5.0) -> bytes:
        """Everything until the server closes (or `timeout` passes)."""
        self.sock.settimeout(timeout)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := self.sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    def read_response(self, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
        """One response with a Content-Length (or none) body: status, headers, body."""
        self.sock.settimeout(timeout)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before a full head: {buffer!r}")
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.pending = rest[length:]
        return status, headers, rest[:length]

    def is_closed(self, timeout: float = 2.0) -> bool:
        """Whether the server has closed the connection (reads EOF within `timeout`)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(65536) == b""
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RawClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeTransport(asyncio.Transport):
    """A transport that records what the protocol writes, for byte-level tests."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.closed = False
        self.reading = True
        self.extra: dict[str, Any] = {
            "peername": ("127.0.0.1", 50000),
            "sockname": ("127.0.0.1", 8000),
        }
        # Half-closing (a lingering close) is off unless a test turns it on.
        self.half_close = False
        self.eof_written = False
        self.aborted = False  # closed without sending what it held
        # A client that stops reading (see stop_reading_responses): what it leaves unread,
        # and the most it may leave before the transport tells the protocol to wait.
        self.protocol: asyncio.BaseProtocol | None = None
        self.unread = 0
        self.unread_limit: int | None = None
        self.writing_paused = False

    def can_write_eof(self) -> bool:
        return self.half_close

    def write_eof(self) -> None:
        assert self.half_close
        self.eof_written = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "write after close"
        self.buffer += data
        if self.unread_limit is not None:
            self.unread += len(data)
            if self.unread > self.unread_limit and not self.writing_paused:
                self.writing_paused = True
                assert isinstance(self.protocol, asyncio.Protocol)
                self.protocol.pause_writing()

    def stop_reading_responses(self, limit: int = 0) -> None:
        """The client reads nothing more: past `limit` unread bytes, the protocol must wait."""
        self.unread_limit = limit

    def read_responses(self) -> None:
        """The client reads everything written so far, and from now on."""
        self.unread_limit = None
        self.unread = 0
        if self.writing_paused:
            self.writing_paused = False
            assert isinstance(self.protocol, asyncio.Protocol)
            self.protocol.resume_writing()

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.extra.get(name, default)

    def get_write_buffer_size(self) -> int:
        return self.unread

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16384, 65536)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def take(self) -> bytes:
        """What was written since the last take()."""
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def make_protocol(
    app: Any, loop: asyncio.AbstractEventLoop, **settings: Any
) -> tuple[HTTPProtocol, FakeTransport]:
    """An HTTPProtocol for `app` on a FakeTransport, connected (call inside a running loop)."""
    settings.setdefault("access_log", False)
    settings.setdefault("request_id", False)
    settings.setdefault("proxy_headers", False)
    parsed = Settings(**settings)
    config = ConnectionConfig.from_settings(parsed, make_adapter(app, parsed, loop))
    state = ServerState(config, loop)
    protocol = HTTPProtocol(state)
    transport = FakeTransport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


class NotAnswered(Exception):
    """The server closed the connection before sending any byte of the response."""


class PartialResponse(Exception):
    """The connection ended in the middle of a response."""


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection that knows how much of each response arrived."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.address = (host, port)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.fresh = True  # the last request went out on a new connection

    def request(self, target: str) -> tuple[int, dict[str, str], bytes]:
        """GET `target`: status, headers, body (reconnecting if the last response said close).

        Raises ConnectionRefusedError (nothing listens), NotAnswered (closed before any
        response byte) or PartialResponse (closed mid-response).
        """
        self.fresh = self.sock is None
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=self.timeout)
        sock = self.sock
        try:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: porch.test\r\n\r\n".encode())
        except OSError as exc:
            self.close()
            raise NotAnswered(f"send failed: {exc!r}") from None
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            if b"\r\n\r\n" in received:
                lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "-1"))
                while len(body) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                    received += chunk
                if len(body) == length:
                    if headers.get("connection", "").lower() == "close":
                        self.close()
                    return int(lines[0].split(" ")[1]), headers, body
        except (ConnectionResetError, TimeoutError) as exc:
            if not received and isinstance(exc, ConnectionResetError):
                self.close()
                raise NotAnswered(repr(exc)) from None
            self.close()
            raise PartialResponse(f"{exc!r} after {received!r}") from None
        self.close()
        if not received:
            raise NotAnswered("EOF before any response byte")
        raise PartialResponse(f"EOF after {received!r}")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class LoadGenerator:
    """Threads sending `GET /req?id=N` back to back on keep-alive connections.

    Every attempt gets a unique id, and the application (tests/apps_process/lifecycle.py)
    logs the ids it receives, so that a test can tell a request the server dropped (the
    application saw it, the client got no complete response) from one the server never took
    (closed before reading it: the client retries it under a new id, as RFC 9112 §9.3.1
    allows for idempotent requests).
    """

    def __init__(self, port: int, threads: int = 4, pause: float = 0.0, name: str = "c") -> None:
        self.port = port
        self.pause = pause  # seconds each client waits between requests
        self.name = name  # the ids' prefix: generators side by side never share one
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.ok: dict[str, int] = {}  # id -> pid that answered
        self.ok_times: list[float] = []
        self.not_answered: list[str] = []  # ids closed before any response byte (retried)
        self.refused = 0  # connection attempts refused (nothing listening)
        self.failures: list[str] = []  # anything else: partial, bad status, wrong body, timeout
        self._counter = 0
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)
        ]

    def _next_id(self, thread: int) -> str:
        with self.lock:
            self._counter += 1
            return f"{self.name}{thread}-{self._counter}"

    def _run(self, thread: int) -> None:
        client = KeepAliveClient(self.port)
        while not self.stopping.is_set():
            request_id = self._next_id(thread)
            try:
                status, _, body = client.request(f"/req?id={request_id}")
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                time.sleep(0.01)
                continue
            except NotAnswered:
                with self.lock:
                    self.not_answered.append(request_id)
                continue
            except Exception as exc:  # partial responses, timeouts: all failures
                with self.lock:
                    self.failures.append(f"{request_id}: {exc!r}")
                continue
            pid, _, echoed = body.decode().partition(" ")
            with self.lock:
                if status != 200 or echoed != request_id:
                    self.failures.append(f"{request_id}: {status} {body!r}")
                else:
                    self.ok[request_id] = int(pid)
                    self.ok_times.append(time.monotonic())
            if self.pause:
                time.sleep(self.pause)
        client.close()

    def count(self) -> int:
        """Requests answered so far."""
        with self.lock:
            return len(self.ok)

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        """Wait until `count` more requests have been answered."""
        target = self.count() + count
        if not wait_until(lambda: self.count() >= target, timeout):
            raise RuntimeError(f"load stalled at {self.count()} (wanted {target})")

    def pids_since(self, when: float) -> set[int]:
        """The pids that answered requests completed after `when` (time.monotonic())."""
        with self.lock:
            pairs = list(zip(self.ok_times, self.ok.values(), strict=True))
        return {pid for moment, pid in pairs if moment >= when}

    def start(self) -> "LoadGenerator":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(15)

    def dropped(self, seen_ids: set[str]) -> list[str]:
        """Requests the application received whose response never (fully) came back."""
        mine = {i for i in seen_ids if i.startswith(self.name) and i[len(self.name)].isdigit()}
        return sorted(mine - set(self.ok))


class NoBody:
    """An empty request body, for a RequestHead given straight to an application."""

    async def read(self) -> bytes:
        return b""

    async def stream(self) -> AsyncIterator[bytes]:
        return
        yield b""
