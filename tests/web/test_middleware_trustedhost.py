"""TrustedHostMiddleware (`porch/web/middleware/trustedhost.py`), on both paths and sockets."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from porch.http.headers import is_host
from porch.testing import TestClient
from porch.web import App
from porch.web.middleware import TrustedHostMiddleware
from porch.web.middleware.trustedhost import host_name
from tests.support import RawClient, serve


def make_app(**options: Any) -> App:
    app = App("tests.web.test_middleware_trustedhost", static_folder=None)
    app.add_middleware(TrustedHostMiddleware, **options)
    app.state.calls = 0

    @app.get("/where")
    def where(request: Any) -> str:
        app.state.calls += 1
        return request.host

    return app


@pytest.fixture
def client(client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(
        make_app(allowed_hosts=["example.com", "*.example.org", "[::1]", "127.0.0.1"])
    )


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "example.com:8443",
        "example.com.",
        "api.example.org",
        "a.b.example.org:80",
        "[::1]:8000",
        "127.0.0.1:5000",
    ],
)
def test_allowed(client: TestClient, host: str) -> None:
    response = client.get("/where", headers={"host": host})
    assert response.status_code == 200
    assert response.text == host


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "example.com.evil.com",
        "notexample.com",
        "example.org",  # '*.example.org' is its subdomains only
        "evilexample.org",
        "www.example.com",
        "[::2]",
        "127.0.0.2",
        ":80",
        # Userinfo: a prefix names an allowed host, but a URL built from it goes elsewhere.
        "example.com:@evil.example",
        "example.com:443@evil.example",
        "example.com@evil.example",
        "a.example.org:@evil.example",
        "[::1]:@evil.example",
        "127.0.0.1:@evil.example",
        # Not a Host value at all, whatever its first name says.
        "example.com:80:80",
        "example.com:8o",
        "example.com/evil.example",
        "example.com\\evil.example",
        "[::1",
        "[::1]x",
        "example.com:99999",
        # Percent-encoded names are no DNS names: never an allowed name or subdomain.
        "ex%61mple.com",
        "x%2fevil.example%23.example.org",
    ],
)
def test_refused(client: TestClient, host: str) -> None:
    response = client.get("/where", headers={"host": host})
    assert response.status_code == 400
    assert client.app.state.calls == 0
    if client.path == "native" and not is_host(host.encode()):
        # Not a Host value at all: porch's server (the test client's native path) refuses it
        # before the application; under another server, the App itself does.
        assert response.text == "400 Invalid Host header\n"
        return
    assert "Invalid host header" in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_refusal_as_json(client: TestClient) -> None:
    response = client.get("/where", headers={"host": "evil.com", "accept": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": {"status": 400, "detail": "Invalid host header"}}


def test_anything_by_default(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app())
    assert client.get("/where", headers={"host": "whatever.invalid"}).status_code == 200


def test_www_redirect(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allowed_hosts=["www.example.com"]))
    response = client.get(
        "/where/x?q=1&r=%20", headers={"host": "example.com:8080"}, follow_redirects=False
    )
    assert response.status_code == 307
    assert response.headers["location"] == "http://www.example.com:8080/where/x?q=1&r=%20"
    assert client.app.state.calls == 0
    assert client.get("/where", headers={"host": "www.example.com"}).status_code == 200
    # Only for the bare name of an allowed www. host.
    assert client.get("/where", headers={"host": "other.com"}).status_code == 400


def test_www_redirect_off(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allowed_hosts=["www.example.com"], www_redirect=False))
    response = client.get("/where", headers={"host": "example.com"}, follow_redirects=False)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"Example.COM", "example.com"),
        (b"example.com:8000", "example.com"),
        (b"example.com.", "example.com"),
        (b"[::1]:80", "[::1]"),
        (b"[::1]", "[::1]"),
        (b"10.0.0.1:1", "10.0.0.1"),
        (b"example.com:", "example.com"),
        (b"example.com:@evil.example", None),
        (b"example.com:443@evil.example", None),
        (b"example.com evil", None),
    ],
)
def test_host_name(value: bytes, name: str | None) -> None:
    assert host_name(value) == name


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        (["exa*mple.com"], "stands alone"),
        (["*.*.example.com"], "a wildcard is"),
        (["*."], "a wildcard is"),
        (["example.com:8000"], "without a port"),
        (["user@example.com"], "not a host name"),
        (["bücher.example"], "xn--"),
        ("example.com", "not one string"),
    ],
)
def test_bad_patterns(hosts: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        TrustedHostMiddleware(allowed_hosts=hosts)


def test_over_a_socket() -> None:
    with serve(make_app(allowed_hosts=["porch.test", "127.0.0.1"])) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/where").status_code == 200  # Host: 127.0.0.1:PORT
            assert client.get("/where", headers={"host": "porch.test"}).text == "porch.test"
            refused = client.get("/where", headers={"host": "attacker.test"})
            assert refused.status_code == 400
        # HTTP/1.0 may leave Host out: nothing to check it against, so it is refused.
        with RawClient(server.port) as raw:
            raw.send(b"GET /where HTTP/1.0\r\nAccept: application/json\r\n\r\n")
            status, _, body = raw.read_response()
        assert status == 400
        assert json.loads(body)["error"]["detail"] == "Invalid host header: the request has none"
        with RawClient(server.port) as raw:
            raw.send(b"GET /where HTTP/1.0\r\nHost: porch.test\r\n\r\n")
            status, _, body = raw.read_response()
        assert (status, body) == (200, b"porch.test")


def test_missing_host_allowed_by_star() -> None:
    with serve(make_app()) as server, RawClient(server.port) as raw:
        raw.send(b"GET /where HTTP/1.0\r\n\r\n")
        status, _, _ = raw.read_response()
    assert status == 200


@pytest.mark.parametrize("host", ["example.com:@evil.example", "example.com:443@evil.example"])
def test_invalid_host_refused_without_the_middleware(host: str) -> None:
    # Under uvicorn & co. nothing checks Host before the App: its ASGI face refuses a bad one
    # (porch's server does so before the App on the native path), so base_url is never poisoned.
    app = App("tests.web.test_middleware_trustedhost", static_folder=None)

    @app.get("/base")
    def base(request: Any) -> str:
        return request.base_url

    with TestClient(app, path="asgi") as client:
        response = client.get("/base", headers={"host": host})
        assert response.status_code == 400
        assert "Invalid host header" in response.text
        assert "evil" not in response.text
        assert client.get("/base", headers={"host": "example.com"}).text == "http://example.com/"
    with serve(app) as server, RawClient(server.port) as raw:
        raw.send(b"GET /base HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
        status, _, body = raw.read_response()
    assert status == 400
    assert b"evil" not in body
