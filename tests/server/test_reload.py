"""`porch run --reload` (porch/server/reload.py) in real processes."""

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support import PorchProcess, child_pids, pid_alive, wait_until

START = 30.0
APP_SOURCE = """
import os

MESSAGE = {message!r}


async def app(scope, receive, send):
    assert scope["type"] == "http"
    body = f"{{MESSAGE}} {{os.getpid()}}".encode()
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": body}})
"""


def write_app(directory: Path, message: str) -> None:
    path = directory / "hello.py"
    path.write_text(APP_SOURCE.format(message=message))
    # Some filesystems keep whole-second times: make each version's change visible.
    os.utime(path, (time.time() + 1, time.time() + 1))


def descendants(pid: int) -> set[int]:
    found = set()
    for child in child_pids(pid):
        found |= {child, *descendants(child)}
    return found


def answer(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


def wait_for_message(url: str, message: str, timeout: float = 15.0) -> str:
    """Poll until the server answers with `message`; the answer."""
    seen: list[str | None] = []

    def check() -> bool:
        seen.append(answer(url))
        return bool(seen[-1]) and seen[-1].split()[0] == message  # type: ignore[union-attr]

    assert wait_until(check, timeout, interval=0.1), seen[-3:]
    return seen[-1] or ""


def reloading(directory: Path, *args: str) -> PorchProcess:
    proc = PorchProcess(["run", "hello:app", "--reload", "--lifespan", "off", *args], cwd=directory)
    proc.wait_output("listening on", count=2, timeout=START)  # the reloader, then the server
    return proc


def test_changed_source_is_served_within_seconds(tmp_path):
    write_app(tmp_path, "one")
    with reloading(tmp_path) as proc:
        first_pid = wait_for_message(proc.url, "one").split()[1]
        changed = time.monotonic()
        write_app(tmp_path, "two")
        second_pid = wait_for_message(proc.url, "two", timeout=10).split()[1]
        assert time.monotonic() - changed < 5
        assert first_pid != second_pid  # a fresh interpreter imported the new code
        assert "Changed: hello.py" in proc.output
        assert proc.stop() == 0


def test_syntax_error_keeps_the_reloader_and_a_fix_brings_the_server_back(tmp_path):
    write_app(tmp_path, "one")
    with reloading(tmp_path) as proc:
        wait_for_message(proc.url, "one")
        (tmp_path / "hello.py").write_text("def broken(:\n")
        proc.wait_output("waiting for changes", timeout=START)
        assert "SyntaxError" in proc.output
        assert "Traceback" not in proc.output
        assert proc.proc.poll() is None  # the reloader lives on
        write_app(tmp_path, "fixed")
        wait_for_message(proc.url, "fixed")
        assert proc.stop() == 0


def test_sigterm_stops_every_process(tmp_path):
    write_app(tmp_path, "one")
    with reloading(tmp_path, "--workers", "2") as proc:
        wait_for_message(proc.url, "one")
        assert wait_until(lambda: len(descendants(proc.proc.pid)) == 3, START)  # server, 2 workers
        family = descendants(proc.proc.pid)
        write_app(tmp_path, "two")
        wait_for_message(proc.url, "two")
        assert wait_until(lambda: len(descendants(proc.proc.pid)) == 3, START)
        family |= descendants(proc.proc.pid)
        assert len(family) == 6
        assert proc.stop(signal.SIGTERM) == 0
    assert wait_until(lambda: not any(pid_alive(pid) for pid in family), 5), [
        pid for pid in family if pid_alive(pid)
    ]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_terminal_signals_stop_everything_once(tmp_path, signum):
    """Ctrl-C (SIGINT) and a closed terminal (SIGHUP) reach the whole process group."""
    write_app(tmp_path, "one")
    with reloading(tmp_path) as proc:
        wait_for_message(proc.url, "one")
        family = descendants(proc.proc.pid)
        os.killpg(proc.proc.pid, signum)
        assert proc.wait_exit(timeout=15) == 0
    assert wait_until(lambda: not any(pid_alive(pid) for pid in family), 5)
    # The server heard one signal (from the reloader): its shutdown stayed graceful.
    assert proc.output.count("Shutting down") == 2, proc.output
    assert "again" not in proc.output
