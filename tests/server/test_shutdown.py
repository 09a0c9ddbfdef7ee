"""Graceful shutdown of `porch run` (porch/server/server.py, workers.py), in real processes."""

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from porch.server.accept import TLS, Acceptor
from porch.server.loader import make_adapter
from porch.server.protocol import HTTPProtocol
from porch.server.server import Server
from porch.server.settings import Settings
from porch.server.state import ConnectionConfig, ServerState
from tests.apps_process.lifecycle import app as APP_OBJECT
from tests.support import (
    ROOT,
    LoadGenerator,
    PorchProcess,
    RawClient,
    listening_socket,
    pid_alive,
    wait_until,
)

APPS = {
    "asgi": "tests.apps_process.lifecycle:app",
    "wsgi": "tests.apps_process.lifecycle_wsgi:app",
}
START = 30.0


def porch(app: str, *args: str, tmp_path: Path) -> PorchProcess:
    env = {
        "TESTAPP_MARKER": str(tmp_path / "marker"),
        "TESTAPP_REQUEST_LOG": str(tmp_path / "requests.log"),
    }
    proc = PorchProcess(["run", app, "--no-access-log", *args], cwd=ROOT, env=env)
    proc.wait_output("serving" if "--workers" in args else "listening on", timeout=START)
    if "--workers" in args:
        count = int(args[args.index("--workers") + 1])
        proc.wait_output("serving", count=count, timeout=START)
    return proc


def log_lines(tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    return path.read_text().splitlines() if path.exists() else []


def start_slow_request(proc: PorchProcess, tmp_path: Path, seconds: float) -> RawClient:
    """A GET /slow whose handler is running when this returns."""
    started = len([line for line in log_lines(tmp_path, "requests.log") if "slow-" in line])
    client = RawClient(proc.port, timeout=30)
    client.send(f"GET /slow?seconds={seconds} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert wait_until(
        lambda: (
            len([x for x in log_lines(tmp_path, "requests.log") if x.startswith("slow-")]) > started
        ),
        START,
    ), proc.output
    return client


def idle_keep_alive_connection(proc: PorchProcess) -> RawClient:
    """A connection that made one keep-alive request and now waits."""
    client = RawClient(proc.port, timeout=30)
    client.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = client.read_response()
    assert status == 200 and headers.get("connection") != "close"
    return client


def connection_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
@pytest.mark.parametrize(
    ("interface", "signum"),
    [("asgi", signal.SIGTERM), ("wsgi", signal.SIGTERM), ("asgi", signal.SIGINT)],
    ids=["asgi-TERM", "wsgi-TERM", "asgi-INT"],
)
def test_signal_finishes_requests_in_flight(tmp_path, interface, signum, workers):
    proc = porch(APPS[interface], "--timeout-keep-alive", "30", *workers, tmp_path=tmp_path)
    idle = idle_keep_alive_connection(proc)
    slow = start_slow_request(proc, tmp_path, seconds=3)
    signalled = time.monotonic()
    proc.proc.send_signal(signum)
    # While the slow request runs, connecting is refused (not left waiting in a queue)...
    assert wait_until(lambda: connection_refused(proc.port), 1.0)
    # ...idle keep-alive connections are closed (within SHUTDOWN_GRACE: 1 s)...
    assert idle.is_closed(timeout=2.5)
    assert time.monotonic() - signalled < 2.5
    # ...and the request in flight is answered in full.
    status, headers, body = slow.read_response(timeout=10)
    assert (status, body) == (200, b"slow done")
    assert headers["connection"] == "close"
    assert slow.is_closed()
    assert proc.wait_exit(timeout=10) == 0, proc.output
    assert time.monotonic() - signalled >= 2.5
    if interface == "asgi":
        shutdowns = [line for line in log_lines(tmp_path, "marker") if line.startswith("shutdown")]
        assert len(shutdowns) == (2 if workers else 1), proc.output
    assert "Traceback" not in proc.output
    assert not proc.children()


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
@pytest.mark.parametrize("interface", ["asgi", "wsgi"])
def test_requests_slower_than_the_graceful_timeout_are_cut(tmp_path, interface, workers):
    args = ["--timeout-graceful-shutdown", "1", *workers]
    proc = porch(APPS[interface], *args, tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=30)
    signalled = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert slow.read_until_close(timeout=15) == b""  # cut: no response, no half response
    code = proc.wait_exit(timeout=15)
    took = time.monotonic() - signalled
    assert code == 0, proc.output
    assert 1.0 <= took < 4.0, proc.output
    assert "Graceful shutdown timed out" in proc.output
    if interface == "wsgi":
        # Nothing can stop the thread still running the request: the process ends without it.
        assert "1 request thread(s) still running; exiting without them" in proc.output
    if interface == "asgi":
        # The application's shutdown still runs.
        assert any(line.startswith("shutdown") for line in log_lines(tmp_path, "marker"))
    assert not proc.children()


def test_stuck_application_shutdown_cannot_keep_the_process_alive(tmp_path):
    proc = porch(
        "tests.apps_process.stuck_shutdown:app",
        "--timeout-graceful-shutdown",
        "0.5",
        tmp_path=tmp_path,
    )
    signalled = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    code = proc.wait_exit(timeout=20)
    took = time.monotonic() - signalled
    # The process ends SHUTDOWN_EXIT_GRACE (5 s) past the graceful timeout, and says why.
    assert code == 1
    assert 5.5 <= took < 9.0
    assert "Shutdown did not finish within 5.5s" in proc.output


def test_request_on_an_idle_connection_during_shutdown_is_answered(tmp_path):
    proc = porch(APPS["asgi"], "--timeout-keep-alive", "30", tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=2)
    client = idle_keep_alive_connection(proc)
    proc.proc.send_signal(signal.SIGTERM)
    proc.wait_output("Shutting down")
    # The connection is not idle for long: its next request is answered, then it closes.
    client.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = client.read_response()
    assert status == 200
    assert headers["connection"] == "close"
    assert client.is_closed()
    assert slow.read_response()[0] == 200
    assert proc.wait_exit(timeout=10) == 0


def test_sigterm_when_idle_exits_quickly_and_runs_lifespan_shutdown(tmp_path):
    proc = porch(APPS["asgi"], tmp_path=tmp_path)
    idle_keep_alive_connection(proc)
    signalled = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait_exit(timeout=10) == 0
    assert time.monotonic() - signalled < 3  # the idle connection's 1 s grace, and no more
    assert log_lines(tmp_path, "marker") == [
        f"startup {proc.proc.pid}",
        f"shutdown {proc.proc.pid}",
    ]


@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-process", "workers"])
def test_sigterm_under_load_answers_every_request_it_took(tmp_path, workers):
    """SIGTERM while four keep-alive clients send requests back to back.

    Every request whose bytes the server took (the application logged its id) must get a
    complete response; none is answered halfway. A client whose connection the server closed
    before any byte of a response (EOF or reset: an idle connection closed, or a connection
    still waiting in the listen queue when the server stopped listening) has a request the
    server never read; the test checks that the application never saw it, and the client may
    retry it (RFC 9112 §9.3.1) — here, until connecting is refused.
    """
    proc = porch(APPS["asgi"], *workers, tmp_path=tmp_path)
    load = LoadGenerator(proc.port, threads=4).start()
    try:
        load.wait_for(300)
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.wait_exit(timeout=20)
        assert wait_until(lambda: load.refused > 0, 10)
    finally:
        load.stop()
    assert code == 0, proc.output
    seen = {x for x in log_lines(tmp_path, "requests.log") if not x.startswith("slow")}
    assert not load.failures, load.failures[:5]
    assert load.dropped(seen) == []
    assert set(load.not_answered).isdisjoint(seen)
    assert len(load.ok) >= 300


def test_killed_supervisor_takes_its_workers_along(tmp_path):
    proc = porch(APPS["asgi"], "--workers", "2", tmp_path=tmp_path)
    workers = proc.children()
    assert len(workers) == 2
    proc.proc.send_signal(signal.SIGKILL)
    proc.wait_exit(timeout=5)
    # Orphaned workers notice and stop (gracefully: lifespan shutdown runs).
    assert wait_until(lambda: not any(pid_alive(pid) for pid in workers), 10)
    shutdowns = [line for line in log_lines(tmp_path, "marker") if line.startswith("shutdown")]
    assert len(shutdowns) == 2


def test_sighup_stops_a_single_process_gracefully(tmp_path):
    # Without --workers there is no one to reload workers: a hangup stops, it never kills.
    proc = porch(APPS["asgi"], tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=1)
    proc.proc.send_signal(signal.SIGHUP)
    assert slow.read_response()[2] == b"slow done"
    assert proc.wait_exit(timeout=10) == 0
    assert "use --workers" in proc.output
    assert log_lines(tmp_path, "marker")[-1].startswith("shutdown")


def test_second_signal_skips_the_graceful_wait(tmp_path):
    proc = porch(APPS["asgi"], tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=30)
    signalled = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    proc.wait_output("Shutting down")
    proc.proc.send_signal(signal.SIGINT)
    assert slow.read_until_close(timeout=10) == b""
    assert proc.wait_exit(timeout=10) == 0
    assert time.monotonic() - signalled < 3
    assert "closing every connection now" in proc.output


def test_connections_waiting_in_the_listen_queue_are_answered_at_shutdown():
    """Closing a listening socket resets the connections in its queue; porch answers them."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    server = Server(Settings(access_log=False), APP_OBJECT)
    waiting = RawClient(port)  # completed by the kernel, never accepted by a server
    waiting.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")

    async def shut_down() -> None:
        loop = asyncio.get_running_loop()
        adapter = make_adapter(APP_OBJECT, server.settings, loop)
        state = ServerState(ConnectionConfig(adapter=adapter), loop)
        state.closing = True
        state.start_ticker()
        acceptor = Acceptor(sock, lambda: HTTPProtocol(state), TLS(None, None), loop, 128)
        await acceptor.accept_queued()  # never started: only what waits is taken
        assert sock.fileno() == -1  # closed: nothing more can queue
        for _ in range(100):
            if not state.connections:
                break
            await asyncio.sleep(0.02)
        state.stop_ticker()

    asyncio.run(shut_down())
    status, headers, body = waiting.read_response()
    assert status == 200 and headers["connection"] == "close"
    assert body == str(os.getpid()).encode()
    assert connection_refused(port)


def test_sigterm_to_every_process_stays_graceful(tmp_path):
    """systemd stops a service by sending SIGTERM to each of its processes at once."""
    proc = porch(APPS["asgi"], "--workers", "2", tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=1.5)
    os.killpg(proc.proc.pid, signal.SIGTERM)  # the workers hear it twice: direct and relayed
    assert slow.read_response()[2] == b"slow done"
    assert proc.wait_exit(timeout=10) == 0
    assert "closing every connection now" not in proc.output


def test_asking_a_supervisor_twice_stops_its_workers_now(tmp_path):
    proc = porch(APPS["asgi"], "--workers", "2", tmp_path=tmp_path)
    slow = start_slow_request(proc, tmp_path, seconds=30)
    signalled = time.monotonic()
    proc.proc.send_signal(signal.SIGINT)
    proc.wait_output("Shutting down (SIGINT)")
    proc.proc.send_signal(signal.SIGINT)
    assert slow.read_until_close(timeout=10) == b""
    assert proc.wait_exit(timeout=10) == 0
    assert time.monotonic() - signalled < 3
    assert "SIGQUIT: closing every connection now" in proc.output
    # Cut short, the application's shutdown still ran in both workers.
    assert len([x for x in log_lines(tmp_path, "marker") if x.startswith("shutdown")]) == 2


def test_an_applications_own_idle_threads_are_not_request_threads(tmp_path):
    # Its pool's threads outlive the server: the process ends without them, quietly, since no
    # request runs in them.
    proc = porch("tests.apps_process.own_pool:app", tmp_path=tmp_path)
    assert httpx.get(proc.url + "/").text == "pooled"
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.wait_exit(timeout=10) == 0, proc.output
    assert "still running" not in proc.output
