"""Byte-level tests of porch.server.h1: the request parser's events and the response heads."""

from typing import Any

import pytest

from porch.http.headers import HeaderBlock
from porch.server.h1 import (
    CHUNKED,
    CLOSE_DELIMITED,
    CONTENT_LENGTH,
    END_OF_MESSAGE,
    NO_BODY,
    InvalidResponse,
    Limits,
    ParsedRequest,
    ProtocolError,
    RequestParser,
    Upgraded,
    encode_response_head,
)


def feed(pieces: list[bytes], limits: Limits | None = None) -> list[object]:
    parser = RequestParser(limits)
    events: list[object] = []
    for piece in pieces:
        events += parser.feed(piece)
    return events


def summary(events: list[object]) -> list[Any]:
    """Events as plain values; consecutive body pieces joined."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, ParsedRequest):
            out.append(("request", event.method, event.target, event.http_version, event.headers))
        elif isinstance(event, bytes):
            if out and isinstance(out[-1], bytes):
                out[-1] += event
            else:
                out.append(event)
        elif event is END_OF_MESSAGE:
            out.append("end")
        else:
            assert isinstance(event, ProtocolError)
            out.append(("error", event.status))
    return out


def parse(data: bytes, limits: Limits | None = None) -> list[Any]:
    return summary(feed([data], limits))


def bytewise(data: bytes, limits: Limits | None = None) -> list[Any]:
    return summary(feed([data[i : i + 1] for i in range(len(data))], limits))


def requests(events: list[object]) -> list[ParsedRequest]:
    return [event for event in events if isinstance(event, ParsedRequest)]


def error_of(data: bytes, limits: Limits | None = None) -> ProtocolError:
    events = feed([data], limits)
    assert isinstance(events[-1], ProtocolError), summary(events)
    return events[-1]


# Valid requests.


def test_simple_get() -> None:
    events = feed([b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"])
    assert len(events) == 2 and events[1] is END_OF_MESSAGE
    request = events[0]
    assert isinstance(request, ParsedRequest)
    assert request.method == "GET"
    assert request.target == b"/a/b?x=1&y"
    assert request.raw_path == b"/a/b"
    assert request.query == b"x=1&y"
    assert request.http_version == "1.1"
    assert request.headers == [(b"host", b"example.com"), (b"accept", b"*/*")]
    assert request.keep_alive is True
    assert request.has_body is False
    assert request.content_length is None
    assert request.expect_continue is False


def test_parsed_request_has_every_slot_set() -> None:
    # The parser fills a ParsedRequest's slots itself, RequestHead's too (there is no __init__
    # to call): a slot added to RequestHead and forgotten there would raise AttributeError
    # in some application, later.
    (request,) = requests(feed([b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx"]))
    slots = [name for cls in ParsedRequest.__mro__ for name in getattr(cls, "__slots__", ())]
    assert {"keep_alive", "method", "_path", "root_path"} <= set(slots)
    for name in slots:
        assert hasattr(request, name), name
    assert (request.client, request.server, request.scheme, request.root_path) == (
        None,
        None,
        "http",
        "",
    )
    assert request.path == "/p"


def test_header_names_lowered_values_kept() -> None:
    (request,) = requests(
        feed([b"GET / HTTP/1.1\r\nHOST: A.Example\r\nX-Mixed-Case: VaLuE\r\n\r\n"])
    )
    assert request.headers == [(b"host", b"A.Example"), (b"x-mixed-case", b"VaLuE")]


def test_whitespace_around_values_is_not_part_of_them() -> None:
    data = b"GET / HTTP/1.1\r\nHost: h \r\nX-A: \t a b \t \r\nX-B:\t\r\n\r\n"
    (request,) = requests(feed([data]))
    assert request.headers == [(b"host", b"h"), (b"x-a", b"a b"), (b"x-b", b"")]


def test_content_length_body() -> None:
    events = feed([b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"])
    assert summary(events)[1:] == [b"hello", "end"]
    (request,) = requests(events)
    assert request.has_body and request.content_length == 5


def test_content_length_zero_has_no_body() -> None:
    (request,) = requests(feed([b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"]))
    assert request.has_body is False and request.content_length == 0


def test_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    events = feed([data])
    (request,) = requests(events)
    assert request.has_body and request.content_length is None
    assert summary(events)[1:] == [b"hello world", "end"]
    # Trailer fields are not merged into the head, not even later.
    assert request.headers == [(b"host", b"h"), (b"transfer-encoding", b"chunked")]


def test_body_events_come_as_bytes_arrive() -> None:
    parser = RequestParser()
    assert len(parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nab")) == 2
    assert parser.feed(b"cd") == [b"cd"]
    assert parser.feed(b"ef") == [b"ef", END_OF_MESSAGE]


VALID = {
    "get": b"GET /x?q HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\n\r\n",
    "post-length": b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
    "post-chunked": (
        b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n"
    ),
    "pipelined": (
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        b"\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n"
    ),
    "absolute-form": b"GET http://h:8080/p?q=1 HTTP/1.1\r\nHost: h:8080\r\n\r\n",
    "options-asterisk": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "upgrade-with-body": (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Length: 32\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: \r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    ),
    "leading-empty-lines": b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_requests_split_anywhere_give_the_same_events(name: str) -> None:
    data = VALID[name]
    whole = parse(data)
    assert not any(isinstance(item, tuple) and item[0] == "error" for item in whole), whole
    assert whole.count("end") == len([i for i in whole if isinstance(i, tuple)])
    assert bytewise(data) == whole
    for cut in range(1, len(data)):
        assert summary(feed([data[:cut], data[cut:]])) == whole, cut


def test_pipelined_requests_in_one_buffer() -> None:
    events = parse(VALID["pipelined"])
    assert [item[2] for item in events if isinstance(item, tuple)] == [b"/1", b"/2", b"/3"]
    assert events[3] == b"abc"


def test_absolute_form_target() -> None:
    (request,) = requests(feed([VALID["absolute-form"]]))
    assert request.target == b"http://h:8080/p?q=1"
    assert request.raw_path == b"/p" and request.query == b"q=1"


@pytest.mark.parametrize(
    ("target", "host", "path", "query"),
    [
        (b"http://h", b"h", b"/", b""),
        (b"http://h?x", b"h", b"/", b"x"),
        (b"HTTPS://H/a", b"h", b"/a", b""),
        (b"http://[::1]:80/a", b"[::1]:80", b"/a", b""),
    ],
)
def test_absolute_form_variants(target: bytes, host: bytes, path: bytes, query: bytes) -> None:
    data = b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    (request,) = requests(feed([data]))
    assert (request.raw_path, request.query) == (path, query)


def test_asterisk_form_for_options() -> None:
    (request,) = requests(feed([VALID["options-asterisk"]]))
    assert request.target == b"*" and request.raw_path == b"*"


def test_http10_keep_alive_only_when_asked() -> None:
    (plain,) = requests(feed([b"GET / HTTP/1.0\r\n\r\n"]))
    assert plain.http_version == "1.0" and plain.keep_alive is False
    (kept,) = requests(feed([b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]))
    assert kept.keep_alive is True


def test_connection_close_on_http11() -> None:
    (request,) = requests(feed([b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"]))
    assert request.keep_alive is False


def test_nothing_is_read_after_connection_close() -> None:
    events = parse(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n")
    assert events[1] == "end"
    assert events[2] == ("error", 400)


def test_empty_host_is_allowed() -> None:
    assert requests(feed([b"GET / HTTP/1.1\r\nHost:\r\n\r\n"]))[0].headers == [(b"host", b"")]


# Upgrade and CONNECT.


def test_upgrade_without_body_is_answered_as_http() -> None:
    data = (
        b"GET /h2 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n"
    )
    events = parse(data)
    assert [item[2] for item in events if isinstance(item, tuple)] == [b"/h2", b"/next"]
    assert events.count("end") == 2
    (first, _) = requests(feed([data]))
    assert (b"upgrade", b"h2c") in first.headers


@pytest.mark.parametrize("upgrade", [b"websocket", b"WebSocket", b"foo, websocket"])
def test_websocket_handshake_ends_http(upgrade: bytes) -> None:
    """What follows a WebSocket handshake is frames, never parsed as HTTP: handed over whole."""
    head = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: %b\r\n\r\n" % upgrade
    after = b"\x81\x85GET /next HTTP/1.1\r\n\r\n"
    for pieces in ([head + after], [head, after], [head + after[:3], after[3:]]):
        parser = RequestParser()
        events = [event for piece in pieces for event in parser.feed(piece)]
        assert [type(event).__name__ for event in events] == [
            "ParsedRequest",
            "_EndOfMessage",
            "Upgraded",
        ]
        upgraded = events[2]
        assert isinstance(upgraded, Upgraded)
        assert upgraded.data == (head + after)[len(head) :][: len(pieces[0]) - len(head)]


def test_upgrade_body_is_a_body_not_a_request() -> None:
    events = parse(VALID["upgrade-with-body"])
    assert events[1] == b"GET /smuggled HTTP/1.1\r\nHost: \r\n"
    assert [item[2] for item in events if isinstance(item, tuple)] == [b"/", b"/next"]


def test_upgrade_chunked_body_is_a_body() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n11\r\nGET /s HTTP/1.1\r\n\r\n0\r\n\r\n"
    )
    assert parse(data)[1:] == [b"GET /s HTTP/1.1\r\n", "end"]
    assert bytewise(data) == parse(data)


def test_upgrade_body_split_across_feeds() -> None:
    head = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n"
        b"Content-Length: 4\r\n\r\nab"
    )
    parser = RequestParser()
    first = parser.feed(head)
    assert summary(first)[1:] == [b"ab"]
    assert parser.feed(b"cdGET") == [b"cd", END_OF_MESSAGE]
    assert parser.in_head


@pytest.mark.parametrize(
    "data",
    [
        b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"CONNECT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    ],
)
def test_connect_is_refused_before_any_request_event(data: bytes) -> None:
    assert parse(data) == [("error", 400)]
    assert bytewise(data) == [("error", 400)]


# Every ProtocolError and its status.

ERRORS = {
    # 400: malformed
    "no-host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two-hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    "bad-host": (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    "host-with-path": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    "host-userinfo": (b"GET / HTTP/1.1\r\nHost: example.com:@evil.example\r\n\r\n", 400),
    "host-bad-ipv6": (b"GET / HTTP/1.1\r\nHost: [::1::2]\r\n\r\n", 400),
    "host-bad-percent": (b"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", 400),
    "http09": (b"GET /\r\n\r\n", 400),
    "http2-version": (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400),
    "http12-version": (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400),
    "bad-method": (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "method-then-tab": (b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "leading-space": (b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "unknown-method-bad-version": (b"FOO / HTTP/2.0\r\nHost: h\r\n\r\n", 400),
    "unknown-method-no-version": (b"FOO /\r\n", 400),
    "proxy-line": (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 400),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "tls-hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),
    "fragment": (b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "absolute-fragment": (b"GET http://h/a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "asterisk-get": (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "ftp-target": (b"GET ftp://h/a HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "userinfo": (b"GET http://u@h/a HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "empty-authority": (b"GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "port-only-authority": (b"GET http://:80/a HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "other-host": (b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", 400),
    "space-in-target": (b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    "nul-in-value": (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x00\r\n\r\n", 400),
    "bare-lf": (b"GET / HTTP/1.1\nHost: h\n\n", 400),
    "cl-and-te": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "cl-twice": (
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        400,
    ),
    "cl-sign": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n", 400),
    "te-gzip": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    "te-gzip-chunked": (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        400,
    ),
    "te-chunked-tab": (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n", 400),
    "te-http10": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    "empty-lines": (b"\r\n" * 40, 400),
    # CONNECT and unknown methods: 400 (never a 5xx for bad input); 417
    "connect": (b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", 400),
    "expect-unknown": (b"GET / HTTP/1.1\r\nHost: h\r\nExpect: fast\r\n\r\n", 417),
    "expect-list": (b"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\n\r\n", 417),
    "expect-two-lines": (
        b"GET / HTTP/1.1\r\nHost: h\r\nExpect: x\r\nExpect: 100-continue\r\n\r\n",
        417,
    ),
    "unknown-method": (b"FOO / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "lowercase-method": (b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "rtsp-method": (b"DESCRIBE / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    "near-known-method": (b"PROPFINDX / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    # 413, 414, 431: sizes (with the limits of SMALL)
    "body-length": (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", 413),
    "line": (b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n", 414),
    "header-count": (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 10 + b"\r\n", 431),
    "header-size": (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"y" * 200 + b"\r\n\r\n", 431),
}
SMALL = Limits(request_line=50, header_count=10, header_size=200, body=100)


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_protocol_errors_and_their_status(name: str) -> None:
    data, status = ERRORS[name]
    events = parse(data, SMALL)
    assert events == [("error", status)], events
    assert bytewise(data, SMALL) == [("error", status)], "the same, byte by byte"


def test_errors_carry_a_safe_detail() -> None:
    error = error_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: \x00evil\r\n\r\n")
    assert error.detail.isprintable()
    assert "evil" not in error.detail


def test_nothing_is_parsed_after_an_error() -> None:
    parser = RequestParser()
    assert summary(parser.feed(b"GET / HTTP/1.1\r\n\r\n")) == [("error", 400)]
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n") == []


def test_limits_at_their_edge() -> None:
    limits = Limits(request_line=10, header_count=2, header_size=30, body=5)
    assert parse(b"GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", limits)[0][0] == "request"
    assert parse(b"GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n", limits) == [("error", 414)]
    two = b"GET / HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n"
    assert parse(two, limits)[0][0] == "request"
    assert parse(two.replace(b"X: 1", b"X: 1\r\nY: 2"), limits) == [("error", 431)]
    assert parse(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabcde", limits)[1:] == [
        b"abcde",
        "end",
    ]


def test_chunked_body_over_the_limit() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n"
    )
    events = parse(data, Limits(body=5))
    assert events[1:] == [b"abc", ("error", 413)]


def test_head_too_large_while_a_line_dribbles_in() -> None:
    # httptools holds a header line until it ends; porch bounds the bytes before that.
    limits = Limits(request_line=100, header_size=1000)
    parser = RequestParser(limits)
    assert parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX: ") == []
    events: list[object] = []
    for _ in range(10):
        events += parser.feed(b"a" * 1000)
    assert summary(events) == [("error", 431)]


# Unknown methods: 400, wherever they stand.


def test_unknown_method_is_refused_at_once() -> None:
    parser = RequestParser()
    assert summary(parser.feed(b"FOO")) == [("error", 400)]
    assert parser.feed(b" /x HTTP/1.1\r\n\r\n") == []  # nothing after an error


def test_unknown_method_behind_other_requests() -> None:
    ok = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    events = parse(ok + b"FOO / HTTP/1.1\r\n\r\n")
    assert events[0][0] == "request"
    assert events[1:] == [b"abc", "end", ("error", 400)] or events[-1] == ("error", 400)
    assert len(events) == 4


def test_unknown_method_after_an_upgrade_body() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n"
        b"Content-Length: 3\r\n\r\nabcFOO / HTTP/1.1\r\n\r\n"
    )
    assert parse(data)[-1] == ("error", 400)


# Expect, Transfer-Encoding, trailers.


def test_expect_100_continue() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"
    (request,) = requests(feed([data]))
    assert request.expect_continue is True
    (old,) = requests(feed([data.replace(b"HTTP/1.1", b"HTTP/1.0")]))
    assert old.expect_continue is False  # HTTP/1.0 clients do not wait for 100
    (empty,) = requests(feed([data.replace(b"100-Continue", b"")]))
    assert empty.expect_continue is False


def test_transfer_encoding_trailing_space_is_ows() -> None:
    data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked \r\n\r\n1\r\na\r\n0\r\n\r\n"
    assert parse(data)[1:] == [b"a", "end"]


def test_host_in_trailer_is_refused() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\na\r\n0\r\nHost: evil\r\n\r\n"
    )
    assert parse(data)[1:] == [b"a", ("error", 400)]


def test_chunk_extensions_and_trailers_are_bounded() -> None:
    limits = Limits(header_size=1000)
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = feed([head + b"1;x=", *(b"y" * 400 for _ in range(3))], limits)
    assert summary(events)[-1] == ("error", 413)
    endless = feed([head + b"1\r\na\r\n0\r\nT: ", *(b"v" * 400 for _ in range(3))], limits)
    assert summary(endless)[-1] == ("error", 413)
    # Whole trailer fields count with the head's own (here the head's 1000 bytes).
    trailers = feed([head + b"1\r\na\r\n0\r\n", *(b"T: v\r\n" * 50 for _ in range(4))], limits)
    assert summary(trailers)[-1] == ("error", 431)
    # Within the bound, any number of small pieces is fine.
    fine = feed([head, *(b"1;e=%d\r\nx\r\n" % n for n in range(300)), b"0\r\n\r\n"], limits)
    assert summary(fine)[1:] == [b"x" * 300, "end"]


def test_empty_lines_between_requests_are_bounded() -> None:
    parser = RequestParser()
    for _ in range(16):
        assert parser.feed(b"\r\n\r\n") == []
    assert summary(parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"))[-1] == "end"
    assert summary(parser.feed(b"\r\n" * 33)) == [("error", 400)]


def test_in_head_tracks_the_head() -> None:
    parser = RequestParser()
    assert not parser.in_head
    parser.feed(b"\r\n")
    assert not parser.in_head
    parser.feed(b"GET / HTTP/1.1\r\n")
    assert parser.in_head
    parser.feed(b"Host: h\r\nContent-Length: 2\r\n\r\na")
    assert not parser.in_head
    parser.feed(b"bG")
    assert parser.in_head


# Response heads.


def head(status: int, headers: list[tuple[bytes, bytes]], **options: Any) -> Any:
    settings = {
        "method": "GET",
        "http_version": "1.1",
        "keep_alive": True,
        "body_length": None,
        **options,
    }
    return encode_response_head(status, headers, **settings)


def test_known_length_is_content_length() -> None:
    data, framing, length, keep_alive = head(200, [(b"Content-Type", b"text/plain")], body_length=5)
    assert data == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n"
    assert (framing, length, keep_alive) == (CONTENT_LENGTH, 5, True)


def test_application_content_length_wins() -> None:
    data, framing, length, _ = head(200, [(b"content-length", b"3")], body_length=10)
    assert data.count(b"content-length") == 1 and b"content-length: 3\r\n" in data
    assert (framing, length) == (CONTENT_LENGTH, 3)


def test_unknown_length_is_chunked_on_http11() -> None:
    data, framing, length, keep_alive = head(200, [])
    assert b"transfer-encoding: chunked\r\n" in data
    assert (framing, length, keep_alive) == (CHUNKED, -1, True)


def test_unknown_length_is_close_delimited_on_http10() -> None:
    data, framing, _, keep_alive = head(200, [], http_version="1.0")
    assert data.startswith(b"HTTP/1.0 200 OK\r\n")
    assert b"connection: close\r\n" in data and b"transfer-encoding" not in data
    assert (framing, keep_alive) == (CLOSE_DELIMITED, False)


def test_http10_keep_alive_is_said() -> None:
    data, framing, _, keep_alive = head(200, [], http_version="1.0", body_length=0)
    assert b"connection: keep-alive\r\n" in data
    assert (framing, keep_alive) == (CONTENT_LENGTH, True)


def test_head_response_keeps_the_length_but_sends_no_body() -> None:
    data, framing, _, _ = head(200, [], method="HEAD", body_length=42)
    assert b"content-length: 42\r\n" in data
    assert framing == NO_BODY


@pytest.mark.parametrize("status", [204, 304])
def test_no_content_statuses(status: int) -> None:
    data, framing, _, keep_alive = head(status, [(b"content-length", b"7")], body_length=7)
    assert framing == NO_BODY and keep_alive
    assert (b"content-length: 7" in data) is (status == 304)  # 304 may describe the GET
    assert b"transfer-encoding" not in data


def test_server_owns_framing_and_connection() -> None:
    data, framing, _, keep_alive = head(
        200, [(b"Transfer-Encoding", b"gzip"), (b"Connection", b"close")], body_length=2
    )
    assert b"gzip" not in data
    assert data.count(b"connection") == 1 and b"connection: close\r\n" in data
    assert (framing, keep_alive) == (CONTENT_LENGTH, False)


def test_extra_lines_close_the_head() -> None:
    data, *_ = head(200, [], body_length=0, extra=b"date: x\r\nserver: porch\r\n")
    assert data.endswith(b"date: x\r\nserver: porch\r\n\r\n")


def test_unusual_status_line() -> None:
    data, *_ = head(599, [], body_length=0)
    assert data.startswith(b"HTTP/1.1 599 ")


@pytest.mark.parametrize("status", [0, 99, 100, 101, 199, 1000])
def test_statuses_that_cannot_be_final(status: int) -> None:
    with pytest.raises(InvalidResponse):
        head(status, [])


@pytest.mark.parametrize(
    "value",
    [b"a\r\nInjected: yes", b"a\nb", b"a\rb", b"a\x00b", b"\r\n\r\nHTTP/1.1 200 OK"],
)
def test_header_values_cannot_inject(value: bytes) -> None:
    with pytest.raises(InvalidResponse):
        head(200, [(b"x-a", value)])


@pytest.mark.parametrize(
    "name",
    [b"", b"x a", b"x:a", b"x\r\ny", b"caf\xc3\xa9", b"x\x00", b"(x)", b"x\t"],
)
def test_invalid_header_names(name: bytes) -> None:
    with pytest.raises(InvalidResponse):
        head(200, [(name, b"v")])


@pytest.mark.parametrize("value", [b"-1", b"ten", b"", b"1.5"])
def test_invalid_content_length(value: bytes) -> None:
    with pytest.raises(InvalidResponse):
        head(200, [(b"content-length", value)])


def test_names_are_lowered_once_checked() -> None:
    data, *_ = head(200, [(b"X-Custom-Name", b"v"), (b"X-CUSTOM-NAME", b"w")], body_length=0)
    assert b"x-custom-name: v\r\nx-custom-name: w\r\n" in data


@pytest.mark.parametrize("status", [200, 201, 204, 304, 404, 599, 100])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("http_version", ["1.1", "1.0"])
@pytest.mark.parametrize("keep_alive", [True, False])
@pytest.mark.parametrize("body_length", [None, 0, 13])
@pytest.mark.parametrize("reason", [None, b"Fine"])
def test_header_block_heads_match_plain_heads(
    status: int,
    method: str,
    http_version: str,
    keep_alive: bool,
    body_length: int | None,
    reason: bytes | None,
) -> None:
    # A HeaderBlock takes a shortcut for the usual response; it must give the same bytes.
    fields = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-a", b"b")]
    options = {
        "method": method,
        "http_version": http_version,
        "keep_alive": keep_alive,
        "body_length": body_length,
        "extra": b"server: porch\r\ndate: Sat, 21 Nov 2026 16:00:00 GMT\r\n",
        "reason": reason,
    }
    try:
        plain = encode_response_head(status, fields, **options)  # type: ignore[arg-type]
    except InvalidResponse:
        with pytest.raises(InvalidResponse):
            encode_response_head(status, HeaderBlock(fields), **options)  # type: ignore[arg-type]
        return
    assert encode_response_head(status, HeaderBlock(fields), **options) == plain  # type: ignore[arg-type]
