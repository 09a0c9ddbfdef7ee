"""Proxy headers (`porch/server/proxy.py`): client and scheme from trusted proxies only."""

from typing import Any

import httpx
import pytest

from porch.http.native import RequestHead, Response
from porch.server.proxy import ProxyHeaders
from tests.support import serve


def apply(
    trusted: str, headers: list[tuple[bytes, bytes]], peer: str | None = "127.0.0.1"
) -> RequestHead:
    head = RequestHead("GET", b"/", b"/", b"", headers, client=(peer, 1234) if peer else None)
    ProxyHeaders(trusted).apply(head)
    return head


def test_trusted_peer_x_forwarded() -> None:
    head = apply(
        "127.0.0.1", [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    )
    assert head.client == ("203.0.113.7", 0)
    assert head.scheme == "https"


def test_untrusted_peer_is_ignored() -> None:
    head = apply(
        "10.0.0.1",
        [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")],
        peer="192.0.2.1",
    )
    assert head.client == ("192.0.2.1", 1234)
    assert head.scheme == "http"


def test_chain_stops_at_the_first_untrusted_hop() -> None:
    # The client wrote "1.1.1.1" itself; the first proxy saw 198.51.100.9; 10.0.0.2 is ours.
    head = apply(
        "127.0.0.1, 10.0.0.0/8",
        [(b"x-forwarded-for", b"1.1.1.1, 198.51.100.9, 10.0.0.2")],
    )
    assert head.client == ("198.51.100.9", 0)


def test_all_hops_trusted_gives_the_leftmost() -> None:
    head = apply("127.0.0.1,10.0.0.0/8", [(b"x-forwarded-for", b"10.1.1.1, 10.0.0.2")])
    assert head.client == ("10.1.1.1", 0)


def test_repeated_x_forwarded_for_lines_form_one_list() -> None:
    head = apply(
        "127.0.0.1",
        [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"198.51.100.9")],
    )
    assert head.client == ("198.51.100.9", 0)


def test_trust_everyone() -> None:
    head = apply("*", [(b"x-forwarded-for", b"1.1.1.1, 2.2.2.2")], peer="192.0.2.50")
    assert head.client == ("1.1.1.1", 0)


def test_ipv6_networks() -> None:
    head = apply(
        "2001:db8::/32",
        [(b"x-forwarded-for", b"2001:db9::5, 2001:db8::1")],
        peer="2001:db8::99",
    )
    assert head.client == ("2001:db9::5", 0)


def test_unknown_proto_is_ignored() -> None:
    head = apply("127.0.0.1", [(b"x-forwarded-proto", b"gopher")])
    assert head.scheme == "http"
    head = apply("127.0.0.1", [(b"x-forwarded-proto", b"HTTPS")])
    assert head.scheme == "https"


def test_forwarded_header() -> None:
    head = apply(
        "127.0.0.1",
        [
            (
                b"forwarded",
                b'for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"',
            )
        ],
    )
    assert head.client == ("2001:db8:cafe::17", 0)
    assert head.scheme == "https"


def test_forwarded_with_port_and_several_fields() -> None:
    head = apply(
        "127.0.0.1",
        [(b"forwarded", b"for=192.0.2.60:8080"), (b"forwarded", b'for="198.51.100.1";proto=http')],
    )
    assert head.client == ("198.51.100.1", 0)
    assert head.scheme == "http"


def test_x_forwarded_wins_over_forwarded() -> None:
    head = apply(
        "127.0.0.1",
        [(b"forwarded", b"for=192.0.2.60;proto=https"), (b"x-forwarded-for", b"198.51.100.1")],
    )
    assert head.client == ("198.51.100.1", 0)


def test_unix_socket_peer_is_trusted() -> None:
    head = apply("127.0.0.1", [(b"x-forwarded-for", b"198.51.100.1")], peer=None)
    assert head.client == ("198.51.100.1", 0)


def test_no_headers_changes_nothing() -> None:
    head = apply("127.0.0.1", [(b"host", b"h")])
    assert head.client == ("127.0.0.1", 1234) and head.scheme == "http"


def test_bad_entry_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="--forwarded-allow-ips: 'not-an-ip'"):
        ProxyHeaders("127.0.0.1, not-an-ip")


# End to end, through each interface.


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = f"{scope['client'][0]} {scope['scheme']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REMOTE_ADDR']} {environ['wsgi.url_scheme']}".encode()]


class NativeApp:
    def __porch_http__(self, head: RequestHead, body: Any) -> Response:
        client = head.client[0] if head.client else "-"
        return Response(200, [], f"{client} {head.scheme}".encode())


@pytest.fixture(params=["asgi", "wsgi", "native"])
def app(request: pytest.FixtureRequest) -> Any:
    return {"asgi": asgi_app, "wsgi": wsgi_app, "native": NativeApp()}[request.param]


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_e2e_trusted_proxy(app: Any) -> None:
    with serve(app, forwarded_allow_ips="127.0.0.1") as server:
        assert httpx.get(server.url, headers=FORWARDED).text == "203.0.113.7 https"
        assert httpx.get(server.url).text == "127.0.0.1 http"


def test_e2e_untrusted_proxy(app: Any) -> None:
    with serve(app, forwarded_allow_ips="10.0.0.0/8") as server:
        assert httpx.get(server.url, headers=FORWARDED).text == "127.0.0.1 http"


def test_e2e_proxy_headers_off(app: Any) -> None:
    with serve(app, proxy_headers=False, forwarded_allow_ips="*") as server:
        assert httpx.get(server.url, headers=FORWARDED).text == "127.0.0.1 http"
