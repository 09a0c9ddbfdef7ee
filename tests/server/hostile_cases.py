"""The hostile-input cases: raw bytes a client may send, and what porch must do with them.

Each case is sent on a fresh connection, followed (unless `probe` is off) by PROBE, a valid
request: a server that lost track of where requests begin would answer the probe as something
else, or hand the application a request hidden in the hostile bytes (always /smuggled here).
`answers` are the statuses expected in order; the connection must then be closed. `seen` are
the requests (target, body) the application must have read whole, nothing more.

The server under test runs with a 1 s head timeout and a 1024-byte body limit (BODY_LIMIT).
"""

import dataclasses

BODY_LIMIT = 1024
HEAD_TIMEOUT = 1.0

PROBE = b"GET /probe HTTP/1.1\r\nHost: probe.test\r\nConnection: close\r\n\r\n"
PROBE_SEEN = ("/probe", b"")
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    send: bytes | tuple[bytes, ...]  # one write, or pieces written `pause` seconds apart
    answers: tuple[int, ...]  # the final statuses, in order; then the connection closes
    seen: tuple[tuple[str, bytes], ...] = ()  # (target, body) the application read whole
    why: str = ""  # the rule that decides it
    probe: bool = True  # send PROBE right behind
    half_close: bool = False  # shut the client's side after sending
    pause: float = 0.0


def raw(*lines: bytes, body: bytes = b"") -> bytes:
    """A request from its head lines (CRLF added) and body."""
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n" + body


def refused(case_id: str, data: bytes, status: int, why: str, **options: object) -> Case:
    """A request porch must answer `status` and then close, the probe unanswered."""
    return Case(case_id, data, (status,), why=why, **options)  # type: ignore[arg-type]


def accepted(case_id: str, data: bytes, target: str, body: bytes, why: str) -> Case:
    """A request porch must pass to the application as (target, body), then the probe."""
    return Case(case_id, data, (200, 200), ((target, body), PROBE_SEEN), why=why)


def post(*headers: bytes, body: bytes = b"", target: bytes = b"/x") -> bytes:
    return raw(b"POST " + target + b" HTTP/1.1", b"Host: h", *headers, body=body)


def get(*headers: bytes, target: bytes = b"/x", version: bytes = b"HTTP/1.1") -> bytes:
    return raw(b"GET " + target + b" " + version, b"Host: h", *headers)


CHUNKED = b"Transfer-Encoding: chunked"
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"

SMUGGLING = [
    refused(
        "smuggle/cl-then-te",
        post(b"Content-Length: 6", CHUNKED, body=b"0\r\n\r\n" + SMUGGLED),
        400,
        "RFC 9112 §6.1: a request with both is an attack or a broken client",
    ),
    refused(
        "smuggle/te-then-cl",
        post(CHUNKED, b"Content-Length: 6", body=b"0\r\n\r\n" + SMUGGLED),
        400,
        "RFC 9112 §6.1",
    ),
    refused(
        "smuggle/cl-repeated-same",
        post(b"Content-Length: 5", b"Content-Length: 5", body=b"hello"),
        400,
        "RFC 9112 §6.3: porch refuses any repeated Content-Length",
    ),
    refused(
        "smuggle/cl-repeated-conflicting",
        post(b"Content-Length: 5", b"Content-Length: 41", body=b"hello" + SMUGGLED),
        400,
        "RFC 9112 §6.3 item 5",
    ),
    refused("smuggle/cl-plus-sign", post(b"Content-Length: +5", body=b"hello"), 400, "1*DIGIT"),
    refused("smuggle/cl-minus-sign", post(b"Content-Length: -5", body=b"hello"), 400, "1*DIGIT"),
    refused("smuggle/cl-inner-space", post(b"Content-Length: 1 2", body=b"x" * 12), 400, "1*DIGIT"),
    refused("smuggle/cl-hex", post(b"Content-Length: 0x5", body=b"hello"), 400, "1*DIGIT"),
    refused("smuggle/cl-exponent", post(b"Content-Length: 1e1", body=b"x" * 10), 400, "1*DIGIT"),
    refused("smuggle/cl-underscore", post(b"Content-Length: 1_0", body=b"x" * 10), 400, "1*DIGIT"),
    refused(
        "smuggle/cl-comma-list-same",
        post(b"Content-Length: 5, 5", body=b"hello"),
        400,
        "RFC 9112 §6.3 lets a server refuse a list",
    ),
    refused(
        "smuggle/cl-comma-list-conflicting",
        post(b"Content-Length: 5, 41", body=b"hello" + SMUGGLED),
        400,
        "RFC 9112 §6.3 item 5",
    ),
    refused(
        "smuggle/cl-overflow",
        post(b"Content-Length: 99999999999999999999999", body=b"x"),
        400,
        "not a number porch can hold",
    ),
    refused("smuggle/cl-empty", post(b"Content-Length: ", body=b"x"), 400, "1*DIGIT"),
    refused(
        "smuggle/cl-unicode-digit", post(b"Content-Length: \xd9\xa5", body=b"hello"), 400, "DIGIT"
    ),
    accepted(
        "smuggle/cl-leading-zeros",
        post(b"Content-Length: 005", body=b"hello"),
        "/x",
        b"hello",
        "1*DIGIT allows leading zeros",
    ),
    accepted(
        "smuggle/cl-surrounding-ows",
        post(b"Content-Length: \t5 ", body=b"hello"),
        "/x",
        b"hello",
        "OWS around a field value is not part of it",
    ),
    refused(
        "smuggle/cl-case-variant-repeated",
        post(b"Content-Length: 5", b"content-length: 41", body=b"hello" + SMUGGLED),
        400,
        "field names are case-insensitive: a repeated Content-Length",
    ),
    refused(
        "smuggle/cl-space-before-colon",
        post(b"Content-Length : 5", body=b"hello"),
        400,
        "RFC 9112 §5.1: no whitespace before the colon",
    ),
    accepted(
        "smuggle/cl-on-get",
        raw(b"GET /x HTTP/1.1", b"Host: h", b"Content-Length: 5", body=b"hello"),
        "/x",
        b"hello",
        "a GET may have a body; it is still framed by Content-Length",
    ),
    accepted(
        "smuggle/body-holds-a-request",
        post(b"Content-Length: %d" % len(SMUGGLED), body=SMUGGLED),
        "/x",
        SMUGGLED,
        "a body is a body, whatever it looks like",
    ),
    refused(
        "smuggle/te-chunked-chunked",
        post(b"Transfer-Encoding: chunked, chunked", body=HELLO_CHUNKED),
        400,
        "RFC 9112 §6.1: chunked at most once",
    ),
    refused(
        "smuggle/te-repeated-header",
        post(CHUNKED, CHUNKED, body=HELLO_CHUNKED),
        400,
        "RFC 9112 §6.1: chunked at most once",
    ),
    refused(
        "smuggle/te-xchunked",
        post(b"Transfer-Encoding: xchunked", body=SMUGGLED),
        400,
        "unknown coding",
    ),
    refused(
        "smuggle/te-chunked-trailing-tab",
        post(b"Transfer-Encoding: chunked\t", body=HELLO_CHUNKED),
        400,
        "llhttp reads the tab as part of the coding: refused before the head goes out",
    ),
    accepted(
        "smuggle/te-chunked-trailing-space",
        post(b"Transfer-Encoding: chunked ", body=HELLO_CHUNKED),
        "/x",
        b"hello",
        "trailing OWS is not part of the value",
    ),
    accepted(
        "smuggle/te-leading-tab",
        post(b"Transfer-Encoding:\tchunked", body=HELLO_CHUNKED),
        "/x",
        b"hello",
        "leading OWS is not part of the value",
    ),
    refused(
        "smuggle/te-nul", post(b"Transfer-Encoding: chunked\x00", body=HELLO_CHUNKED), 400, "NUL"
    ),
    refused(
        "smuggle/te-empty-second-line",
        post(CHUNKED, b"Transfer-Encoding: ", body=HELLO_CHUNKED),
        400,
        "chunked must be the final coding",
    ),
    refused(
        "smuggle/te-gzip-then-chunked-lines",
        post(b"Transfer-Encoding: gzip", CHUNKED, body=HELLO_CHUNKED),
        400,
        "two lines make one list: gzip, chunked",
    ),
    accepted(
        "smuggle/te-uppercase",
        post(b"Transfer-Encoding: CHUNKED", body=HELLO_CHUNKED),
        "/x",
        b"hello",
        "coding names are case-insensitive",
    ),
    refused(
        "smuggle/te-obs-fold",
        post(b"Transfer-Encoding:", b" chunked", body=HELLO_CHUNKED),
        400,
        "RFC 9112 §5.2: obs-fold refused",
    ),
    refused(
        "smuggle/te-vertical-tab",
        post(b"Transfer-Encoding:\x0bchunked", body=HELLO_CHUNKED),
        400,
        "VT is not OWS",
    ),
    refused(
        "smuggle/te-quoted", post(b'Transfer-Encoding: "chunked"', body=HELLO_CHUNKED), 400, "token"
    ),
    refused(
        "smuggle/te-space-before-colon",
        post(b"Transfer-Encoding : chunked", body=HELLO_CHUNKED),
        400,
        "RFC 9112 §5.1: no whitespace before the colon",
    ),
    refused(
        "smuggle/te-on-http10",
        raw(b"POST /x HTTP/1.0", CHUNKED, body=HELLO_CHUNKED),
        400,
        "RFC 9112 §6.1: HTTP/1.0 has no chunked coding",
    ),
    refused(
        "smuggle/te-identity",
        post(b"Transfer-Encoding: identity", body=b"hello"),
        400,
        "no identity coding",
    ),
    refused(
        "smuggle/te-gzip", post(b"Transfer-Encoding: gzip", body=b"hello"), 400, "chunked only"
    ),
    refused(
        "smuggle/te-gzip-chunked",
        post(b"Transfer-Encoding: gzip, chunked", body=HELLO_CHUNKED),
        400,
        "porch decodes no coding but chunked",
    ),
    refused(
        "smuggle/te-chunked-identity",
        post(b"Transfer-Encoding: chunked, identity", body=HELLO_CHUNKED),
        400,
        "RFC 9112 §6.3: chunked must be final",
    ),
    accepted(
        "smuggle/te-underscore-is-another-field",
        post(b"Transfer_Encoding: chunked", b"Content-Length: 5", body=b"hello"),
        "/x",
        b"hello",
        "Transfer_Encoding is not Transfer-Encoding: framed by Content-Length",
    ),
    accepted(
        "smuggle/upgrade-body-is-a-body",
        post(
            b"Connection: Upgrade",
            b"Upgrade: websocket",
            b"Content-Length: %d" % len(SMUGGLED),
            body=SMUGGLED,
        ),
        "/x",
        SMUGGLED,
        "Upgrade is ignored (RFC 9110 §7.8): the body is still read as one",
    ),
    accepted(
        "smuggle/upgrade-chunked-body",
        post(
            b"Connection: Upgrade",
            b"Upgrade: h2c",
            CHUNKED,
            body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
        ),
        "/x",
        SMUGGLED,
        "the same, chunked",
    ),
    refused(
        "smuggle/connect",
        raw(b"CONNECT /x HTTP/1.1", b"Host: h", b"Content-Length: 5", body=b"hello"),
        400,
        "porch makes no tunnels",
    ),
]

CHUNKS = [
    refused("chunk/bad-hex", post(CHUNKED, body=b"zz\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused(
        "chunk/size-overflow",
        post(CHUNKED, body=b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n"),
        400,
        "beyond 64 bits",
    ),
    refused(
        "chunk/data-longer-than-size",
        post(CHUNKED, body=b"3\r\nhello\r\n0\r\n\r\n"),
        400,
        "CRLF must follow the data",
    ),
    refused(
        "chunk/data-shorter-than-size",
        post(CHUNKED, body=b"a\r\nhello\r\n0\r\n\r\n"),
        400,
        "CRLF must follow the data",
    ),
    refused("chunk/negative-size", post(CHUNKED, body=b"-5\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused("chunk/plus-size", post(CHUNKED, body=b"+5\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused("chunk/0x-prefix", post(CHUNKED, body=b"0x5\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused("chunk/leading-space", post(CHUNKED, body=b" 5\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused(
        "chunk/trailing-space",
        post(CHUNKED, body=b"5 \r\nhello\r\n0\r\n\r\n"),
        400,
        "llhttp: strict",
    ),
    refused("chunk/trailing-junk", post(CHUNKED, body=b"5x\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused("chunk/underscore", post(CHUNKED, body=b"5_0\r\nhello\r\n0\r\n\r\n"), 400, "HEXDIG"),
    refused("chunk/empty-size", post(CHUNKED, body=b"\r\nhello\r\n0\r\n\r\n"), 400, "1*HEXDIG"),
    refused("chunk/bare-lf-after-size", post(CHUNKED, body=b"5\nhello\r\n0\r\n\r\n"), 400, "CRLF"),
    refused("chunk/bare-lf-after-data", post(CHUNKED, body=b"5\r\nhello\n0\r\n\r\n"), 400, "CRLF"),
    refused(
        "chunk/bare-cr-in-extension",
        post(CHUNKED, body=b"5;a=b\rc\r\nhello\r\n0\r\n\r\n"),
        400,
        "CR only in CRLF",
    ),
    refused(
        "chunk/ctl-in-extension",
        post(CHUNKED, body=b"5;a\x01=b\r\nhello\r\n0\r\n\r\n"),
        400,
        "token",
    ),
    accepted(
        "chunk/extension",
        post(CHUNKED, body=b"5;name=value;flag\r\nhello\r\n0\r\n\r\n"),
        "/x",
        b"hello",
        "RFC 9112 §7.1.1: extensions are ignored",
    ),
    accepted(
        "chunk/quoted-extension",
        post(CHUNKED, body=b'5;name="a b\\"c"\r\nhello\r\n0\r\n\r\n'),
        "/x",
        b"hello",
        "quoted-string",
    ),
    refused(
        "chunk/huge-extension",
        (post(CHUNKED, body=b"5;x="), *(b"a" * 65536 for _ in range(16))),
        413,
        "extensions between two pieces of body are bounded by the head size",
        probe=False,
    ),
    refused(
        "chunk/extension-without-name",
        post(CHUNKED, body=b"5;\r\nhello\r\n0\r\n\r\n"),
        400,
        "chunk-ext-name = token",
    ),
    accepted(
        "chunk/extension-on-last-chunk",
        post(CHUNKED, body=b"5\r\nhello\r\n0;last=1\r\n\r\n"),
        "/x",
        b"hello",
        "the last chunk may carry extensions too",
    ),
    accepted(
        "chunk/uppercase-hex",
        post(CHUNKED, body=b"A\r\n0123456789\r\n0\r\n\r\n"),
        "/x",
        b"0123456789",
        "HEXDIG is case-insensitive",
    ),
    accepted(
        "chunk/leading-zeros",
        post(CHUNKED, body=b"0005\r\nhello\r\n000\r\n\r\n"),
        "/x",
        b"hello",
        "1*HEXDIG",
    ),
    accepted(
        "chunk/trailer-fields-dropped",
        post(CHUNKED, body=b"5\r\nhello\r\n0\r\nX-Trailer: t\r\nVary: *\r\n\r\n"),
        "/x",
        b"hello",
        "RFC 9110 §6.5.1: trailers are not merged into the head",
    ),
    refused(
        "chunk/trailer-host",
        post(CHUNKED, body=b"5\r\nhello\r\n0\r\nHost: evil\r\n\r\n"),
        400,
        "Host may not be a trailer field",
    ),
    refused(
        "chunk/trailer-content-length",
        post(CHUNKED, body=b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"),
        400,
        "framing may not be a trailer field",
    ),
    refused(
        "chunk/trailer-transfer-encoding",
        post(CHUNKED, body=b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400,
        "framing may not be a trailer field",
    ),
    refused(
        "chunk/trailer-obs-fold",
        post(CHUNKED, body=b"5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"),
        400,
        "obs-fold",
    ),
]

HEADERS = [
    refused("header/obs-fold", get(b"X-A: one", b" two"), 400, "RFC 9112 §5.2"),
    refused("header/space-before-colon", get(b"X-A : one"), 400, "RFC 9112 §5.1"),
    refused("header/empty-name", get(b": one"), 400, "field-name = token"),
    refused("header/no-colon", get(b"X-A one"), 400, "field-line"),
    refused("header/ctl-in-value", get(b"X-A: a\x01b"), 400, "RFC 9110 §5.5"),
    refused("header/nul-in-value", get(b"X-A: a\x00b"), 400, "RFC 9110 §5.5"),
    refused("header/del-in-value", get(b"X-A: a\x7fb"), 400, "RFC 9110 §5.5"),
    refused("header/bare-cr-in-value", get(b"X-A: a\rb"), 400, "CR only in CRLF"),
    refused("header/nul-in-name", get(b"X\x00A: b"), 400, "token"),
    refused("header/8bit-in-name", get(b"X\xe9: b"), 400, "token"),
    refused("header/tab-in-name", get(b"X\tA: b"), 400, "token"),
    refused("header/bare-lf-lines", b"GET /x HTTP/1.1\nHost: h\nX-A: b\n\n", 400, "CRLF"),
    refused("header/space-first-line", get(b" X-A: b"), 400, "RFC 9112 §2.2"),
    accepted(
        "header/8bit-in-value",
        post(b"X-A: caf\xc3\xa9 \xff", b"Content-Length: 0"),
        "/x",
        b"",
        "obs-text is allowed in values",
    ),
    accepted(
        "header/long-name-in-limit",
        post(b"X-" + b"n" * 16000 + b": v", b"Content-Length: 0"),
        "/x",
        b"",
        "no limit per field; the head as a whole is bounded",
    ),
    refused(
        "header/long-name-over-limit",
        get(b"X-" + b"n" * 70000 + b": v"),
        431,
        "--limit-request-header-size",
    ),
    refused(
        "header/long-value-over-limit",
        get(b"X-A: " + b"v" * 70000),
        431,
        "--limit-request-header-size",
    ),
    refused(
        "header/too-many",
        get(*(b"X-%d: v" % n for n in range(101))),
        431,
        "--limit-request-headers",
    ),
    refused(
        "header/section-over-64KiB",
        get(*(b"X-%d: %s" % (n, b"v" * 1000) for n in range(70))),
        431,
        "--limit-request-header-size",
    ),
]

REQUEST_LINE = [
    refused("line/bad-method-chars", raw(b"G(T /x HTTP/1.1", b"Host: h"), 400, "method = token"),
    refused(
        "line/lowercase-method",
        raw(b"get /x HTTP/1.1", b"Host: h"),
        400,
        "methods are case-sensitive: an unknown method",
    ),
    refused(
        "line/unknown-method",
        raw(b"FOO /x HTTP/1.1", b"Host: h"),
        400,
        "a method llhttp does not know: 400, as uvicorn and Node (never a 5xx)",
    ),
    refused(
        "line/unknown-method-bad-line",
        raw(b"FOO /x HTTP/1.1 extra", b"Host: h"),
        400,
        "an unknown method on a malformed line",
    ),
    refused("line/8bit-method", raw(b"G\xc9T /x HTTP/1.1", b"Host: h"), 400, "token"),
    refused("line/tab-after-method", raw(b"GET\t/x HTTP/1.1", b"Host: h"), 400, "SP only"),
    refused("line/missing-version", raw(b"GET /x", b"Host: h"), 400, "HTTP/0.9 is not served"),
    refused("line/http-0.9", get(version=b"HTTP/0.9"), 400, "HTTP/1.x only"),
    refused("line/http-1.2", get(version=b"HTTP/1.2"), 400, "HTTP/1.x only"),
    refused("line/http-2.0", get(version=b"HTTP/2.0"), 400, "HTTP/1.x only"),
    refused("line/absurd-version", get(version=b"HTTP/111.1"), 400, "DIGIT.DIGIT"),
    refused("line/lowercase-version", get(version=b"http/1.1"), 400, "HTTP-name is case-sensitive"),
    refused("line/space-in-target", get(target=b"/a b"), 400, "no whitespace in a target"),
    refused("line/tab-in-target", get(target=b"/a\tb"), 400, "no whitespace in a target"),
    refused("line/ctl-in-target", get(target=b"/a\x01b"), 400, "RFC 3986"),
    refused("line/nul-in-target", get(target=b"/a\x00b"), 400, "RFC 3986"),
    refused("line/8bit-in-target", get(target=b"/caf\xc3\xa9"), 400, "RFC 3986"),
    refused("line/fragment", get(target=b"/a#frag"), 400, "RFC 9112 §3.2: no fragment"),
    refused("line/target-over-limit", get(target=b"/" + b"a" * 9000), 414, "--limit-request-line"),
    refused("line/leading-space", b" " + get(), 400, "RFC 9112 §3"),
    refused("line/space-after-version", raw(b"GET /x HTTP/1.1 ", b"Host: h"), 400, "RFC 9112 §3"),
    refused("line/asterisk-with-get", get(target=b"*"), 400, "RFC 9112 §3.2.4: OPTIONS only"),
    refused("line/authority-form-with-get", get(target=b"h:80"), 400, "RFC 9112 §3.2.3"),
    refused("line/relative-target", get(target=b"a/b"), 400, "RFC 9112 §3.2"),
    refused("line/absolute-ftp", get(target=b"ftp://h/x"), 400, "http(s) only"),
    refused(
        "line/absolute-userinfo",
        get(target=b"http://user:pw@h/x"),
        400,
        "RFC 9110 §4.2.4",
    ),
    refused(
        "line/absolute-other-host",
        get(target=b"http://other/x"),
        400,
        "Host and target must name the same host",
    ),
    accepted(
        "line/absolute-form",
        raw(b"POST http://h/x?q=1 HTTP/1.1", b"Host: h", b"Content-Length: 0"),
        "/x?q=1",
        b"",
        "RFC 9112 §3.2.2",
    ),
    accepted(
        "line/options-asterisk",
        raw(b"OPTIONS * HTTP/1.1", b"Host: h", b"Content-Length: 0"),
        "*",
        b"",
        "RFC 9112 §3.2.4",
    ),
    refused(
        "line/rtsp-method",
        raw(b"DESCRIBE /x HTTP/1.1", b"Host: h"),
        400,
        "an RTSP method on an HTTP request line",
    ),
    refused(
        "line/proxy-protocol",
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n" + get(),
        400,
        "not a request line",
    ),
]

HOST = [
    refused("host/missing-on-1.1", raw(b"GET /x HTTP/1.1"), 400, "RFC 9112 §3.2"),
    refused("host/repeated", raw(b"GET /x HTTP/1.1", b"Host: a", b"Host: b"), 400, "RFC 9112 §3.2"),
    refused("host/space", raw(b"GET /x HTTP/1.1", b"Host: a b"), 400, "RFC 9110 §7.2"),
    refused("host/slash", raw(b"GET /x HTTP/1.1", b"Host: a/b"), 400, "RFC 9110 §7.2"),
    refused("host/userinfo", raw(b"GET /x HTTP/1.1", b"Host: u@a"), 400, "RFC 9110 §7.2"),
    refused("host/two-ports", raw(b"GET /x HTTP/1.1", b"Host: a:1:2"), 400, "RFC 9110 §7.2"),
    refused(
        "host/userinfo-after-port",
        raw(b"GET /x HTTP/1.1", b"Host: example.com:@evil.example"),
        400,
        "RFC 9110 §7.2: the allowed name in front is no part of the host",
    ),
    refused(
        "host/userinfo-after-digits",
        raw(b"GET /x HTTP/1.1", b"Host: example.com:443@evil.example"),
        400,
        "RFC 9110 §7.2",
    ),
    refused("host/bad-ipv6", raw(b"GET /x HTTP/1.1", b"Host: [1::2::3]"), 400, "RFC 3986 §3.2.2"),
    refused("host/bad-percent", raw(b"GET /x HTTP/1.1", b"Host: a%g0"), 400, "RFC 3986 §2.1"),
    refused("host/port-too-big", raw(b"GET /x HTTP/1.1", b"Host: a:65536"), 400, "no such port"),
    accepted(
        "host/empty-on-1.0",
        raw(b"POST /x HTTP/1.0", b"Host:", b"Connection: keep-alive", b"Content-Length: 0"),
        "/x",
        b"",
        "HTTP/1.0 needs no Host",
    ),
    accepted(
        "host/empty-on-1.1",
        raw(b"POST /x HTTP/1.1", b"Host:", b"Content-Length: 0"),
        "/x",
        b"",
        "RFC 9112 §3.2: empty when the target has no authority",
    ),
    accepted(
        "host/ipv6",
        raw(b"POST /x HTTP/1.1", b"Host: [::1]:8000", b"Content-Length: 0"),
        "/x",
        b"",
        "IP-literal",
    ),
]

GARBAGE = [
    refused(
        "garbage/random-bytes",
        bytes.fromhex("9f3c0a7be21d88c4f0015ae3b7726d94") * 4,
        400,
        "not a request line",
    ),
    refused(
        "garbage/tls-client-hello",
        bytes.fromhex("160301020001000200fc0303") + b"\x00" * 40,
        400,
        "TLS on a plain port",
    ),
    refused(
        "garbage/http2-preface",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        400,
        "HTTP/2 with prior knowledge is not spoken here",
    ),
    refused("garbage/ssh-banner", b"SSH-2.0-OpenSSH_9.6\r\n", 400, "not HTTP"),
    refused(
        "garbage/crlf-flood",
        b"\r\n" * 5000,
        400,
        "empty lines between requests are bounded",
        probe=False,
    ),
    refused("garbage/nul-flood", b"\x00" * 5000, 400, "not a request line"),
    accepted(
        "garbage/few-leading-crlf",
        b"\r\n\r\n" + post(b"Content-Length: 0"),
        "/x",
        b"",
        "RFC 9112 §2.2: empty lines before a request are ignored",
    ),
]

LIMITS = [
    refused(
        "limit/content-length-over-body-limit",
        post(b"Content-Length: %d" % (BODY_LIMIT + 1)),
        413,
        "answered from the head alone: the body is never sent",
        probe=False,
    ),
    refused(
        "limit/chunked-over-body-limit",
        post(CHUNKED, body=b"400\r\n" + b"a" * 1024 + b"\r\n1\r\nb\r\n0\r\n\r\n"),
        413,
        "--limit-request-body counts the decoded body",
    ),
    refused(
        "limit/expect-continue-over-body-limit",
        post(b"Expect: 100-continue", b"Content-Length: %d" % (BODY_LIMIT + 1)),
        413,
        "RFC 9110 §10.1.1: a final status instead of 100",
        probe=False,
    ),
    refused(
        "limit/unknown-expectation",
        post(b"Expect: 100-continue, x-fast", b"Content-Length: 5", body=b"hello"),
        417,
        "RFC 9110 §10.1.1",
    ),
    refused(
        "limit/unknown-expectation-repeated-field",
        post(b"Expect: 100-continue", b"Expect: x-fast", b"Content-Length: 5", body=b"hello"),
        417,
        "every Expect line counts",
    ),
]

SLOW = [
    Case(
        "slow/head-never-finished",
        b"GET /x HTTP/1.1\r\nHost: h\r\n",
        (408,),
        why="--timeout-request-header",
        probe=False,
    ),
    Case(
        "slow/head-dribbled-past-timeout",
        (b"GET /x HTTP/1.1\r\nHost: h\r\n", *(b"X-Slow-%d: v\r\n" % n for n in range(6))),
        (408,),
        why="the head timeout is for the whole head, however it dribbles",
        probe=False,
        pause=0.3,
    ),
    Case(
        "slow/request-line-never-finished",
        b"GET /x HTT",
        (408,),
        why="--timeout-request-header",
        probe=False,
    ),
    Case(
        "slow/unknown-method-line-never-finished",
        b"FOO /x",
        (400,),
        why="an unknown method is refused at once, before the line ends",
        probe=False,
    ),
    Case(
        "slow/half-close-mid-head",
        b"GET /x HTTP/1.1\r\nHost: h\r\n",
        (),
        why="nothing to answer: a plain close",
        probe=False,
        half_close=True,
    ),
    Case(
        "slow/body-cut-short",
        post(b"Content-Length: 10", body=b"hello"),
        (400,),
        why="the client ended the connection inside the body",
        probe=False,
        half_close=True,
    ),
    Case(
        "slow/chunked-body-cut-short",
        post(CHUNKED, body=b"5\r\nhello\r\n"),
        (400,),
        why="the client ended the connection inside the body",
        probe=False,
        half_close=True,
    ),
]

PIPELINING = [
    Case(
        "pipeline/bad-in-the-middle",
        post(b"Content-Length: 5", body=b"first") + get(b"X-A: a\x01b") + SMUGGLED,
        (200, 400),
        (("/x", b"first"),),
        why="earlier requests are answered, then the error, then close",
    ),
    Case(
        "pipeline/unknown-method-in-the-middle",
        post(b"Content-Length: 5", body=b"first") + raw(b"FOO /x HTTP/1.1", b"Host: h"),
        (200, 400),
        (("/x", b"first"),),
        why="earlier requests are answered, then the refusal, then close",
    ),
    Case(
        "pipeline/garbage-behind-a-body",
        post(b"Content-Length: 5", body=b"first") + b"G(T /x HTTP/1.1\r\n\r\n",
        (200, 400),
        (("/x", b"first"),),
        why="garbage after a body is garbage",
    ),
    Case(
        "pipeline/three-valid",
        post(b"Content-Length: 1", body=b"1") + post(CHUNKED, body=HELLO_CHUNKED) + get(),
        (200, 200, 200, 200),
        (("/x", b"1"), ("/x", b"hello"), ("/x", b""), PROBE_SEEN),
        why="pipelined requests are answered in order",
    ),
    Case(
        "pipeline/after-connection-close",
        get(b"Connection: close") + SMUGGLED,
        (200,),
        (("/x", b""),),
        why="RFC 9112 §9.6: nothing is read after close",
    ),
    Case(
        "pipeline/after-http10",
        raw(b"POST /x HTTP/1.0", b"Content-Length: 2", body=b"10") + SMUGGLED,
        (200,),
        (("/x", b"10"),),
        why="HTTP/1.0 without keep-alive: one request",
    ),
]

CASES: list[Case] = [
    *SMUGGLING,
    *CHUNKS,
    *HEADERS,
    *REQUEST_LINE,
    *HOST,
    *GARBAGE,
    *LIMITS,
    *SLOW,
    *PIPELINING,
]
