"""The debug page (`porch/web/debug.py`): tracebacks with source and locals, to local clients
only, escaped, bounded; and `porch run --debug` end to end."""

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.testing import TestClient
from porch.web import App, abort
from porch.web.debug import MASK, is_local_client
from tests.support import PorchProcess

SCRIPT = "<script>alert('owned')</script>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class BrokenMessage(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message either")


def make_app(debug: bool = True) -> App:
    app = App("tests.web.test_debug", debug=debug, static_folder=None)

    @app.get("/boom")
    def boom() -> str:
        payload = SCRIPT
        count = 42
        raise ValueError(f"bad <b>input</b> {count}: {payload}")

    @app.get("/chained")
    def chained() -> str:
        try:
            {}["missing-key"]
        except KeyError as exc:
            raise LookupError("wrapped on purpose") from exc
        return "unreachable"

    @app.get("/context")
    def context() -> str:
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            raise OSError("while handling")  # noqa: B904 - the implicit context is the point
        return "unreachable"

    @app.get("/suppressed")
    def suppressed() -> str:
        try:
            int("not a number")
        except ValueError:
            raise TypeError("the only one shown") from None
        return "unreachable"

    @app.get("/secrets")
    def secrets(request: Any) -> str:
        password = request.headers["x-password"]  # masked in the headers table too
        api_key = "sk-" + "live-123456"
        raise PermissionError(f"{len(password) + len(api_key)} chars")

    @app.get("/broken")
    def broken() -> str:
        thing = BrokenRepr()
        raise BrokenMessage(thing)

    @app.get("/surrogate")
    def surrogate() -> str:
        name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # as os.listdir gives it
        raise FileNotFoundError(name)

    @app.get("/huge")
    def huge() -> str:
        blob = "x" * 5_000_000
        items = list(range(1_000_000))
        raise MemoryError(f"{len(blob)} {len(items)}")

    @app.get("/deep")
    def deep() -> str:
        def recurse(n: int) -> int:
            return recurse(n + 1) + 1

        return str(recurse(0))

    return app


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(make_app())


def test_traceback_page(client: TestClient) -> None:
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert "<h1>ValueError: bad &lt;b&gt;input&lt;/b&gt; 42:" in page
    # The source around the line, and the frame's locals, all escaped.
    assert "raise ValueError(f&quot;bad &lt;b&gt;input&lt;/b&gt; {count}: {payload}&quot;)" in page
    assert (
        "<td>payload</td><td>&quot;&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;&quot;</td>"
        in page
    )
    assert "<td>count</td><td>42</td>" in page
    assert "<script" not in page
    assert "test_debug.py" in page
    assert "GET http://testserver/boom" in page
    assert "Traceback (most recent call last)" in page


def test_application_frames_open_library_frames_folded(client: TestClient) -> None:
    page = client.get("/boom").text
    assert '<details class="frame" open><summary>' + __file__ in page
    assert '<details class="frame library"><summary>' in page  # porch's own dispatch


def test_explicit_cause(client: TestClient) -> None:
    page = client.get("/chained").text
    first = page.index("<h2>KeyError: &#x27;missing-key&#x27;</h2>")
    link = page.index("The above exception was the direct cause of the following exception:")
    last = page.index("<h2>LookupError: wrapped on purpose</h2>")
    assert first < link < last


def test_implicit_context(client: TestClient) -> None:
    page = client.get("/context").text
    first = page.index("<h2>ZeroDivisionError: division by zero</h2>")
    link = page.index("During handling of the above exception, another exception occurred:")
    last = page.index("<h2>OSError: while handling</h2>")
    assert first < link < last


def test_suppressed_context_not_shown(client: TestClient) -> None:
    page = client.get("/suppressed").text
    assert "<h2>TypeError: the only one shown</h2>" in page
    assert "<h2>ValueError" not in page
    assert "During handling" not in page


def test_secrets_masked(client: TestClient) -> None:
    response = client.get(
        "/secrets",
        headers={
            "cookie": "session=cookie-value-xyz",
            "authorization": "Bearer tok-abc",
            "x-password": "hunter2-password",
        },
    )
    page = response.text
    for secret in ("hunter2-password", "sk-live-123456", "cookie-value-xyz", "tok-abc"):
        assert secret not in page
    assert f"<td>password</td><td>{MASK}</td>" in page
    assert f"<td>cookie</td><td>{MASK}</td>" in page
    assert "<td>user-agent</td>" in page  # other headers shown


def test_broken_repr_and_message(client: TestClient) -> None:
    response = client.get("/broken")
    assert response.status_code == 500
    page = response.text
    assert "&lt;unprintable: RuntimeError&gt;" in page
    assert "BrokenMessage" in page


def test_huge_locals_bounded(client: TestClient) -> None:
    response = client.get("/huge")
    assert response.status_code == 500
    assert "<td>blob</td>" in response.text
    assert len(response.content) < 100_000


def test_deep_recursion_bounded(client: TestClient) -> None:
    response = client.get("/deep")
    assert response.status_code == 500
    page = response.text
    assert "RecursionError" in page
    assert "frames not shown" in page
    assert page.count('<details class="frame') == 50
    assert len(response.content) < 500_000


def test_json_clients_get_the_traceback_as_text(client: TestClient) -> None:
    response = client.get("/boom", headers={"accept": "application/json"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == 500
    assert error["detail"].startswith("ValueError: bad <b>input</b> 42")
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert 'raise ValueError(f"bad <b>input</b> {count}: {payload}")' in error["traceback"]


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_undecodable_text(client: TestClient, accept: str) -> None:
    response = client.get("/surrogate", headers={"accept": accept})
    assert response.status_code == 500
    assert "FileNotFoundError: caf?.txt" in response.text


def test_page_that_fails_falls_back_to_text(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(exc: BaseException) -> str:
        raise RuntimeError("page bug")

    monkeypatch.setattr("porch.web.debug._exception_section", broken)
    response = client.get("/boom")
    assert response.status_code == 500
    assert "The full debug page failed: RuntimeError: page bug" in response.text
    assert "Traceback (most recent call last)" in response.text
    assert "&lt;script&gt;" in response.text
    assert "<script>" not in response.text


@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.7", "192.168.1.2", "2001:db8::1"])
def test_never_shown_to_other_machines(client_for: Callable[..., TestClient], address: str) -> None:
    client = client_for(make_app(), client=(address, 5000))
    for accept in ("text/html", "application/json"):
        response = client.get("/boom", headers={"accept": accept})
        assert response.status_code == 500
        for leak in ("ValueError", "payload", "script", "Traceback", "test_debug"):
            assert leak not in response.text


def test_not_in_production_mode(client_for: Callable[..., TestClient]) -> None:
    response = client_for(make_app(debug=False)).get("/boom")
    assert response.status_code == 500
    assert "ValueError" not in response.text
    assert "script" not in response.text


def test_unknown_client_address_is_not_local(client_for: Callable[..., TestClient]) -> None:
    """None: a Unix socket, which a proxy in front may share with the whole Internet."""
    client = client_for(make_app(), client=None)
    response = client.get("/boom")
    assert response.status_code == 500
    assert "payload" not in response.text


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded", "x-real-ip"])
def test_forwarded_requests_are_not_local(
    client_for: Callable[..., TestClient], header: str
) -> None:
    """Behind a proxy on the same machine every client looks local; a forwarded one is not."""
    response = client_for(make_app()).get("/boom", headers={header: "203.0.113.9"})
    assert response.status_code == 500
    assert "payload" not in response.text


@pytest.mark.parametrize(
    ("client", "local"),
    [
        (("127.0.0.1", 1), True),
        (("127.1.2.3", 1), True),
        (("::1", 1), True),
        (("::ffff:127.0.0.1", 1), True),
        (("fe80::1%eth0", 1), False),
        (("203.0.113.9", 1), False),
        (("::ffff:203.0.113.9", 1), False),
        (("localhost", 1), False),  # a name, not an address: nothing vouches for it
        (("", 0), False),
        (None, False),
    ],
)
def test_is_local_client(client: tuple[str, int] | None, local: bool) -> None:
    assert is_local_client(client) is local


# `porch run --debug`, a real process on a real socket.

APP_SOURCE = textwrap.dedent(
    """
    from porch import App

    app = App(__name__)

    @app.get("/boom")
    def boom():
        marker_variable = "<script>leaked()</script>"
        raise ValueError("debug-marker " + marker_variable)
    """
)


@pytest.mark.parametrize("debug", [True, False])
def test_porch_run_debug(tmp_path: Path, debug: bool) -> None:
    (tmp_path / "boomapp.py").write_text(APP_SOURCE)
    args = ["run", "boomapp:app", "--app-dir", str(tmp_path)]
    if debug:
        args.append("--debug")
    with PorchProcess(args, cwd=tmp_path, env={"PORCH_DEBUG": ""}) as porch:
        porch.wait_ready()
        with httpx.Client(base_url=porch.url, timeout=10) as client:
            page = client.get("/boom")
            as_json = client.get("/boom", headers={"accept": "application/json"})
    assert page.status_code == as_json.status_code == 500
    if debug:
        assert "debug-marker" in page.text
        assert "<td>marker_variable</td>" in page.text
        assert "&lt;script&gt;leaked()&lt;/script&gt;" in page.text
        assert "<script>" not in page.text
        assert "boomapp.py" in json.loads(as_json.text)["error"]["traceback"]
    else:
        for leak in ("debug-marker", "marker_variable", "leaked", "boomapp", "Traceback"):
            assert leak not in page.text
            assert leak not in as_json.text
        assert as_json.json() == {"error": {"status": 500, "detail": "Internal Server Error"}}
    # The server log has the traceback either way.
    assert "ValueError: debug-marker" in porch.output


# The generic error pages share the debug page's hazard of undecodable text.


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_error_page_with_undecodable_detail(
    client_for: Callable[..., TestClient], accept: str
) -> None:
    app = App("tests.web.test_debug", static_folder=None)

    @app.get("/file")
    def file() -> str:
        abort(404, "no file " + b"caf\xe9".decode("utf-8", "surrogateescape"))

    response = client_for(app).get("/file", headers={"accept": accept})
    assert response.status_code == 404
    assert "no file caf" in response.text
