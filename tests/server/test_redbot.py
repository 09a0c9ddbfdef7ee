"""REDbot (redbot.org's HTTP linter) finds nothing BAD in what `porch serve` answers.

REDbot runs offline against 127.0.0.1 (`enable_local_access`, as its own CLI sets). Besides
the request it is given, it probes the resource itself: If-None-Match and If-Modified-Since,
a Range request, and gzip negotiation. Its CLI cannot send request headers, so a few lines of
its Python API (the same calls as `redbot.cli`) run in a subprocess, which prints the HAR
report; each note there has a level: good, info, warn or bad.
"""

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import PorchProcess

REDBOT = r"""
import json, sys
from configparser import ConfigParser
import thor
from redbot.formatter import find_formatter
from redbot.resource import HttpResource

url, method, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
parser = ConfigParser()
parser.read_dict({"redbot": {"enable_local_access": "True"}})
config = parser["redbot"]
resource = HttpResource(config)
resource.set_request(url, method=method, headers=[tuple(h) for h in headers])
out = []
formatter = find_formatter("har", "text", False)(
    config, resource, out.append, {"tty_out": False, "descend": False}
)
formatter.bind_resource(resource)

@thor.events.on(formatter)
def formatter_done():
    thor.stop()

resource.check()
thor.run()
sys.stdout.write("".join(out))
"""

OLD = time.time() - 86400
TEXT = b"".join(
    b"line %06d: the quick brown fox jumps over the lazy dog\n" % i for i in range(3600)
)


@pytest.fixture(scope="module")
def porch_serve(tmp_path_factory):
    root = tmp_path_factory.mktemp("redbot")
    (root / "index.html").write_bytes(
        b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>REDbot</title>'
        b'<link rel="stylesheet" href="style.css"></head><body>'
        + b"<p>Porch serves this page to REDbot.</p>\n" * 20
        + b"</body></html>\n"
    )
    (root / "style.css").write_bytes(b"body { color: #333; margin: 2em }\n" * 20)
    assert len(TEXT) > 200_000
    (root / "big.txt").write_bytes(TEXT)
    (root / "big.txt.gz").write_bytes(gzip.compress(TEXT))
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_bytes(b"a\n")
    for path in root.rglob("*"):
        os.utime(path, (OLD, OLD))
    with PorchProcess(["serve", str(root), "--list"]) as proc:
        proc.wait_ready()
        yield proc


def redbot(url: str, method: str = "GET", headers: list[tuple[str, str]] | None = None):
    """REDbot's notes on one request (and its own probes): [(level, id, summary)], response."""
    result = subprocess.run(
        [sys.executable, "-c", REDBOT, url, method, json.dumps(headers or [])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    har = json.loads(result.stdout)
    assert "_red_error" not in har["log"], har["log"]["_red_error"]
    entry = har["log"]["entries"][0]
    notes = []

    def collect(messages):
        for note in messages:
            notes.append((note["level"].lower(), note["note_id"], note["summary"]))
            collect(note.get("subnotes", []))

    collect(entry["_red_messages"])
    return notes, entry["response"]


def assert_nothing_bad(notes, response) -> None:
    report = "\n".join(f"{level:5} {note_id}: {summary}" for level, note_id, summary in notes)
    assert notes, "REDbot made no notes at all"
    assert not [n for n in notes if n[0] == "bad"], f"status {response['status']}:\n{report}"


def ids(notes) -> set[str]:
    return {note_id for _, note_id, _ in notes}


def header(response, name: str) -> str | None:
    """A response header from the HAR entry (values there keep their leading space)."""
    for field in response["headers"]:
        if field["name"].lower() == name:
            return field["value"].strip()
    return None


@pytest.mark.parametrize("path", ["/", "/style.css", "/big.txt"])
def test_plain_get(porch_serve, path: str) -> None:
    notes, response = redbot(porch_serve.url + path)
    assert response["status"] == 200
    assert_nothing_bad(notes, response)
    # REDbot's own probes found validation and ranges working.
    assert {"INM_304", "IMS_304", "CL_CORRECT", "DATE_CORRECT"} <= ids(notes)
    assert ids(notes) & {"RANGE_CORRECT", "RANGE_CL_FULL"}


def test_gzip_negotiation(porch_serve) -> None:
    notes, response = redbot(porch_serve.url + "/big.txt")
    assert "CONNEG_GZIP_GOOD" in ids(notes)
    notes, response = redbot(porch_serve.url + "/big.txt", headers=[("Accept-Encoding", "gzip")])
    assert response["status"] == 200
    assert header(response, "content-encoding") == "gzip"
    assert header(response, "vary") == "accept-encoding"
    assert_nothing_bad(notes, response)
    assert "RANGE_CORRECT" in ids(notes)  # ranges of the gzip representation


def test_conditional_request(porch_serve) -> None:
    _, response = redbot(porch_serve.url + "/big.txt")
    etag = header(response, "etag")
    notes, response = redbot(porch_serve.url + "/big.txt", headers=[("If-None-Match", etag)])
    assert response["status"] == 304
    assert_nothing_bad(notes, response)
    since = header(response, "last-modified")
    notes, response = redbot(porch_serve.url + "/style.css", headers=[("If-Modified-Since", since)])
    assert response["status"] == 304
    assert_nothing_bad(notes, response)


def test_range_request(porch_serve) -> None:
    notes, response = redbot(porch_serve.url + "/big.txt", headers=[("Range", "bytes=100-1099")])
    assert response["status"] == 206
    assert response["bodySize"] == 1000
    assert_nothing_bad(notes, response)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("HEAD", "/big.txt", 200),
        ("GET", "/docs", 301),
        ("GET", "/docs/", 200),
        ("GET", "/nope", 404),
    ],
)
def test_other_answers(porch_serve, method: str, path: str, status: int) -> None:
    notes, response = redbot(porch_serve.url + path, method=method)
    assert response["status"] == status
    assert_nothing_bad(notes, response)


def test_the_helper_sees_bad_notes(tmp_path: Path) -> None:
    """The check can fail: a response REDbot calls BAD (a wrong Content-Length) is caught."""
    server = tmp_path / "bad_server.py"
    server.write_text(
        "import socket, sys\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)\n"
        "print(s.getsockname()[1], flush=True)\n"
        "while True:\n"
        "    c, _ = s.accept(); c.recv(65536)\n"
        "    c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n'\n"
        "              b'Content-Length: 3\\r\\nConnection: close\\r\\n\\r\\nabcdef'); c.close()\n"
    )
    proc = subprocess.Popen([sys.executable, str(server)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        notes, response = redbot(f"http://127.0.0.1:{port}/")
        with pytest.raises(AssertionError):
            assert_nothing_bad(notes, response)
    finally:
        proc.kill()
        proc.wait()
