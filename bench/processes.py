"""Server processes: pinned to a core, in a process group of their own, always killed."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bench.answers import Expected, answer_problem, refusal_problem
from bench.request import Request

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class ServerError(Exception):
    """A server did not start, or answered something other than what was expected."""


def free_port(host: str) -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pinned(cpu: int, argv: Sequence[str]) -> list[str]:
    """The command line that runs argv on one CPU only (its children inherit the mask)."""
    return ["taskset", "-c", str(cpu), *argv]


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process and everything in its process group: SIGTERM, then SIGKILL."""
    # The process leads its own group (start_new_session), so its pid is the group id.
    try:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(STOP_TIMEOUT)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        # Workers may outlive their master for a moment, and a second Ctrl+C may cut the
        # wait short: make sure nothing of the group is left either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def log_tail(path: Path, lines: int = 8) -> str:
    """The last lines a server wrote, to explain why it failed."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    host: str,
    port: int,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server (with `env` added to this environment), wait until it accepts
    connections, and kill its group on the way out."""
    with log.open("wb") as output:
        # Output goes to a file: a pipe nobody reads would fill up and stall the server.
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **env} if env else None,
        )
    try:
        wait_accepting(process, host, port, log)
        yield process
    finally:
        stop_group(process)


def wait_accepting(process: subprocess.Popen[bytes], host: str, port: int, log: Path) -> None:
    """Return once the port accepts connections; raise ServerError if the server exits first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            raise ServerError(
                f"exited with status {status} before accepting connections:\n" + log_tail(log)
            )
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"did not accept connections within {READY_TIMEOUT:g} s:\n" + log_tail(log))


def exchange(host: str, port: int, request: Request, timeout: float) -> tuple[int, str, bytes]:
    """Send one request on a fresh connection; its answer's (status, content type, body)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(
            request.method, request.path, body=request.body or None, headers=dict(request.headers)
        )
        response = connection.getresponse()
        return response.status, response.getheader("content-type") or "", response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise ServerError(f"{request} failed: {exc!r}") from None
    finally:
        connection.close()


def check_answer(
    host: str, port: int, request: Request, expected: Expected, timeout: float = 15.0
) -> bytes:
    """Send the request once; raise ServerError unless the answer is the expected one, else
    return its body."""
    status, content_type, body = exchange(host, port, request, timeout)
    problem = answer_problem(expected, status, body, content_type)
    if problem:
        raise ServerError(f"{request} answered {problem}")
    return body


def check_refused(host: str, port: int, request: Request, timeout: float = 15.0) -> None:
    """Send an invalid request once; raise ServerError unless it is refused (400 or 422)."""
    status, _, body = exchange(host, port, request, timeout)
    problem = refusal_problem(status, body)
    if problem:
        detail = f" with the body {request.body[:200]!r}" if request.body else ""
        raise ServerError(f"{request}{detail} answered {problem}")
