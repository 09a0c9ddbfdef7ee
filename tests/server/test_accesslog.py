"""The access log (`porch/server/accesslog.py`): one line per answered request, refused ones
included, in each format, buffered without losing or tearing a line; nothing when it is off."""

import json
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.server.accesslog import FIELDS, PIPE_BUF, LogFile
from tests.server.apps import INTERFACES, Recorder, make_app
from tests.support import PorchProcess, RawClient, serve

TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
LINE = re.compile(
    rf"^{TIME} \[(?P<worker>\d+)\] (?P<client>127\.0\.0\.1:\d+) - "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/(?P<version>1\.[01])" '
    r"(?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+\.\d)ms$"
)


@pytest.fixture(params=INTERFACES)
def app(request: pytest.FixtureRequest) -> object:
    return make_app(request.param, Recorder())


def access_lines(path: Path) -> list[dict[str, str]]:
    """The default format's lines in `path`, parsed."""
    lines = []
    for line in read_lines(path):
        match = LINE.match(line)
        assert match is not None, line
        lines.append(match.groupdict())
    return lines


def read_lines(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    assert text == "" or text.endswith("\n"), text  # whole lines only
    return text.splitlines()


def logging_to(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    """serve()'s settings for an access log in tmp_path/access.log."""
    return {"access_log": True, "access_log_path": str(tmp_path / "access.log"), **settings}


def test_one_line_per_response(app: object, tmp_path: Path) -> None:
    with (
        serve(app, **logging_to(tmp_path)) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        client.get("/info?x=1&y=%20")
        client.head("/")
        client.get("/stream")
        client.post("/echo", content=b"12345678")
        client.get("/error")
    lines = access_lines(tmp_path / "access.log")
    assert [(line["method"], line["target"], line["status"], line["bytes"]) for line in lines] == [
        ("GET", "/info?x=1&y=%20", "200", str(len("GET /info x=1&y=%20"))),
        ("HEAD", "/", "200", "0"),  # bytes of the body sent: none for HEAD
        ("GET", "/stream", "200", "11"),  # the body, not the chunk framing
        ("POST", "/echo", "200", "8"),
        ("GET", "/error", "500", "26"),
    ]
    assert all(line["version"] == "1.1" for line in lines)
    assert {line["worker"] for line in lines} == {str(os.getpid())}
    assert len({line["client"] for line in lines}) <= 2  # one connection (a new one after 500)


def test_duration_covers_the_handler(app: object, tmp_path: Path) -> None:
    with serve(app, **logging_to(tmp_path)) as server:
        httpx.get(server.url + "/slow")
    (line,) = access_lines(tmp_path / "access.log")
    assert 290.0 <= float(line["ms"]) < 5000.0


def test_http_10_and_connection_close(app: object, tmp_path: Path) -> None:
    with serve(app, **logging_to(tmp_path)) as server:
        with RawClient(server.port) as client:
            client.send(b"GET /fast HTTP/1.0\r\n\r\n")
            client.read_until_close()
        with RawClient(server.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            client.read_until_close()
    lines = access_lines(tmp_path / "access.log")
    assert [(line["version"], line["target"], line["status"]) for line in lines] == [
        ("1.0", "/fast", "200"),
        ("1.1", "/", "200"),
    ]


def test_nothing_logged_when_off(app: object, tmp_path: Path) -> None:
    with serve(app, **logging_to(tmp_path, access_log=False)) as server:
        httpx.get(server.url + "/")
        httpx.get(server.url + "/error")
    assert not (tmp_path / "access.log").exists()


APP = """
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"logged"})
"""


@pytest.mark.parametrize("flag", [None, "--no-access-log"])
def test_porch_run_logs_to_stdout(tmp_path: Path, flag: str | None) -> None:
    (tmp_path / "logged_app.py").write_text(APP)
    args = ["run", "logged_app:app", *([flag] if flag else [])]
    with PorchProcess(args, cwd=tmp_path) as process:
        process.wait_ready()
        assert httpx.get(process.url + "/seen?q=1").text == "logged"
        time.sleep(0.2)
        output = process.output
    if flag is None:
        assert re.search(r'127\.0\.0\.1:\d+ - "GET /seen\?q=1 HTTP/1\.1" 200 6 \d+\.\dms', output)
    else:
        assert "/seen" not in output


# The formats, byte for byte: each format's function on one known request.


def entry(reason: str = "") -> tuple[Any, ...]:
    """A format's arguments for one known request."""
    from porch.http.native import RequestHead

    request = RequestHead(
        "GET",
        b"/teams/7?page=2",
        b"/teams/7",
        b"page=2",
        [(b"host", b"a"), (b"user-agent", b'curl/8 "x"\x85'), (b"referer", b"http://r/")],
        "1.1",
        ("10.0.0.5", 5123),
    )
    request.request_id = "5f2a-1c"
    return (request, ("10.0.0.5", 5123), 200, 1234, 0.01234, reason, 1796551200.042)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The log's clock stopped at 2026-12-06 10:00:00.042 UTC (shown as UTC), pid 4242."""
    from porch.server import accesslog

    clock = accesslog._clock
    monkeypatch.setattr(clock, "at", lambda when: None)
    monkeypatch.setattr(clock, "local", "2026-12-06 10:00:00")
    monkeypatch.setattr(clock, "nginx", "06/Dec/2026:10:00:00 +0000")
    monkeypatch.setattr(clock, "iso", "2026-12-06T10:00:00")
    monkeypatch.setattr(clock, "now", 1796551200.042)
    monkeypatch.setattr(clock, "pid", 4242)
    monkeypatch.setattr(clock, "prefix", "2026-12-06 10:00:00 [4242] ")


@pytest.mark.usefixtures("frozen")
def test_each_format_byte_for_byte() -> None:
    from porch.server.accesslog import AccessLog

    def line(format: str, reason: str = "") -> str:
        return AccessLog(format)._lines([entry(reason)], 0.0)

    assert line("default") == (
        '2026-12-06 10:00:00 [4242] 10.0.0.5:5123 - "GET /teams/7?page=2 HTTP/1.1" 200 1234 12.3ms\n'
    )
    assert line("default", "Request header timeout") == (
        '2026-12-06 10:00:00 [4242] 10.0.0.5:5123 - "GET /teams/7?page=2 HTTP/1.1" 200 1234 12.3ms'
        " (Request header timeout)\n"
    )
    # nginx's combined format; a quote inside a field is \x22, a C1 control (NEL) escaped.
    assert line("combined") == (
        '10.0.0.5 - - [06/Dec/2026:10:00:00 +0000] "GET /teams/7?page=2 HTTP/1.1" 200 1234 '
        '"http://r/" "curl/8 \\x22x\\x22\\x85"\n'
    )
    assert json.loads(line("json")) == {
        "time": "2026-12-06T10:00:00.042Z",
        "client": "10.0.0.5",
        "port": 5123,
        "method": "GET",
        "path": "/teams/7",
        "query": "page=2",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 1234,
        "duration_ms": 12.34,
        "user_agent": 'curl/8 "x"\\x85',
        "referer": "http://r/",
        "worker": 4242,
        "request_id": "5f2a-1c",
    }
    assert line("json").count("\n") == 1
    every = " ".join(f"{name}={{{name}}}" for name in FIELDS)
    assert line(every) == (
        "time=2026-12-06 10:00:00 time_local=06/Dec/2026:10:00:00 +0000 "
        "time_iso=2026-12-06T10:00:00.042Z worker=4242 client=10.0.0.5:5123 client_ip=10.0.0.5 "
        "request=GET /teams/7?page=2 HTTP/1.1 method=GET path=/teams/7 query=page=2 "
        "protocol=HTTP/1.1 status=200 bytes=1234 duration=0.012340 duration_ms=12.3 "
        'user_agent=curl/8 "x"\\x85 referer=http://r/ reason=- request_id=5f2a-1c\n'
    )


@pytest.mark.usefixtures("frozen")
def test_a_refused_request_has_no_request_line() -> None:
    from porch.server.accesslog import AccessLog

    def line(format: str) -> str:
        refused = (None, ("10.0.0.5", 5123), 431, 41, 0.0, "Too big", 1796551200.042)
        return AccessLog(format)._lines([refused], 0.0)

    assert line("default") == (
        '2026-12-06 10:00:00 [4242] 10.0.0.5:5123 - "-" 431 41 0.0ms (Too big)\n'
    )
    assert line("combined") == '10.0.0.5 - - [06/Dec/2026:10:00:00 +0000] "-" 431 41 "-" "-"\n'
    record = json.loads(line("json"))
    assert (record["method"], record["status"], record["reason"]) == (None, 431, "Too big")


@pytest.mark.parametrize(
    ("format", "message"),
    [
        ("{nope} {status}", "unknown field(s) nope"),
        ("plain text", "names no field"),
        ("{status", "expected '}'"),
    ],
)
def test_a_bad_format_stops_startup_naming_what_is_wrong(
    tmp_path: Path, format: str, message: str
) -> None:
    (tmp_path / "logged_app.py").write_text(APP)
    done = subprocess_porch(tmp_path, "run", "logged_app:app", "--access-log-format", format)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "client_ip" in done.stderr  # the fields it could have named


def subprocess_porch(cwd: Path, *args: str) -> Any:
    import subprocess
    import sys

    from tests.support import ROOT

    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT / 'src'}"}
    return subprocess.run(
        [sys.executable, "-m", "porch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


# What the server refuses itself: each answer logged once, with its reason.


def test_refused_requests_are_logged_with_their_reason(tmp_path: Path) -> None:
    app = make_app("native", Recorder())
    settings = logging_to(
        tmp_path,
        limit_request_line=100,
        limit_request_header_size=2000,
        limit_request_body=10,
        timeout_request_header=0.3,
    )
    with serve(app, **settings) as server:
        sent = {
            431: b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * 3000 + b"\r\n\r\n",
            414: b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            400: b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            413: b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
            408: b"GET / HTTP/1.1\r\nHost: a\r\n",  # and then nothing
        }
        for status, request in sent.items():
            with RawClient(server.port) as client:
                client.send(request)
                answer = client.read_until_close()
                assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
    lines = read_lines(tmp_path / "access.log")
    assert len(lines) == len(sent), lines
    for (status, _), line in zip(sent.items(), lines, strict=True):
        assert re.search(rf' - "(-|[A-Z]+ \S+ HTTP/1\.1)" {status} \d+ \d+\.\dms \(.+\)$', line), (
            line
        )
    reasons = [line.rpartition(" (")[2] for line in lines]
    assert reasons[4] == "Request header timeout)"


def test_over_the_concurrency_limit_is_logged(tmp_path: Path) -> None:
    recorder = Recorder()
    app = make_app("native", recorder)
    with (
        serve(app, **logging_to(tmp_path, limit_concurrency=1)) as server,
        recorder.held(server.url),
    ):
        time.sleep(0.2)
        assert httpx.get(server.url + "/fast").status_code == 503
    lines = read_lines(tmp_path / "access.log")
    assert any(
        '"GET /fast HTTP/1.1" 503' in line and line.endswith("(over --limit-concurrency)")
        for line in lines
    ), lines


# Buffered, but soon written, and never torn.


def test_a_line_is_written_within_the_flush_interval(tmp_path: Path) -> None:
    app = make_app("native", Recorder())
    log = tmp_path / "access.log"
    with serve(app, **logging_to(tmp_path)) as server:
        httpx.get(server.url + "/fast")
        answered = time.monotonic()
        while not log.exists() or not log.read_text():
            assert time.monotonic() - answered < 1.0, "not written while the server runs"
            time.sleep(0.01)
        assert len(read_lines(log)) == 1


def test_a_pipe_gets_whole_lines_in_pieces_the_kernel_keeps_whole() -> None:
    read_end, write_end = os.pipe()
    output = LogFile.__new__(LogFile)
    output.path, output.fd, output._pipe = "pipe", write_end, True
    lines = [f"{n:05d} {'x' * (n % 700)}\n".encode() for n in range(400)]
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: Any) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(_read_all(read_end)))
    reader.start()
    original = os.write
    os.write = spy  # type: ignore[assignment]
    try:
        output.write(b"".join(lines))
    finally:
        os.write = original  # type: ignore[assignment]
        os.close(write_end)
    reader.join(10)
    assert bytes(received) == b"".join(lines)
    assert all(len(piece) <= PIPE_BUF and piece.endswith(b"\n") for piece in writes)
    assert len(writes) > 1


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_four_workers_under_load_never_tear_a_line(tmp_path: Path) -> None:
    (tmp_path / "logged_app.py").write_text(APP)
    log = tmp_path / "access.log"
    args = ["run", "logged_app:app", "--workers", "4", "--access-log", str(log)]
    per_thread, threads = 300, 8
    with PorchProcess(args, cwd=tmp_path) as process:
        process.wait_output("serving", count=4, timeout=30)  # every worker takes connections

        def hammer(n: int) -> None:
            with httpx.Client(base_url=process.url) as client:
                for i in range(per_thread):
                    # Lines of many lengths, so that writes of different sizes meet.
                    assert client.get(f"/{n}/{i}?pad={'p' * (i % 97)}").status_code == 200

        workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert process.stop() == 0
    lines = access_lines(log)
    assert len(lines) == per_thread * threads
    assert len({line["worker"] for line in lines}) > 1
    assert sorted(line["target"] for line in lines) == sorted(
        f"/{n}/{i}?pad={'p' * (i % 97)}" for n in range(threads) for i in range(per_thread)
    )


def test_sigusr1_reopens_the_file_and_loses_no_line(tmp_path: Path) -> None:
    (tmp_path / "logged_app.py").write_text(APP)
    log = tmp_path / "access.log"
    rotated = tmp_path / "access.log.1"
    args = ["run", "logged_app:app", "--workers", "2", "--access-log", str(log)]
    with PorchProcess(args, cwd=tmp_path) as process:
        process.wait_ready(timeout=30)
        with httpx.Client(base_url=process.url) as client:
            for i in range(50):
                client.get(f"/before/{i}")
            log.rename(rotated)  # logrotate moves the file...
            for i in range(50):
                client.get(f"/between/{i}")  # ...lines still go to the moved one...
            os.kill(process.proc.pid, signal.SIGUSR1)  # ...until the supervisor is told
            deadline = time.monotonic() + 5
            while not log.exists():
                client.get("/waiting")
                assert time.monotonic() < deadline, "no new file after SIGUSR1"
                time.sleep(0.05)
            time.sleep(0.3)  # both workers have reopened
            for i in range(50):
                client.get(f"/after/{i}")
        assert process.stop() == 0
    old = [line["target"] for line in access_lines(rotated)]
    new = [line["target"] for line in access_lines(log)]
    targets = [t for t in old + new if t != "/waiting"]
    assert sorted(targets) == sorted(
        f"/{when}/{i}" for when in ("before", "between", "after") for i in range(50)
    )
    assert all(t.startswith("/after/") for t in new if t != "/waiting")
    assert "Reopened the access log (SIGUSR1)" in process.output


def test_the_json_format_under_porch_run(tmp_path: Path) -> None:
    (tmp_path / "logged_app.py").write_text(APP)
    args = ["run", "logged_app:app", "--access-log-format", "json"]
    with PorchProcess(args, cwd=tmp_path) as process:
        process.wait_ready()
        httpx.get(process.url + "/seen?q=1", headers={"user-agent": "t/1"})
        assert process.stop() == 0
    (line,) = [line for line in process.output.splitlines() if line.startswith("{")]
    record = json.loads(line)
    assert (record["method"], record["path"], record["query"], record["status"]) == (
        "GET",
        "/seen",
        "q=1",
        200,
    )
    assert (record["user_agent"], record["bytes"], record["worker"]) == ("t/1", 6, process.proc.pid)
