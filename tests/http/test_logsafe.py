"""Control characters escaped in logged values (porch/http/logsafe.py), and no forged log line
from a request path, for a porch App, an ASGI app and a WSGI app on a real server."""

import textwrap
import time
from pathlib import Path

import pytest

from porch.http.logsafe import log_safe
from tests.support import PorchProcess, RawClient

# Percent-decoded, the path holds CR LF and then a line in porch's own log format.
FORGED = "2026-01-01 00:00:00 [1] ERROR forged"
ATTACK = b"/boom%0d%0a2026-01-01%2000:00:00%20[1]%20ERROR%20forged"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("/plain/path", "/plain/path"),
        ("/caf\u00e9 \u00a0\u200b", "/caf\u00e9 \u00a0\u200b"),  # printable or not, not controls
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("nul\x00esc\x1b[31m", "nul\\x00esc\\x1b[31m"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
        ("lone\udcff", "lone\\udcff"),  # no UTF-8 for it: the log's stream would fail on it
    ],
)
def test_log_safe(text: str, escaped: str) -> None:
    assert log_safe(text) == escaped


def test_log_safe_returns_clean_text_as_is() -> None:
    text = "/teams/42/members?page=2"
    assert log_safe(text) is text


APPS = {
    "native": """
        from porch import App

        app = App(__name__, static_folder=None)

        @app.get("/<name>")
        def boom(name):
            raise RuntimeError("handler failed")
    """,
    "asgi": """
        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                return
            raise RuntimeError("handler failed")
    """,
    "wsgi": """
        def app(environ, start_response):
            raise RuntimeError("handler failed")
    """,
}


@pytest.mark.parametrize("kind", list(APPS))
def test_path_cannot_forge_an_error_log_line(tmp_path: Path, kind: str) -> None:
    (tmp_path / "failing.py").write_text(textwrap.dedent(APPS[kind]))
    args = ["run", "failing:app", "--app-dir", str(tmp_path), "--no-access-log"]
    if kind != "native":
        args += ["--interface", kind]
    with PorchProcess(args, cwd=tmp_path) as porch:
        porch.wait_ready()
        assert porch.port is not None
        with RawClient(porch.port) as client:
            client.send(b"GET " + ATTACK + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            status, _, _ = client.read_response()
        assert status == 500
        porch.wait_output("RuntimeError: handler failed")
        time.sleep(0.1)  # the rest of the traceback
    lines = porch.output.splitlines()
    assert not [line for line in lines if line.startswith(FORGED)]
    assert "/boom\\r\\n" + FORGED in porch.output


STARTUP_FAILS = """
    async def app(scope, receive, send):
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no db\\r\\n%s"})
"""


def test_lifespan_message_cannot_forge_a_log_line(tmp_path: Path) -> None:
    """The application's startup failure message is logged escaped too."""
    (tmp_path / "failing.py").write_text(textwrap.dedent(STARTUP_FAILS % FORGED))
    args = ["run", "failing:app", "--app-dir", str(tmp_path), "--lifespan", "on"]
    with PorchProcess(args, cwd=tmp_path) as porch:
        assert porch.wait_exit() != 0
    assert not [line for line in porch.output.splitlines() if line.startswith(FORGED)]
    assert "no db\\r\\n" + FORGED in porch.output
