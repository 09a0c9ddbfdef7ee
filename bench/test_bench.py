"""Tests of the harness itself (not the servers): `python -m pytest bench`."""

import dataclasses
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import needs_tool, nginx_test

from bench import report
from bench.answers import Exact, JSONValue
from bench.lock import exclusive_run
from bench.nginx import write_logged_nginx_conf, write_nginx_conf
from bench.processes import ServerError, check_answer, check_refused, running, stop_group
from bench.request import JSON_HEADERS, Request, json_request
from bench.runner import Outcome, Plan, check_all, display_command, missing_program, rotated
from bench.scenarios import GROUPS, SCENARIOS, Scenario, Server, Target
from bench.wrk import WrkError, WrkResult, find_wrk, parse_output, run_wrk, wrk_command

WRK_OUTPUT = """\
Running 1s test @ http://127.0.0.1:8000/
  1 threads and 4 connections
973 requests in 1.00s, 1.76MB read
BENCH-RESULT {"requests": 973, "duration_us": 1000651, "bytes": 1847727, "errors": \
{"connect": 0, "read": 2, "write": 0, "status": 5, "timeout": 0}, "latency_us": \
{"mean": 4044.1, "p50": 3994, "p90": 6162, "p99": 8382, "max": 11679}}
"""


def sample(rate: float, **errors: int) -> WrkResult:
    """A one-second run at `rate` requests per second."""
    counts = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0, **errors}
    latency = {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1000.0, "max": 1.0}
    return WrkResult(int(rate), 1.0, int(rate) * 100, counts, latency)


def scenario() -> Scenario:
    """A scenario with two servers and porch >= 2x other."""
    servers = (Server("porch", "{bin}/porch run a:app"), Server("other", "{bin}/other a:app"))
    return Scenario("demo", "Demo", servers, Target("porch", "other", 2.0), Exact(b"hi"))


def outcomes(porch: list[WrkResult], other: list[WrkResult]) -> dict[tuple[str, str], Outcome]:
    """Outcomes of the demo scenario with these samples."""
    return {
        ("demo", "porch"): Outcome("demo", "porch", "porch run a:app", porch),
        ("demo", "other"): Outcome("demo", "other", "other a:app", other),
    }


def test_parse_output_reads_the_summary_line() -> None:
    result = parse_output(WRK_OUTPUT, 0)
    assert result.requests == 973
    assert result.requests_per_second == pytest.approx(973 / 1.000651)
    assert result.errors == {"connect": 0, "read": 2, "write": 0, "status": 5, "timeout": 0}
    assert result.error_count == 7
    assert result.latency_us["p99"] == 8382


def test_parse_output_without_summary_says_what_wrk_printed() -> None:
    with pytest.raises(WrkError, match=r"status 1[\s\S]*unable to connect"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n", 1)


def judged(porch: list[WrkResult], other: list[WrkResult]) -> report.Verdict:
    """The demo scenario's verdict with these samples."""
    verdict = report.judge(scenario(), outcomes(porch, other))
    assert verdict is not None
    return verdict


def test_judge_passes_at_the_ratio_and_fails_below_it() -> None:
    verdict = judged([sample(200), sample(210)], [sample(100)])
    assert verdict.label == "PASS"
    assert verdict.ratio == pytest.approx(2.05)
    assert judged([sample(199)], [sample(100)]).label == "FAIL"


def test_judge_never_passes_a_subject_with_errors() -> None:
    verdict = judged([sample(500, status=3)], [sample(100)])
    assert verdict.label == "FAIL"
    assert "errors" in verdict.reason


def test_judge_without_reference_is_not_applicable() -> None:
    assert judged([sample(500)], []).label == "N/A"


def test_rows_show_median_range_ratio_and_errors() -> None:
    rows = report.rows(scenario(), outcomes([sample(300), sample(100, read=4), sample(200)],
                                            [sample(100)]))  # fmt: skip
    porch = rows[0]
    assert (porch["rate"], porch["range"], porch["ratio"]) == ("200", "100-300", "2.00x")
    assert porch["errors"] == "4 read"
    assert rows[1]["ratio"] == "1.00x"


def test_markdown_table_has_one_row_per_server_and_the_verdict() -> None:
    text = report.scenario_section(scenario(), outcomes([sample(300)], [sample(100)]))
    table = [line for line in text if line.startswith("| ")]
    assert len(table) == 4  # heading, rule and two servers
    assert table[2].startswith("| porch | 300 | 300-300 | 3.00x |")
    assert any("**PASS** (3.00x)" in line for line in text)


def test_rotated_starts_each_round_one_further() -> None:
    servers = (*scenario().servers, Server("third", "x"))
    assert [s.label for s in rotated(servers, 0)] == ["porch", "other", "third"]
    assert [s.label for s in rotated(servers, 1)] == ["other", "third", "porch"]
    assert [s.label for s in rotated(servers, 3)] == ["porch", "other", "third"]


def test_display_command_reads_like_a_shell_line() -> None:
    nginx = SCENARIOS[2].server("nginx")
    assert display_command(nginx) == (
        "nginx -e TMP/error.log -c TMP/nginx.conf -p TMP -g 'daemon off;'"
    )
    porch = SCENARIOS[0].server("porch")
    assert display_command(porch).startswith("porch run asgiapp:app --host 127.0.0.1 --port PORT")


def test_missing_program_names_it() -> None:
    assert missing_program(Server("x", "no-such-program-here --port {port}")) == (
        "no-such-program-here is not installed"
    )
    assert "pip install" in (missing_program(Server("x", "{bin}/no-such-script")) or "")
    assert missing_program(Server("x", "{python} -c pass")) is None


def test_every_scenario_names_its_target_servers() -> None:
    for entry in SCENARIOS:
        labels = [server.label for server in entry.servers]
        assert len(set(labels)) == len(labels), entry.name
        entry.server(entry.subject)
        entry.server(entry.reference)
        if entry.target is not None:
            assert entry.target.subject == entry.subject
        for label in entry.ahead_of:
            entry.server(label)
        assert entry.group in GROUPS


def test_nginx_conf_keeps_everything_in_the_workdir(tmp_path: Path) -> None:
    values = {"host": "127.0.0.1", "port": "8123", "root": "/srv/files"}
    write_nginx_conf(tmp_path, values)
    conf = (tmp_path / "nginx.conf").read_text()
    assert "listen 127.0.0.1:8123;" in conf
    assert "root /srv/files;" in conf
    assert "access_log off;" in conf
    assert "worker_processes 1;" in conf
    paths = [line.split()[1] for line in conf.splitlines() if "_path " in line or "pid " in line]
    assert paths
    assert all(path.startswith(str(tmp_path)) for path in paths)


def test_the_logged_nginx_conf_buffers_its_log_in_the_workdir(tmp_path: Path) -> None:
    values = {"host": "127.0.0.1", "port": "8123", "root": "/srv/files"}
    write_logged_nginx_conf(tmp_path, values)
    conf = (tmp_path / "nginx.conf").read_text()
    assert f"access_log {tmp_path}/access.log combined buffer=64k flush=100ms;" in conf
    assert "access_log off;" not in conf


@needs_tool("nginx")
@pytest.mark.parametrize("write", [write_nginx_conf, write_logged_nginx_conf])
def test_nginx_itself_accepts_the_configurations(tmp_path: Path, write: Any) -> None:
    write(tmp_path, {"host": "127.0.0.1", "port": "8123", "root": str(tmp_path)})
    checked = nginx_test(tmp_path / "nginx.conf")
    assert checked.returncode == 0, checked.stderr


ORDER = {"ok": True}


@pytest.fixture
def answering_server() -> Iterator[int]:
    """A server answering 200 "Hello" to GET / (404 elsewhere), and 201 with the body to a POST
    of ORDER as JSON with `X-Client: bench` to /orders (422 otherwise); yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects

        def do_GET(self) -> None:
            status = 200 if self.path == "/" else 404
            self.send_response(status)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"Hello")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            right = (
                self.path == "/orders"
                and self.headers.get("Content-Type") == "application/json"
                and self.headers.get("X-Client") == "bench"
                and body == json.dumps(ORDER, separators=(",", ":")).encode()
            )
            self.send_response(201 if right else 422)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_check_answer_accepts_the_expected_body(answering_server: int) -> None:
    check_answer("127.0.0.1", answering_server, Request(path="/"), Exact(b"Hello"))


def test_check_answer_rejects_another_status(answering_server: int) -> None:
    with pytest.raises(ServerError, match="GET /missing answered 404, not 200"):
        check_answer("127.0.0.1", answering_server, Request(path="/missing"), Exact(b"Hello"))


def test_check_answer_rejects_another_body(answering_server: int) -> None:
    with pytest.raises(ServerError, match="different body"):
        check_answer("127.0.0.1", answering_server, Request(path="/"), Exact(b"Goodbye"))


def test_check_answer_rejects_another_media_type(answering_server: int) -> None:
    with pytest.raises(ServerError, match="Content-Type"):
        check_answer(
            "127.0.0.1", answering_server, Request(path="/"), Exact(b"Hello", "text/plain")
        )


POST_ORDER = Request("POST", "/orders", (*JSON_HEADERS, ("X-Client", "bench")), b'{"ok":true}')


def test_check_answer_sends_the_method_headers_and_body(answering_server: int) -> None:
    check_answer("127.0.0.1", answering_server, POST_ORDER, JSONValue(ORDER, status=201))
    # Without its header, the same POST is refused: the header was sent, and is needed.
    without = dataclasses.replace(POST_ORDER, headers=JSON_HEADERS)
    with pytest.raises(ServerError, match="POST /orders answered 422, not 201"):
        check_answer("127.0.0.1", answering_server, without, JSONValue(ORDER, status=201))


def test_check_answer_wants_201_not_200(answering_server: int) -> None:
    with pytest.raises(ServerError, match="answered 201, not 200"):
        check_answer("127.0.0.1", answering_server, POST_ORDER, JSONValue(ORDER))


def test_check_refused_wants_the_invalid_request_refused(answering_server: int) -> None:
    check_refused("127.0.0.1", answering_server, json_request("POST", "/orders", {"ok": 1}))
    with pytest.raises(ServerError, match=r"answered 201, not 400 or 422: the invalid input"):
        check_refused("127.0.0.1", answering_server, POST_ORDER)


def test_wrk_command_gives_headers_as_flags_and_method_and_body_to_the_script() -> None:
    request = Request("POST", "/orders", (("X-Client", "bench"),), "é\xff".encode("latin-1"))
    argv, env = wrk_command("wrk", "http://h:1", request, connections=8, duration=3)
    assert argv[:4] == ["wrk", "-t1", "-c8", "-d3s"]
    assert argv[argv.index("-H") + 1] == "X-Client: bench"
    assert argv[-1] == "http://h:1/orders"
    assert env["BENCH_METHOD"] == "POST"
    # The environment carries the body's exact bytes, not a re-encoding of them.
    assert os.fsencode(env["BENCH_BODY"]) == "é\xff".encode("latin-1")


def test_wrk_command_of_a_plain_get_sends_no_body() -> None:
    argv, env = wrk_command("wrk", "http://h:1", Request(), connections=64, duration=10)
    assert "-H" not in argv
    assert argv[-1] == "http://h:1/"
    assert env == {"BENCH_METHOD": "GET", "BENCH_BODY": ""}


@pytest.mark.skipif(find_wrk() is None, reason="wrk is not installed")
def test_wrk_sends_the_scenario_request(answering_server: int) -> None:
    origin = f"http://127.0.0.1:{answering_server}"
    cpu = min(os.sched_getaffinity(0))
    result = run_wrk(origin, POST_ORDER, connections=1, duration=1, cpu=cpu)
    assert result.requests > 0
    # The server answers 422 (a non-2xx "status" error) to anything but the right POST.
    assert result.errors["status"] == 0


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET /", "/", (), b""),
        ("GET", "orders", (), b""),
        ("GET", "/", (("X-Client", "a\r\nInjected: 1"),), b""),
        ("GET", "/", (("Bad Name", "x"),), b""),
        ("POST", "/", (), b"a\0b"),
    ],
)
def test_request_refuses_what_wrk_cannot_send(
    method: str, path: str, headers: tuple[tuple[str, str], ...], body: bytes
) -> None:
    with pytest.raises(ValueError):
        Request(method, path, headers, body)


def test_a_scenario_request_is_made_of_its_fields() -> None:
    posting = dataclasses.replace(
        scenario(), path="/orders", method="POST", headers=JSON_HEADERS, body=b"{}"
    )
    assert posting.request == Request("POST", "/orders", JSON_HEADERS, b"{}")
    assert scenario().request == Request("GET", "/")
    assert str(posting.request) == "POST /orders"
    assert posting.request.describe() == (
        "`POST /orders`, `Content-Type: application/json`, a 2-byte body"
    )


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return status != "Z"


def test_stop_group_kills_children_that_ignore_sigterm() -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    child = int(process.stdout.readline())
    started = time.monotonic()
    stop_group(process)
    assert time.monotonic() - started < 15
    assert process.returncode is not None
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_running_reports_a_server_that_exits(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('ImportError: no static'); sys.exit(3)"]
    with (
        pytest.raises(ServerError, match=r"status 3[\s\S]*ImportError: no static"),
        running(argv, cwd=tmp_path, log=tmp_path / "log", host="127.0.0.1", port=1),
    ):
        pass


def test_exclusive_run_waits_for_the_other_run(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bench.lock import exclusive_run\n"
        "with exclusive_run(print, Path(sys.argv[1])):\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(1.5)\n"
    )
    root = str(Path(__file__).resolve().parent.parent)
    other = subprocess.Popen(
        [sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, cwd=root, text=True
    )
    assert other.stdout is not None
    assert other.stdout.readline().strip() == "holding"
    said: list[str] = []
    started = time.monotonic()
    with exclusive_run(said.append, lock):
        waited = time.monotonic() - started
        assert lock.read_text() == str(os.getpid())
    other.wait(10)
    assert waited > 0.5
    assert said == [f"bench: waiting for another benchmark run to finish (pid {other.pid})"]


def race(**medians: float | None) -> tuple[Scenario, dict[tuple[str, str], Outcome]]:
    """A framework-like scenario where porch must beat a, b and c, with these medians."""
    labels = ["porch", "a", "b", "c"]
    servers = tuple(Server(label, f"{{bin}}/{label}") for label in labels)
    race = Scenario(
        "race", "Race", servers, None, Exact(b"hi"), ahead_of=("a", "b", "c"), baseline="a"
    )
    found = {}
    for label in labels:
        median = medians.get(label)
        samples = [] if median is None else [sample(median)]
        found["race", label] = Outcome("race", label, label, samples)
    return race, found


def test_ahead_passes_when_porch_beats_every_peer() -> None:
    verdict = report.judge_ahead(*race(porch=300, a=100, b=200, c=150))
    assert verdict is not None
    assert verdict.label == "PASS"
    assert verdict.ratio == pytest.approx(1.5)
    assert verdict.reason == "1.50x the fastest other, b"


def test_ahead_fails_and_names_every_peer_ahead() -> None:
    verdict = report.judge_ahead(*race(porch=150, a=100, b=300, c=150))
    assert verdict is not None
    assert verdict.label == "FAIL"
    assert verdict.reason == "behind b (2.00x porch), c (1.00x porch)"


def test_ahead_counts_a_peer_with_errors_and_never_passes_porch_with_errors() -> None:
    scenario, found = race(porch=300, a=100, b=100, c=100)
    found["race", "porch"].samples = [sample(300, read=2)]
    verdict = report.judge_ahead(scenario, found)
    assert verdict is not None
    assert verdict.label == "FAIL"
    assert "errors" in verdict.reason


def test_ahead_says_which_peers_were_not_measured() -> None:
    verdict = report.judge_ahead(*race(porch=300, a=100))
    assert verdict is not None
    assert verdict.label == "PASS"
    assert verdict.reason.endswith("; not measured: b, c")
    verdict = report.judge_ahead(*race(porch=300))
    assert verdict is not None
    assert verdict.label == "N/A"
    assert report.judge_ahead(scenario(), outcomes([sample(1)], [sample(1)])) is None


def test_a_scenario_without_target_reports_ratios_to_its_baseline() -> None:
    race_scenario, found = race(porch=300, a=100, b=200, c=150)
    assert report.judge(race_scenario, found) is None
    goals = report.verdicts(race_scenario, found)
    assert [goal for goal, _ in goals] == ["porch ahead of every framework"]
    assert [row["ratio"] for row in report.rows(race_scenario, found)] == [
        "3.00x", "1.00x", "2.00x", "1.50x"
    ]  # fmt: skip
    section = "\n".join(report.scenario_section(race_scenario, found))
    assert "Porch ahead of every framework: **PASS** (1.50x the fastest other, b)." in section
    assert "Ratios are to a." in section
    terminal = report.terminal_report([race_scenario], found)
    assert "porch ahead of every framework: PASS (1.50x the fastest other, b)" in terminal


def test_markdown_report_has_a_section_and_chart_per_group() -> None:
    server = scenario()
    framework, found = race(porch=300, a=100, b=200, c=150)
    framework = dataclasses.replace(framework, group="framework")
    found.update(outcomes([sample(300)], [sample(100)]))
    machine = {
        "versions": {"porch": "0"},
        "load_average": [0.0, 0.0, 0.0],
        "cpu": "cpu",
        "cpu_count": 2,
        "kernel": "k",
        "python": "p",
    }
    plan = Plan(rounds=1, duration=3, warmup=1, server_cpu=0, client_cpu=1)
    charts = report.chart_names([server, framework])
    assert charts == {"server": "benchmarks.png", "framework": "benchmarks-framework.png"}
    text = report.markdown_report(
        [server, framework], found, plan, machine, "python -m bench", "now", charts
    )
    assert f"## {GROUPS['server']}\n\n![Requests per second, median of the rounds]" in text
    assert "(benchmarks.png)" in text
    assert "(benchmarks-framework.png)" in text
    assert text.index(GROUPS["server"]) < text.index("### demo") < text.index(GROUPS["framework"])
    assert text.index(GROUPS["framework"]) < text.index("### race")
    assert "| demo | porch >= 2x other | 3.00x | **PASS** |" in text
    assert (
        "| race | porch ahead of every framework | 1.50x the fastest other, b | **PASS** |" in text
    )
    assert report.chart_names([server]) == {"server": "benchmarks.png"}


MACHINE = {
    "versions": {"porch": "0"},
    "load_average": [0.0, 0.0, 0.0],
    "cpu": "cpu",
    "cpu_count": 2,
    "kernel": "k",
    "python": "p",
}
PLAN = Plan(rounds=1, duration=3, warmup=1, server_cpu=0, client_cpu=1)


def test_the_docs_describe_a_posted_request_its_status_and_refusals() -> None:
    posting = dataclasses.replace(
        scenario(),
        path="/orders",
        method="POST",
        headers=JSON_HEADERS,
        body=b'{"a":1}',
        expect=JSONValue({"a": 1}, status=201),
        refused=(json_request("POST", "/orders", {}), json_request("POST", "/orders", [])),
    )
    found = outcomes([sample(300)], [sample(100)])
    section = "\n".join(report.scenario_section(posting, found))
    assert (
        "`POST /orders`, `Content-Type: application/json`, a 7-byte body; answered 201 with the "
        'JSON `{"a": 1}`; 2 invalid requests, each refused with 400 or 422; 64 connections.'
    ) in section
    data = json.loads(report.results_json([posting], found, PLAN, MACHINE, "cmd", "now"))
    entry = data["scenarios"][0]
    assert (entry["method"], entry["status"], entry["body_bytes"]) == ("POST", 201, 7)
    assert entry["refused"] == ["POST /orders", "POST /orders"]


def test_the_docs_hold_every_scenario_even_unmeasured() -> None:
    charts = report.chart_names(SCENARIOS)
    text = report.markdown_report(SCENARIOS, {}, PLAN, MACHINE, "python -m bench", "now", charts)
    for entry in SCENARIOS:
        assert f"### {entry.name}: {entry.title}" in text
    assert "`POST /orders`, `Content-Type: application/json`" in text
    assert "[startup.md](startup.md)" in text


def test_full_run_minutes_counts_every_server_of_every_scenario() -> None:
    runs = sum(len(entry.servers) for entry in SCENARIOS)
    assert report.full_run_minutes(rounds=1, duration=58, warmup=0) == runs


@pytest.fixture
def site(tmp_path: Path) -> Scenario:
    """A scenario served by the standard library's file server, expecting the file it serves."""
    server = Server("files", "{python} quiet_http_server.py {host} {port} {root}")
    target = Target("files", "files", 1.0)
    return Scenario("site", "Site", (server,), target, Exact(b"A file."), path="/a.txt",
                    files={"a.txt": b"A file."})  # fmt: skip


def test_check_all_starts_each_server_and_checks_its_answer(site: Scenario) -> None:
    said: list[str] = []
    found = check_all([site], min(os.sched_getaffinity(0)), said.append)
    assert found["site", "files"].failure is None
    assert said == ["site · files: answers as expected"]


def test_check_all_reports_a_wrong_answer(site: Scenario) -> None:
    wrong = dataclasses.replace(site, expect=Exact(b"Another file."))
    said: list[str] = []
    found = check_all([wrong], min(os.sched_getaffinity(0)), said.append)
    failure = found["site", "files"].failure
    assert failure is not None
    assert "different body" in failure
    assert said[0].startswith("site · files: FAILED, GET /a.txt answered 200 with a different")


def test_idle_memory_is_measured_on_a_real_server(tmp_path: Path) -> None:
    # bench.idle: the server's resident memory, with one connection and with many idle.
    from bench.idle import SERVERS, measure

    before, after = measure(SERVERS[0], 200, 0, tmp_path)
    assert 10_000 < before <= after  # KiB: a Python server is more than 10 MiB
