"""The debug page (`porch/web/debug.py`): tracebacks with source and locals, to local clients
holding the debug token only, escaped, bounded, secrets masked; and `porch run --debug` end to
end."""

import json
import logging
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from porch.testing import TestClient
from porch.web import App, abort
from porch.web.debug import MASK, TOKEN_ENV, TOKEN_HEADER, UNLOCK_PATH, is_local_client
from tests.support import PorchProcess

TOKEN = "test-debug-token-0123456789"


@pytest.fixture(autouse=True)
def debug_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The token as `porch run --debug` hands it to the application."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN


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
    """A local client that sends the debug token."""
    return client_for(make_app(), headers={TOKEN_HEADER: TOKEN})


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
    client = client_for(make_app(), client=(address, 5000), headers={TOKEN_HEADER: TOKEN})
    for accept in ("text/html", "application/json"):
        response = client.get("/boom", headers={"accept": accept})
        assert response.status_code == 500
        for leak in ("ValueError", "payload", "script", "Traceback", "test_debug"):
            assert leak not in response.text


def test_not_in_production_mode(client_for: Callable[..., TestClient]) -> None:
    response = client_for(make_app(debug=False), headers={TOKEN_HEADER: TOKEN}).get("/boom")
    assert response.status_code == 500
    assert "ValueError" not in response.text
    assert "script" not in response.text


def test_unknown_client_address_is_not_local(client_for: Callable[..., TestClient]) -> None:
    """None: a Unix socket, which a proxy in front may share with the whole Internet."""
    client = client_for(make_app(), client=None, headers={TOKEN_HEADER: TOKEN})
    response = client.get("/boom")
    assert response.status_code == 500
    assert "payload" not in response.text


@pytest.mark.parametrize("header", ["x-forwarded-for", "forwarded", "x-real-ip"])
def test_forwarded_requests_are_not_local(
    client_for: Callable[..., TestClient], header: str
) -> None:
    """Behind a proxy on the same machine every client looks local; a forwarded one is not."""
    client = client_for(make_app(), headers={TOKEN_HEADER: TOKEN})
    response = client.get("/boom", headers={header: "203.0.113.9"})
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


# The lock: being local is not enough (behind a bare proxy_pass every client is local).

LEAKS = ("ValueError", "payload", "script", "Traceback", "test_debug", "count")


def assert_locked(response: httpx.Response) -> None:
    assert response.status_code == 500
    for leak in LEAKS:
        assert leak not in response.text


def test_locked_without_the_token(client_for: Callable[..., TestClient]) -> None:
    # 127.0.0.1, and no forwarding header: as behind a bare proxy_pass.
    client = client_for(make_app())
    page = client.get("/boom?page=2")
    assert_locked(page)
    assert "The debug page is locked" in page.text
    assert f'<form method="post" action="{UNLOCK_PATH}">' in page.text
    assert '<input type="hidden" name="next" value="/boom?page=2">' in page.text
    assert page.headers["cache-control"] == "no-store"
    as_json = client.get("/boom", headers={"accept": "application/json"})
    assert_locked(as_json)
    error = as_json.json()["error"]
    assert error["status"] == 500
    assert "traceback" not in error
    assert f"send the debug token in the {TOKEN_HEADER} header" in error["debug"]


@pytest.mark.parametrize("sent", ["wrong", TOKEN + "x", TOKEN[:-1], ""])
def test_wrong_token_refused(client_for: Callable[..., TestClient], sent: str) -> None:
    client = client_for(make_app())
    assert_locked(client.get("/boom", headers={TOKEN_HEADER: sent}))
    refused = client.post(UNLOCK_PATH, data={"token": sent, "next": "/boom"})
    assert refused.status_code == 403
    assert "That is not the debug token." in refused.text
    assert "set-cookie" not in refused.headers
    assert_locked(client.get("/boom"))


def test_forged_cookie_refused(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app())
    unlocked = client.post(UNLOCK_PATH, data={"token": TOKEN}, follow_redirects=False)
    name = unlocked.headers["set-cookie"].partition("=")[0]
    client.cookies.clear()
    for value in ("1", TOKEN, "0" * 64):
        client.cookies.set(name, value)
        assert_locked(client.get("/boom"))


def test_header_unlocks(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app())
    response = client.get("/boom", headers={TOKEN_HEADER: TOKEN})
    assert "Traceback (most recent call last)" in response.text
    assert TOKEN not in response.text  # the header is masked like any token
    as_json = client.get("/boom", headers={TOKEN_HEADER: TOKEN, "accept": "application/json"})
    assert as_json.json()["error"]["traceback"].startswith("Traceback")


def test_form_unlocks_with_a_cookie(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app())
    assert_locked(client.get("/boom"))
    form = client.get(UNLOCK_PATH, params={"next": "/boom"})  # the form, on its own
    assert form.status_code == 200
    assert 'name="next" value="/boom"' in form.text
    response = client.post(
        UNLOCK_PATH, data={"token": TOKEN, "next": "/boom?page=2"}, follow_redirects=False
    )
    assert response.status_code == 303  # the browser GETs the page: no form posted again
    assert response.headers["location"] == "/boom?page=2"
    cookie = response.headers["set-cookie"]
    assert re.match(r"porch_debug_[0-9a-f]{8}=[0-9a-f]{64}; Path=/; ", cookie)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie
    assert TOKEN not in cookie
    page = client.get("/boom")  # the cookie, kept by the client
    assert "Traceback (most recent call last)" in page.text
    assert "<td>payload</td>" in page.text


def test_cookie_is_secure_on_https(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(), base_url="https://testserver")
    response = client.post(UNLOCK_PATH, data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert "; Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "after",
    [
        "//evil.example/",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "/ok\r\nSet-Cookie: x=1",
        "/\tevil",
        "/caf\u00e9",
        "",
    ],
)
def test_unlock_refuses_off_site_next(client_for: Callable[..., TestClient], after: str) -> None:
    client = client_for(make_app())
    response = client.post(
        UNLOCK_PATH, data={"token": TOKEN, "next": after}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_unlock_path_only_for_local_clients_in_debug_mode(
    client_for: Callable[..., TestClient],
) -> None:
    data = {"token": TOKEN, "next": "/boom"}
    remote = client_for(make_app(), client=("203.0.113.9", 5000))
    forwarded = client_for(make_app(), headers={"x-forwarded-for": "203.0.113.9"})
    production = client_for(make_app(debug=False))
    for client in (remote, forwarded, production):
        response = client.post(UNLOCK_PATH, data=data, follow_redirects=False)
        assert response.status_code == 404
        assert "set-cookie" not in response.headers


def test_unlock_path_comes_before_the_routes(client_for: Callable[..., TestClient]) -> None:
    app = make_app()

    @app.route("/<path:rest>", methods=["GET", "POST"])
    def everything(rest: str) -> str:
        return "caught"

    client = client_for(app)
    response = client.post(UNLOCK_PATH, data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/elsewhere").text == "caught"


def test_unlock_answers_other_methods_405(client_for: Callable[..., TestClient]) -> None:
    response = client_for(make_app()).put(UNLOCK_PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_app_without_a_token_makes_one_and_logs_it_once(
    client_for: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As under uvicorn: no `porch run --debug` handed it a token."""
    monkeypatch.delenv(TOKEN_ENV)
    records = Records()
    error_log = logging.getLogger("porch.error")
    error_log.addHandler(records)
    monkeypatch.setattr(error_log, "level", logging.INFO)
    try:
        client = client_for(make_app())  # started: the token is logged now
        logged = [r for r in records.records if "Debug mode" in r.getMessage()]
        assert len(logged) == 1
        assert logged[0].levelno == logging.WARNING
        found = re.search(r"with the token (\S+) \(", logged[0].getMessage())
        assert found is not None
        token = found.group(1)
        assert len(token) >= 20  # 128 random bits
        assert_locked(client.get("/boom"))
        assert "Traceback" in client.get("/boom", headers={TOKEN_HEADER: token}).text
        assert_locked(client.get("/boom", headers={TOKEN_HEADER: TOKEN}))
        logged = [r for r in records.records if "Debug mode" in r.getMessage()]
        assert len(logged) == 1  # once, not at every error
        other = client_for(make_app())
        assert_locked(other.get("/boom", headers={TOKEN_HEADER: token}))  # a token of its own
    finally:
        error_log.removeHandler(records)


# Masking: what the page shows of headers, form fields, locals and the values inside them.


def masking_app() -> App:
    app = App("tests.web.test_debug", debug=True, static_folder=None)

    @app.route("/masked", methods=["GET", "POST"])
    async def masked(request: Any) -> str:
        if request.method == "POST":
            await request.form()
        session_id = "sess-" + "secret-1"  # in the source, never whole
        settings = {
            "token": "tok-" + "secret-2",
            "name": "visible-name",
            "db": {"passwd": "pw" + "-3"},
        }
        raw_headers = [
            (b"authorization", b"Bearer raw-" + b"secret-4"),
            (b"accept", b"visible/type"),
        ]
        headers = request.headers
        raise RuntimeError(f"{len(session_id)} {len(settings)} {len(raw_headers)} {len(headers)}")

    return app


def test_masks_headers_query_and_locals(client_for: Callable[..., TestClient]) -> None:
    client = client_for(masking_app(), headers={TOKEN_HEADER: TOKEN})
    response = client.get(
        "/masked?access_token=query-secret-5&page=2",
        headers={"X-API-Key": "apikey-secret-0", "X-Session": "header-secret-6"},
    )
    page = response.text
    assert "Traceback (most recent call last)" in page
    for secret in (
        "apikey-secret-0",
        "sess-secret-1",
        "tok-secret-2",
        "pw-3",
        "raw-secret-4",
        "query-secret-5",
        "header-secret-6",
        TOKEN,
    ):
        assert secret not in page, secret
    assert f"<td>x-api-key</td><td>{MASK}</td>" in page
    assert f"<td>session_id</td><td>{MASK}</td>" in page
    assert f"&#x27;token&#x27;: {MASK}" in page
    assert "&#x27;visible-name&#x27;" in page  # the other keys are shown
    assert f"&#x27;passwd&#x27;: {MASK}" in page  # nested too
    assert f"(b&#x27;authorization&#x27;, {MASK})" in page  # and (name, value) pairs
    assert "visible/type" in page
    assert f"access_token={MASK}&amp;page=2" in page
    # A Mapping, not only a dict; and the request's repr, whose target has the query.
    assert "<td>headers</td><td>Headers({&#x27;host&#x27;: &#x27;testserver&#x27;" in page
    assert f"&#x27;x-api-key&#x27;: {MASK}" in page
    assert f"&lt;Request GET &#x27;/masked?access_token={MASK}&amp;page=2&#x27;&gt;" in page


def test_masks_password_form_fields(client_for: Callable[..., TestClient]) -> None:
    client = client_for(masking_app(), headers={TOKEN_HEADER: TOKEN})
    form = {"username": "ann", "password": "form-secret-7", "csrf_token": "form-secret-8"}
    page = client.post("/masked", data=form).text
    assert "<h2>Form</h2>" in page
    assert "<td>username</td><td>&#x27;ann&#x27;</td>" in page
    assert f"<td>password</td><td>{MASK}</td>" in page
    assert f"<td>csrf_token</td><td>{MASK}</td>" in page
    assert "form-secret-7" not in page
    assert "form-secret-8" not in page
    uploaded = client.post("/masked", files={"avatar": ("me.png", b"\x89PNG")}).text
    assert "<td>avatar</td><td>&#x27;me.png&#x27; (image/png, 4 bytes)</td>" in uploaded


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


TOKEN_LINE = re.compile(r"WARNING Debug mode: .* with the token (\S+) \(")


@pytest.mark.parametrize("debug", [True, False])
def test_porch_run_debug(tmp_path: Path, debug: bool) -> None:
    (tmp_path / "boomapp.py").write_text(APP_SOURCE)
    args = ["run", "boomapp:app", "--app-dir", str(tmp_path)]
    if debug:
        args.append("--debug")
    env = {"PORCH_DEBUG": "", TOKEN_ENV: ""}
    with PorchProcess(args, cwd=tmp_path, env=env) as porch:
        porch.wait_ready()
        tokens = TOKEN_LINE.findall(porch.output)
        with httpx.Client(base_url=porch.url, timeout=10) as client:
            locked = client.get("/boom")
            token = {TOKEN_HEADER: tokens[0] if tokens else "none"}
            page = client.get("/boom", headers=token)
            as_json = client.get("/boom", headers={"accept": "application/json", **token})
    assert locked.status_code == page.status_code == as_json.status_code == 500
    # Without the token, nothing of the failure is shown, debug mode or not.
    for leak in ("debug-marker", "marker_variable", "leaked", "boomapp", "Traceback"):
        assert leak not in locked.text
    if debug:
        assert len(tokens) == 1  # one line on the console, with the token
        assert "debug page is locked" in locked.text
        assert "debug-marker" in page.text
        assert "<td>marker_variable</td>" in page.text
        assert "&lt;script&gt;leaked()&lt;/script&gt;" in page.text
        assert "<script>" not in page.text
        assert "boomapp.py" in json.loads(as_json.text)["error"]["traceback"]
    else:
        assert tokens == []
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
