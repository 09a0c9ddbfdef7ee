"""The access log (`porch/server/accesslog.py`): one line per response, nothing when it is off."""

import logging
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.server.apps import INTERFACES, Recorder, make_app
from tests.server.wire import captured_log
from tests.support import PorchProcess, RawClient, serve

LINE = re.compile(
    r"^(?P<client>127\.0\.0\.1:\d+) - "
    r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/(?P<version>1\.[01])" '
    r"(?P<status>\d{3}) (?P<bytes>\d+) (?P<ms>\d+\.\d)ms$"
)


@pytest.fixture(params=INTERFACES)
def app(request: pytest.FixtureRequest) -> object:
    return make_app(request.param, Recorder())


def access_lines(records: list[logging.LogRecord]) -> list[dict[str, str]]:
    lines = []
    for record in records:
        match = LINE.match(record.getMessage())
        assert match is not None, record.getMessage()
        lines.append(match.groupdict())
    return lines


def test_one_line_per_response(app: object) -> None:
    with (
        captured_log("porch.access", logging.INFO) as records,
        serve(app, access_log=True) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        client.get("/info?x=1&y=%20")
        client.head("/")
        client.get("/stream")
        client.post("/echo", content=b"12345678")
        client.get("/error")
    lines = access_lines(records)
    assert [(line["method"], line["target"], line["status"], line["bytes"]) for line in lines] == [
        ("GET", "/info?x=1&y=%20", "200", str(len("GET /info x=1&y=%20"))),
        ("HEAD", "/", "200", "0"),  # bytes of the body sent: none for HEAD
        ("GET", "/stream", "200", "11"),  # the body, not the chunk framing
        ("POST", "/echo", "200", "8"),
        ("GET", "/error", "500", "26"),
    ]
    assert all(line["version"] == "1.1" for line in lines)
    assert len({line["client"] for line in lines}) <= 2  # one connection (a new one after 500)


def test_duration_covers_the_handler(app: object) -> None:
    with (
        captured_log("porch.access", logging.INFO) as records,
        serve(app, access_log=True) as server,
    ):
        httpx.get(server.url + "/slow")
    (line,) = access_lines(records)
    assert 290.0 <= float(line["ms"]) < 5000.0


def test_http_10_and_connection_close(app: object) -> None:
    with (
        captured_log("porch.access", logging.INFO) as records,
        serve(app, access_log=True) as server,
    ):
        with RawClient(server.port) as client:
            client.send(b"GET /fast HTTP/1.0\r\n\r\n")
            client.read_until_close()
        with RawClient(server.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            client.read_until_close()
        deadline = time.monotonic() + 2
        while len(records) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = access_lines(records)
    assert [(line["version"], line["target"], line["status"]) for line in lines] == [
        ("1.0", "/fast", "200"),
        ("1.1", "/", "200"),
    ]


def test_nothing_logged_when_off(app: object) -> None:
    with captured_log("porch.access", logging.DEBUG) as records, serve(app, access_log=False) as s:
        httpx.get(s.url + "/")
        httpx.get(s.url + "/error")
    assert records == []


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
