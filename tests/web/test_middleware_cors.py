"""CORSMiddleware (`porch/web/middleware/cors.py`), on both paths and over a real socket."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from porch.testing import TestClient
from porch.web import App, PlainTextResponse
from porch.web.middleware import CORSMiddleware, GZipMiddleware
from tests.support import serve

SITE = "https://app.example.com"
OTHER = "https://evil.example.net"


def make_app(**options: Any) -> App:
    app = App("tests.web.test_middleware_cors", static_folder=None)
    app.add_middleware(CORSMiddleware, **options)
    app.state.calls = 0

    @app.route("/items", methods=["GET", "POST", "DELETE"])
    def items() -> Any:
        app.state.calls += 1
        return PlainTextResponse("items", headers={"x-total": "3"})

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("kaput")

    @app.get("/own")
    def own() -> Any:
        return PlainTextResponse(
            "own", headers={"access-control-allow-origin": "https://own.example"}
        )

    return app


def preflight(
    client: TestClient,
    origin: str = SITE,
    method: str = "POST",
    headers: str | None = None,
    **extra: str,
) -> httpx.Response:
    request_headers = {"origin": origin, "access-control-request-method": method, **extra}
    if headers is not None:
        request_headers["access-control-request-headers"] = headers
    return client.options("/items", headers=request_headers)


@pytest.fixture
def listed(client_for: Callable[..., TestClient]) -> TestClient:
    """Two origins allowed, with credentials, a few methods and headers."""
    return client_for(
        make_app(
            allow_origins=[SITE, "https://other.example.com"],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-Token"],
            allow_credentials=True,
            expose_headers=["X-Total"],
            max_age=1234,
        )
    )


# Actual (simple) requests.


def test_allowed_origin_echoed(listed: TestClient) -> None:
    response = listed.get("/items", headers={"origin": SITE})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-expose-headers"] == "X-Total"
    assert response.headers["vary"] == "Origin"
    assert response.text == "items"


def test_disallowed_origin_gets_no_cors_fields(listed: TestClient) -> None:
    response = listed.get("/items", headers={"origin": OTHER})
    assert response.status_code == 200  # the browser, not the server, withholds it
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_no_origin_still_varies(listed: TestClient) -> None:
    response = listed.get("/items")
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_origin_compared_without_case(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=["https://App.Example.com"]))
    response = client.get("/items", headers={"origin": SITE})
    assert response.headers["access-control-allow-origin"] == SITE


@pytest.mark.parametrize("url", ["/nowhere", "/boom"])
def test_error_responses_carry_cors_fields(listed: TestClient, url: str) -> None:
    response = listed.get(url, headers={"origin": SITE})
    assert response.status_code in (404, 500)
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-credentials"] == "true"


def test_method_not_allowed_carries_cors_fields(listed: TestClient) -> None:
    response = listed.put("/items", headers={"origin": SITE})
    assert response.status_code == 405
    assert response.headers["access-control-allow-origin"] == SITE


def test_application_s_own_answer_kept(listed: TestClient) -> None:
    response = listed.get("/own", headers={"origin": SITE})
    assert response.headers.get_list("access-control-allow-origin") == ["https://own.example"]
    assert response.headers["vary"] == "Origin"


def test_options_without_request_method_is_an_actual_request(listed: TestClient) -> None:
    response = listed.options("/items", headers={"origin": SITE})
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, POST"
    assert response.headers["access-control-allow-origin"] == SITE


# "*".


def test_any_origin_without_credentials_is_star(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=["*"], expose_headers=["X-Total"]))
    for headers in ({"origin": SITE}, {"origin": "null"}, {}):
        response = client.get("/items", headers=headers)
        assert response.headers["access-control-allow-origin"] == "*"
        assert response.headers["access-control-expose-headers"] == "X-Total"
        assert "vary" not in response.headers  # the same answer for every origin
        assert "access-control-allow-credentials" not in response.headers


def test_any_origin_with_credentials_echoes(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=["*"], allow_credentials=True))
    response = client.get("/items", headers={"origin": OTHER})
    assert response.headers["access-control-allow-origin"] == OTHER
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    answer = preflight(client, origin=OTHER, method="GET")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == OTHER


def test_null_origin_with_credentials_only_when_named(
    client_for: Callable[..., TestClient],
) -> None:
    wildcard = client_for(make_app(allow_origins=["*"], allow_credentials=True))
    assert (
        "access-control-allow-origin"
        not in wildcard.get("/items", headers={"origin": "null"}).headers
    )
    assert preflight(wildcard, origin="null", method="GET").status_code == 400
    named = client_for(make_app(allow_origins=["null"], allow_credentials=True))
    response = named.get("/items", headers={"origin": "null"})
    assert response.headers["access-control-allow-origin"] == "null"


def test_origin_regex(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origin_regex=r"https://[a-z]+\.example\.org"))
    allowed = client.get("/items", headers={"origin": "https://shop.example.org"})
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example.org"
    for origin in (
        "https://example.org.evil.net",
        "http://shop.example.org",
        "https://a.b.example.org",
    ):
        response = client.get("/items", headers={"origin": origin})
        assert "access-control-allow-origin" not in response.headers, origin


# Preflights.


def test_preflight_allowed(listed: TestClient) -> None:
    response = preflight(listed, headers="X-Token, content-type")
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-token", "content-type", "accept"} <= allowed
    assert response.headers["access-control-max-age"] == "1234"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"
    assert "access-control-expose-headers" not in response.headers  # for actual responses only
    assert listed.app.state.calls == 0  # answered before the application


@pytest.mark.parametrize(
    ("origin", "method", "headers", "words"),
    [
        (OTHER, "POST", None, ["origin"]),
        (SITE, "DELETE", None, ["method DELETE"]),
        (SITE, "POST", "X-Token, X-Secret", ["headers x-secret"]),
        (OTHER, "PUT", "x-a", ["origin", "method PUT", "headers x-a"]),
    ],
)
def test_preflight_refused(
    listed: TestClient, origin: str, method: str, headers: str | None, words: list[str]
) -> None:
    response = preflight(listed, origin=origin, method=method, headers=headers)
    assert response.status_code == 400
    assert response.text.startswith("Disallowed CORS ")
    for word in words:
        assert word in response.text
    assert "access-control-allow-origin" not in response.headers
    assert listed.app.state.calls == 0


@pytest.mark.parametrize(
    ("method", "headers"), [("GET POST", None), ("GET", "x-a, bad header"), ("", None)]
)
def test_preflight_malformed(listed: TestClient, method: str, headers: str | None) -> None:
    response = preflight(listed, method=method, headers=headers)
    assert response.status_code == 400
    assert "Invalid CORS preflight" in response.text


def test_preflight_any_method_and_header(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=[SITE], allow_methods=["*"], allow_headers=["*"]))
    response = preflight(client, method="PURGE", headers="x-custom, x-other")
    assert response.status_code == 200
    assert response.headers["access-control-allow-methods"] == "PURGE"
    assert response.headers["access-control-allow-headers"] == "x-custom, x-other"


def test_preflight_public(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=["*"]))
    response = preflight(client, method="GET")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "vary" not in response.headers
    assert preflight(client, method="POST").status_code == 400  # only GET by default


def test_safelisted_headers_always_allowed(client_for: Callable[..., TestClient]) -> None:
    client = client_for(make_app(allow_origins=[SITE], allow_methods=["POST"]))
    response = preflight(client, headers="Content-Type, Accept, Accept-Language, Content-Language")
    assert response.status_code == 200


def test_private_network(client_for: Callable[..., TestClient]) -> None:
    ask = {"access-control-request-private-network": "true"}
    closed = client_for(make_app(allow_origins=[SITE], allow_methods=["POST"]))
    refused = preflight(closed, **ask)
    assert refused.status_code == 400
    assert "private network" in refused.text
    opened = client_for(
        make_app(allow_origins=[SITE], allow_methods=["POST"], allow_private_network=True)
    )
    allowed = preflight(opened, **ask)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-private-network"] == "true"


# With GZip: the two Vary members side by side.


def test_with_gzip(client_for: Callable[..., TestClient]) -> None:
    app = App("tests.web.test_middleware_cors", static_folder=None)

    @app.get("/long")
    def long() -> str:
        return "<p>long</p>" * 200

    app.add_middleware(GZipMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=[SITE])
    client = client_for(app)
    response = client.get("/long", headers={"origin": SITE, "accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers.get_list("vary") == ["Accept-Encoding", "Origin"]


# Configuration errors are clear, and early.


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"allow_origins": ["https://example.com/"]}, "no path or trailing slash"),
        ({"allow_origins": ["example.com"]}, "is not an origin"),
        ({"allow_origins": "https://example.com"}, "not one string"),
        ({"allow_headers": ["x bad"]}, "not a valid name"),
        ({"allow_methods": ["GET;"]}, "not a valid name"),
        ({"max_age": -1}, "negative"),
    ],
)
def test_bad_configuration(options: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        CORSMiddleware(**options)


# A real socket.


def test_over_a_socket() -> None:
    app = make_app(allow_origins=[SITE], allow_methods=["GET", "DELETE"], allow_headers=["x-token"])
    with serve(app) as server, httpx.Client(base_url=server.url) as client:
        answer = client.options(
            "/items",
            headers={
                "origin": SITE,
                "access-control-request-method": "DELETE",
                "access-control-request-headers": "x-token",
            },
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-methods"] == "DELETE, GET"
        actual = client.delete("/items", headers={"origin": SITE, "x-token": "t"})
        assert actual.status_code == 200
        assert actual.headers["access-control-allow-origin"] == SITE
        refused = client.options(
            "/items", headers={"origin": OTHER, "access-control-request-method": "GET"}
        )
        assert refused.status_code == 400
        assert refused.text == "Disallowed CORS origin"
