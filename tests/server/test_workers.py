"""The supervisor and its pre-forked workers (porch/server/workers.py), in real processes."""

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, LoadGenerator, PorchProcess, pid_alive, wait_until

APP = "tests.apps_process.lifecycle:app"
START = 30.0  # generous: the machine may be busy


def porch(*args: str, env: dict[str, str] | None = None) -> PorchProcess:
    return PorchProcess(["run", *args, "--no-access-log"], cwd=ROOT, env=env)


def serving_workers(proc: PorchProcess, count: int) -> list[int]:
    """Wait for `count` workers to be serving; their pids."""
    proc.wait_output("serving", count=count, timeout=START)
    assert wait_until(lambda: len(proc.children()) == count, START), proc.output
    return proc.children()


def pids_answering(url: str, want: int, attempts: int = 400) -> set[int]:
    """Pids that answer GET /pid on fresh connections, until `want` distinct ones are seen."""
    seen: set[int] = set()
    for _ in range(attempts):
        response = httpx.get(url + "/pid", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 200
        seen.add(int(response.text))
        if len(seen) >= want:
            break
    return seen


def request_log(path: Path) -> set[str]:
    return set(path.read_text().split()) if path.exists() else set()


def test_workers_share_one_socket():
    with porch(APP, "--workers", "3") as proc:
        workers = serving_workers(proc, 3)
        pids = pids_answering(proc.url, 3)
        assert pids == set(workers)
        assert proc.proc.pid not in pids  # the supervisor never serves
        assert "3 workers" in proc.output
        assert proc.stop() == 0
    assert not any(pid_alive(pid) for pid in workers)


def test_killed_worker_is_replaced_within_a_second():
    with porch(APP, "--workers", "2") as proc:
        workers = serving_workers(proc, 2)
        victim, survivor = workers
        serving_before = proc.output.count("serving")
        answered: list[int] = []

        def keep_requesting() -> None:
            # Fresh connections meanwhile: the survivor, then the replacement, answer them.
            for _ in range(30):
                response = httpx.get(proc.url + "/pid", headers={"Connection": "close"})
                answered.append(response.status_code)

        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        requests = threading.Thread(target=keep_requesting)
        requests.start()
        proc.wait_output("serving", count=serving_before + 1, timeout=5)
        healed_after = time.monotonic() - killed_at
        requests.join(30)
        assert healed_after < 1.0, proc.output
        assert answered == [200] * 30
        assert wait_until(lambda: len(proc.children()) == 2, 5)
        replacement = (set(proc.children()) - {survivor}).pop()
        assert replacement != victim
        assert f"Worker {victim} died (signal 9)" in proc.output
        assert replacement in pids_answering(proc.url, want=2)
        assert proc.stop() == 0


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(
    ("app", "message"),
    [
        (
            "tests.apps_process.broken_import:app",
            'Error importing "tests.apps_process.broken_import": RuntimeError: boom at import',
        ),
        (
            "tests.apps_process.failing_startup:app",
            "Application startup failed: database unreachable",
        ),
        ("tests.apps_process.lifecycle:nowhere", 'Attribute "nowhere" not found'),
    ],
)
def test_application_that_cannot_start_stops_porch(app, message, workers):
    started = time.monotonic()
    proc = porch(app, "--workers", workers)
    code = proc.wait_exit(timeout=20)
    elapsed = time.monotonic() - started
    proc.stop()
    assert code == 3, proc.output
    assert elapsed < 10, proc.output  # no retry loop, no hang
    assert message in proc.output
    assert "Traceback" not in proc.output
    error_lines = [line for line in proc.output.splitlines() if " ERROR " in line]
    assert error_lines, proc.output
    assert not proc.children()


def test_workers_that_keep_crashing_stop_the_supervisor(tmp_path):
    # A worker that dies before it is ready (here: at import) without saying why.
    (tmp_path / "crasher.py").write_text("import os\nos._exit(7)\n")
    started = time.monotonic()
    proc = PorchProcess(
        ["run", "crasher:app", "--workers", "2", "--app-dir", str(tmp_path)], cwd=tmp_path
    )
    code = proc.wait_exit(timeout=30)
    proc.stop()
    assert code == 1, proc.output
    assert time.monotonic() - started < 15
    assert "Workers keep failing at start" in proc.output
    assert "Traceback" not in proc.output


def test_sighup_under_load_replaces_every_worker_and_drops_nothing(tmp_path):
    """Two SIGHUPs while four keep-alive clients send requests back to back, and two more
    pause 1.2 s between theirs (longer than an old worker's 1 s grace for idle connections).

    "Dropped" means: a request whose bytes the server took (the application logged its id)
    but whose response did not arrive complete. A client may instead see the server close
    an idle keep-alive connection before any byte of the response (EOF or reset): RFC 9112
    §9.3.1 lets a client retry an idempotent request then, so ours retries under a new id,
    and the test checks that the application never saw that id (only the pausing clients
    should meet this). Requests answered halfway, with another status, or not at all within
    10 s are failures; so is a refused connection.
    """
    log = tmp_path / "requests.log"
    with porch(APP, "--workers", "2", env={"TESTAPP_REQUEST_LOG": str(log)}) as proc:
        generations = [set(serving_workers(proc, 2))]
        load = LoadGenerator(proc.port, threads=4).start()
        sleepy = LoadGenerator(proc.port, threads=2, pause=1.2, name="s").start()
        try:
            load.wait_for(200)
            for reload_number in (1, 2):
                proc.proc.send_signal(signal.SIGHUP)
                previous = generations[-1]
                # Each old worker goes only after its replacement serves.
                assert wait_until(
                    lambda previous=previous: (
                        not previous & set(proc.children()) and len(proc.children()) == 2
                    ),
                    START,
                ), proc.output
                generations.append(set(proc.children()))
                swapped_at = time.monotonic()
                load.wait_for(200)
                assert load.pids_since(swapped_at) <= generations[-1], reload_number
                assert not load.failures, load.failures[:5]
        finally:
            load.stop()
            sleepy.stop()
        assert proc.stop() == 0
    assert not sleepy.failures and sleepy.refused == 0, sleepy.failures[:5]
    assert sleepy.dropped(request_log(log)) == []
    assert len(sleepy.ok) >= 2
    first, second, third = generations
    assert not first & second and not second & third and not first & third
    answering = load.pids_since(0)
    assert answering <= first | second | third
    assert answering & first and answering & second and answering & third
    assert not load.failures, load.failures[:5]
    assert load.refused == 0
    assert load.dropped(request_log(log)) == []
    assert len(load.ok) > 600


@pytest.mark.parametrize("workers", ["1", "2"])
def test_max_requests_recycles_workers_without_failures(tmp_path, workers):
    log = tmp_path / "requests.log"
    args = ["--workers", workers, "--max-requests", "50", "--max-requests-jitter", "10"]
    with porch(APP, *args, env={"TESTAPP_REQUEST_LOG": str(log)}) as proc:
        first = set(serving_workers(proc, int(workers)))
        load = LoadGenerator(proc.port, threads=3).start()
        try:
            load.wait_for(400, timeout=60)
        finally:
            load.stop()
        pids = set(load.ok.values())
        assert proc.stop() == 0
    # Each worker answers 50 to 60 requests, then another takes its place.
    assert len(pids) >= 400 // 60
    assert first <= pids
    counts = [list(load.ok.values()).count(pid) for pid in pids]
    # Past the limit, each connection may get a few more answers until its worker stops.
    assert max(counts) <= 60 + 5 * 3, counts
    assert "Reached --max-requests" in proc.output
    assert not load.failures, load.failures[:5]
    assert load.refused == 0
    assert load.dropped(request_log(log)) == []


def test_ttin_and_ttou_change_the_number_of_workers():
    with porch(APP, "--workers", "2") as proc:
        first = serving_workers(proc, 2)
        proc.proc.send_signal(signal.SIGTTIN)
        assert wait_until(lambda: len(proc.children()) == 3, START), proc.output
        proc.wait_output("serving", count=3, timeout=START)
        for remaining in (2, 1):
            proc.proc.send_signal(signal.SIGTTOU)
            assert wait_until(lambda n=remaining: len(proc.children()) == n, START), proc.output
        # The oldest go first.
        assert not set(first) & set(proc.children())
        assert len(pids_answering(proc.url, want=1)) == 1
        # Never below one.
        proc.proc.send_signal(signal.SIGTTOU)
        proc.wait_output("keeping the last worker", timeout=START)
        assert len(proc.children()) == 1
        assert proc.stop() == 0


def test_signals_to_the_whole_process_group_are_handled_once():
    """A closed terminal sends SIGHUP, and Ctrl-C SIGINT, to every process of the group."""
    with porch(APP, "--workers", "2") as proc:
        first = set(serving_workers(proc, 2))
        os.killpg(proc.proc.pid, signal.SIGHUP)
        # One reload (workers ignore the signal): two new workers, no extra one.
        assert wait_until(lambda: not first & set(proc.children()), START), proc.output
        proc.wait_output("serving", count=4, timeout=START)
        time.sleep(0.3)
        assert len(proc.children()) == 2, proc.output
        assert "died" not in proc.output
        os.killpg(proc.proc.pid, signal.SIGINT)
        assert proc.wait_exit(timeout=15) == 0
    assert proc.output.count("Shutting down (SIGINT)") == 1, proc.output
    assert "Traceback" not in proc.output


def test_reload_with_broken_code_keeps_the_old_workers(tmp_path):
    module = tmp_path / "changing.py"
    module.write_text("from tests.apps_process.lifecycle import app\n")
    args = ["run", "changing:app", "--workers", "2", "--app-dir", str(tmp_path)]
    with PorchProcess([*args, "--no-access-log"], cwd=ROOT) as proc:
        workers = set(serving_workers(proc, 2))
        module.write_text("raise ImportError('half-deployed')\n")
        proc.proc.send_signal(signal.SIGHUP)
        proc.wait_output("Reload abandoned", timeout=START)
        assert "half-deployed" in proc.output
        assert set(proc.children()) == workers
        assert pids_answering(proc.url, want=2) == workers
        # Fixed, a reload goes through.
        module.write_text("from tests.apps_process.lifecycle import app\n")
        proc.proc.send_signal(signal.SIGHUP)
        assert wait_until(
            lambda: not workers & set(proc.children()) and len(proc.children()) == 2, START
        ), proc.output
        assert proc.stop() == 0
