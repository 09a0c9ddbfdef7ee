"""HTTP/1.1 framing without I/O: request bytes in, events out; response heads out.

`RequestParser.feed(data)` turns bytes into a list of events, in order:

- `ParsedRequest`: a request head, checked against RFC 9112 and the limits;
- `bytes`: a piece of the body of the request last started;
- `END_OF_MESSAGE`: that request's body is complete;
- `ProtocolError`: the bytes cannot be a request. It is always the last event: the parser stops,
  and the connection must answer it (its `status`) and close.

Invariants: events of one request come in the order above; a request's body events all come
before the next `ParsedRequest`; a `ParsedRequest` is never taken back, and its head is never
changed after it is emitted (trailer fields are dropped, not merged); nothing after an error is
ever parsed. The events do not depend on how the bytes are split between calls, except where
a limit counts bytes that complete nothing (they are counted per call) and where a refused
method cannot be placed (below).

httptools (llhttp) checks most of the grammar; what it lets through and RFC 9112 forbids, this
module refuses: a missing or repeated Host on HTTP/1.1, Transfer-Encoding other than a single
`chunked` (and any on HTTP/1.0), HTTP/0.9 and versions other than 1.x, fragments and userinfo in
the target, `*` but for OPTIONS, an absolute-form target that is not http(s) or names another
host than Host, CONNECT (porch makes no tunnels), an unsupported Expect (417), Host in the
trailer section, and the limits: request line (414), header count and head size (431, trailer
fields included), body (413), chunk framing (extensions, an unfinished trailer line) between
two pieces of body (413, bounded by the head size), and empty lines between requests (400).
Header values lose the trailing whitespace llhttp leaves on them (RFC 9110 §5.5).

Statuses: 400 for malformed bytes, for methods llhttp does not know and for CONNECT (as uvicorn
and Node answer; RFC 9110 would allow 501, but bad input never gets a 5xx here); 413/414/431 for
sizes; 417 for Expect.

llhttp parses an Upgrade request's head and hands over the rest as another protocol. A
WebSocket handshake (`Upgrade: websocket`, no body) ends the HTTP/1.1 stream: the request is
followed by an `Upgraded` event holding the bytes that came after its head, and the parser
stops. Any other Upgrade is answered as plain HTTP (RFC 9110 §7.8 lets a server ignore it), so
its body, if any, is read as a body, never as the next request.

`encode_response_head` is the other direction: a status and header list become the bytes of
a response head, with the framing (Content-Length, chunked or close-delimited) decided here.
"""

import re
from typing import Final

import httptools

from porch.http.errors import HTTPError
from porch.http.headers import KNOWN_HOSTS, HeaderBlock, is_host
from porch.http.native import RawHeaders, RequestHead, ResponseHeaders
from porch.http.status import STATUS_LINES_10, STATUS_LINES_11, status_line
from porch.server.settings import default_of


class ProtocolError(HTTPError):
    """The peer broke HTTP/1.1; `status` is the answer to send before closing."""


class _EndOfMessage:
    __slots__ = ()

    def __repr__(self) -> str:
        return "END_OF_MESSAGE"


END_OF_MESSAGE: Final = _EndOfMessage()


class Upgraded:
    """The request before this event asked for a WebSocket: what follows its head is no
    longer HTTP. `data` holds the bytes that came after the head."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


Event = "ParsedRequest | bytes | _EndOfMessage | Upgraded | ProtocolError"


class ParsedRequest(RequestHead):
    """A request head as received, and how its body is framed.

    The parser sets every slot itself (see `RequestParser.on_headers_complete`), RequestHead's
    included: there is no __init__ to call.
    """

    __slots__ = ("content_length", "expect_continue", "has_body", "keep_alive")

    keep_alive: bool  # the client allows the connection to stay open
    expect_continue: bool  # the client waits for 100 before the body
    has_body: bool  # a body follows (Content-Length > 0 or chunked)
    content_length: int | None  # None when chunked or absent


_new_request = object.__new__


class Limits:
    """The sizes a request head may not pass."""

    __slots__ = ("body", "header_count", "header_size", "request_line")

    def __init__(
        self,
        request_line: int = default_of("limit_request_line"),
        header_count: int = default_of("limit_request_headers"),
        header_size: int = default_of("limit_request_header_size"),
        body: int = default_of("limit_request_body"),
    ) -> None:
        self.request_line = request_line
        self.header_count = header_count
        self.header_size = header_size
        self.body = body


# PERF: single bytes are looked for by their values. `b"#" in data` first tries b"#" as an
# integer, raising and clearing a TypeError each time: several times slower than `35 in data`.
NUL, LF, CR, HASH, AT, PERCENT, UNDERSCORE = 0, 10, 13, 35, 64, 37, 95
# PERF: the method names llhttp knows, decoded once.
_METHODS = {
    name.encode(): name
    for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
}
# Where the parser is: between requests, in a head, or in a body (after the head).
_BETWEEN, _HEAD, _BODY = 0, 1, 2
# Bytes of empty lines tolerated between requests (RFC 9112 §2.2 asks for at least one).
MAX_EMPTY_LINES = 64
# A chunked body llhttp skipped (see _after_upgrade) is read by a parser primed with these.
_CHUNKED_PRIMER = b"PUT / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
_LENGTH_PRIMER = b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"


class _TrailerSink(list[tuple[bytes, bytes]]):
    """Where trailer fields go once the head is out: nowhere (RFC 9110 §6.5.1)."""

    def append(self, field: tuple[bytes, bytes]) -> None:
        pass


_TRAILERS: Final = _TrailerSink()


def asks_for_websocket(headers: RawHeaders) -> bool:
    """Whether a request's Upgrade header field names the WebSocket protocol."""
    for name, value in headers:
        if name == b"upgrade" and any(
            token.strip().lower() == b"websocket" for token in value.split(b",")
        ):
            return True
    return False


class RequestParser:
    """Bytes in, events out: httptools under RFC 9112's rules and porch's limits."""

    __slots__ = (
        "_begun_in_chunk",
        "_body_bytes",
        "_content_length",
        "_events",
        "_expect",
        "_failed",
        "_head_bytes",
        "_header_count",
        "_headers",
        "_host",
        "_host_count",
        "_max_head",
        "_max_headers",
        "_parser",
        "_pending_bytes",
        "_state",
        "_transfer_encoding",
        "_url",
        "limits",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._parser = httptools.HttpRequestParser(self)
        self._events: list[object] = []
        self._failed = False
        self._max_headers = self.limits.header_count
        self._max_head = self.limits.header_size
        self.on_message_begin()  # the per-request state, fresh
        self._state = _BETWEEN
        self._begun_in_chunk = False

    @property
    def in_head(self) -> bool:
        """Whether a request head has begun and not yet ended."""
        return self._state == _HEAD

    def feed(self, data: bytes) -> list[object]:
        """Parse `data`; return the events it completes (see the module docstring)."""
        events = self._events = []
        if not data:
            return events  # llhttp would report an empty piece of body
        if self._failed:
            return events
        self._begun_in_chunk = False
        while True:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserUpgrade as upgrade:
                offset = upgrade.args[0] if upgrade.args else len(data)
                data = self._after_upgrade(data, offset)
                if data and not self._failed:
                    continue
            except httptools.HttpParserCallbackError as exc:
                error = exc.__context__
                if not isinstance(error, ProtocolError):
                    error = ProtocolError(400, "Bad Request")
                self._fail(error)
            except httptools.HttpParserInvalidMethodError:
                self._fail(ProtocolError(400, "Unknown or invalid method"))
            except httptools.HttpParserError as exc:
                if "Invalid method for" in str(exc):  # an RTSP method on an HTTP request line
                    self._fail(ProtocolError(400, "Unknown or invalid method"))
                else:
                    self._fail(ProtocolError(400, _describe(exc)))
            break
        # PERF: most chunks end between requests, having completed something: two checks.
        if self._state == _HEAD:
            if not self._failed:
                self._head_unfinished(data)
        elif not events and not self._failed:
            self._nothing_completed(len(data))
        return events

    def stop(self) -> None:
        """Parse nothing more: later bytes give no events (the connection is ending)."""
        self._failed = True

    def _fail(self, error: ProtocolError) -> None:
        self._failed = True
        self._events.append(error)

    def _head_unfinished(self, data: bytes) -> None:
        # httptools buffers a header line until its end, unseen: bound the raw bytes of a
        # head that spans chunks. (A head begun in this chunk holds at most this chunk.)
        if self._begun_in_chunk:
            return
        self._pending_bytes += len(data)
        if self._pending_bytes > self.limits.request_line + self.limits.header_size + 4096:
            self._fail(ProtocolError(431, "Request header fields too large"))

    def _nothing_completed(self, size: int) -> None:
        # Bytes that llhttp consumed without a callback: chunk sizes, extensions and trailer
        # fields inside a body, or empty lines between requests. Neither may go on forever.
        self._pending_bytes += size
        if self._state == _BODY:
            if self._pending_bytes > self.limits.header_size:
                self._fail(ProtocolError(413, "Chunk extensions or trailer fields too large"))
        elif self._pending_bytes > MAX_EMPTY_LINES:
            self._fail(ProtocolError(400, "Too many empty lines"))

    def _after_upgrade(self, data: bytes, offset: int) -> bytes:
        # llhttp stops after the head of an Upgrade (or CONNECT) request, taking the rest for
        # another protocol; it has already ended the message, skipping any body. A WebSocket
        # handshake ends HTTP on this connection; any other request is answered as plain HTTP
        # (RFC 9110 §7.8 lets a server ignore Upgrade) and a fresh parser goes on. Returns the
        # bytes left to parse.
        events = self._events
        request = events[-2]
        assert isinstance(request, ParsedRequest) and events[-1] is END_OF_MESSAGE
        self._parser = httptools.HttpRequestParser(self)
        if request.method == "CONNECT":
            del events[-2:]  # never seen by anyone
            self._fail(ProtocolError(400, "CONNECT is not supported"))
            return b""
        rest = data[offset:]
        if not request.has_body:
            if asks_for_websocket(request.headers):
                events.append(Upgraded(rest))
                self._failed = True  # nothing more of this connection is HTTP
                return b""
            return rest
        # The body must be read as a body, or it would be parsed as the next request (request
        # smuggling): prime the fresh parser with a head that frames a body the same way.
        events.pop()  # END_OF_MESSAGE comes after the body
        primer = (
            _CHUNKED_PRIMER
            if request.content_length is None
            else _LENGTH_PRIMER % request.content_length
        )
        self._parser.feed_data(primer)
        events.pop()  # the primer's own ParsedRequest
        return rest

    # httptools callbacks. PERF: these run for every request; keep them lean.

    def on_message_begin(self) -> None:
        self._state = _HEAD
        self._begun_in_chunk = True
        # Bytes fed that completed nothing: of an unfinished head, of chunk framing since the
        # last piece of body, or of empty lines between requests.
        self._pending_bytes = 0
        self._body_bytes = 0
        self._url = b""
        self._headers: RawHeaders = []
        self._header_count = 0
        self._head_bytes = 0
        self._host: bytes | None = None
        self._host_count = 0
        self._transfer_encoding: bytes | None = None
        self._expect: bytes | None = None
        self._content_length: int | None = None

    def on_url(self, url: bytes) -> None:
        # llhttp may deliver the target in pieces.
        self._url += url
        if len(self._url) > self.limits.request_line:
            raise ProtocolError(414, "Request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._max_headers:
            raise ProtocolError(431, "Too many header fields")
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > self._max_head:
            raise ProtocolError(431, "Request header fields too large")
        name = name.lower()
        raw = value
        # RFC 9110 §5.5: trailing whitespace is no part of a value (llhttp keeps it).
        value = value.rstrip(b" \t")
        if name == b"host":
            if self._state != _HEAD:
                raise ProtocolError(400, "Host in trailer fields")
            self._host = value
            self._host_count += 1
        elif name == b"content-length":
            self._content_length = int(value)  # llhttp has checked the digits
        elif name == b"transfer-encoding":
            # Raw: see on_headers_complete. Several lines make one list (RFC 9110 §5.3).
            coding = self._transfer_encoding
            self._transfer_encoding = raw if coding is None else coding + b"," + raw
        elif name == b"expect":
            expect = self._expect
            self._expect = value if expect is None else expect + b"," + value
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        http_version = parser.get_http_version()
        if http_version != "1.1" and http_version != "1.0":
            raise ProtocolError(400, f"HTTP version {http_version} is not supported")
        host = self._host
        if self._host_count > 1:
            raise ProtocolError(400, "Repeated Host header")
        if host is None:
            if http_version == "1.1":
                raise ProtocolError(400, "Missing Host header")
        elif host not in KNOWN_HOSTS and not is_host(host):
            # PERF: a server sees the same few Host values again and again: a set lookup.
            raise ProtocolError(400, "Invalid Host header")
        chunked = False
        if self._transfer_encoding is not None:
            # llhttp allows codings before a final chunked; porch decodes none of them, and
            # HTTP/1.0 has no chunked coding at all (RFC 9112 §6.1). llhttp reads a trailing
            # tab as part of the coding's name: refuse it here rather than after the head.
            te = self._transfer_encoding.rstrip(b" ").lower()
            if http_version == "1.0" or te != b"chunked":
                raise ProtocolError(400, "Unsupported Transfer-Encoding")
            chunked = True
        expect_continue = False
        if self._expect is not None:
            expect_continue = _expects_continue(self._expect) and http_version == "1.1"
        content_length = self._content_length
        if content_length is not None and content_length > self.limits.body:
            raise ProtocolError(413, "Request body too large")
        url = self._url
        method = parser.get_method()
        if url[:1] == b"/":
            # PERF: origin-form, nearly every request: split by hand.
            raw_path, _, query = url.partition(b"?")
            if HASH in url:
                raise ProtocolError(400, "Fragment in request target")
        else:
            raw_path, query = _other_target(method, url, host)
        self._state = _BODY
        self._pending_bytes = 0
        # PERF: a Python __init__ costs as much as all these assignments together; the
        # request is the one object the parser makes per request.
        request: ParsedRequest = _new_request(ParsedRequest)
        request.method = _METHODS.get(method) or method.decode("ascii")
        request.target = url
        request.raw_path = raw_path
        request.query = query
        request.headers = self._headers
        request.http_version = http_version
        request.client = None
        request.server = None
        request.scheme = "http"
        request.root_path = ""
        request.request_id = ""
        request.route = ""
        request._path = None
        request.keep_alive = parser.should_keep_alive()
        request.expect_continue = expect_continue
        request.has_body = chunked or bool(content_length)
        request.content_length = content_length
        self._headers = _TRAILERS
        self._events.append(request)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.body:
            raise ProtocolError(413, "Request body too large")
        self._pending_bytes = 0
        self._events.append(body)

    def on_message_complete(self) -> None:
        self._state = _BETWEEN
        self._pending_bytes = 0
        self._events.append(END_OF_MESSAGE)


def _expects_continue(value: bytes) -> bool:
    """Whether an Expect field asks for 100-continue; ProtocolError(417) for anything else."""
    members = [m for m in (part.strip(b" \t").lower() for part in value.split(b",")) if m]
    if any(member != b"100-continue" for member in members):
        raise ProtocolError(417, "Unsupported expectation")
    return bool(members)


def _other_target(method: bytes, url: bytes, host: bytes | None) -> tuple[bytes, bytes]:
    """The path and query of a target that is not in origin-form (RFC 9112 §3.2)."""
    if method == b"CONNECT":
        raise ProtocolError(400, "CONNECT is not supported")
    if url == b"*":
        if method != b"OPTIONS":
            raise ProtocolError(400, "'*' is a target for OPTIONS only")
        return b"*", b""
    # absolute-form: "http" or "https", an authority, then an optional path and query.
    scheme, sep, rest = url.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        raise ProtocolError(400, "Invalid request target")
    if HASH in rest:
        raise ProtocolError(400, "Fragment in request target")
    end = len(rest)
    for delimiter in b"/?":
        index = rest.find(delimiter)
        if 0 <= index < end:
            end = index
    authority, path_query = rest[:end], rest[end:]
    if AT in authority:
        # RFC 9110 §4.2.4: userinfo is likely there to obscure the authority.
        raise ProtocolError(400, "Userinfo in request target")
    if authority[:1] in (b"", b":") or not is_host(authority):
        raise ProtocolError(400, "Invalid request target")
    if host is not None and host.lower() != authority.lower():
        # RFC 9112 §3.2.2 makes the target win; two names for the host are refused instead,
        # so that no proxy in front and the application can disagree about it.
        raise ProtocolError(400, "Host header does not match the request target")
    raw_path, _, query = path_query.partition(b"?")
    return raw_path or b"/", query


def _describe(exc: Exception) -> str:
    """A short, safe description of a parse error (no bytes of the request echoed)."""
    text = str(exc)
    if "Pause on PRI" in text:
        return "HTTP/2 is not supported on this port"
    return text if text.isprintable() and len(text) < 80 else "Bad request"


# Response heads.

CONTENT_LENGTH: Final = 0  # framing kinds
CHUNKED: Final = 1
CLOSE_DELIMITED: Final = 2
NO_BODY: Final = 3

_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# PERF: names already checked are remembered; apps send the same few again and again.
_GOOD_NAMES: set[bytes] = {b"content-type", b"content-length", b"set-cookie", b"location"}


class InvalidResponse(Exception):
    """The application's response cannot be sent as it is (a server-side error)."""


def encode_response_head(
    status: int,
    headers: ResponseHeaders,
    *,
    method: str,
    http_version: str,
    keep_alive: bool,
    body_length: int | None,
    extra: bytes = b"",
    reason: bytes | None = None,
) -> tuple[bytes, int, int, bool]:
    """The bytes of a response head, its framing, the body length it promises, and keep-alive.

    `body_length` is the length of the whole body when the caller knows it; None means it
    comes in pieces. The application's own Content-Length wins; without one a known length is
    sent as Content-Length, and an unknown one is chunked on HTTP/1.1 or ends with the
    connection on HTTP/1.0. `extra` holds pre-encoded lines (Date, Server) to add unless the
    application sent its own; `reason` is an application's own reason phrase (already checked).
    Returns (head, framing, length, keep_alive); length is -1 unless framing is CONTENT_LENGTH.
    Raises InvalidResponse for a status or header that would corrupt the stream.
    """
    if (
        headers.__class__ is HeaderBlock
        and body_length is not None
        and keep_alive
        and http_version == "1.1"
        and reason is None
        and method != "HEAD"
    ):
        # PERF: the usual response (pre-encoded fields, a whole body, HTTP/1.1 keep-alive)
        # in one formatting step. A HeaderBlock holds no framing field, Date or Server, so
        # the general path below would give the same bytes.
        line = STATUS_LINES_11.get(status)
        if line is not None and status >= 200 and status != 204 and status != 304:
            head = b"%b%bcontent-length: %d\r\n%b\r\n" % (
                line,
                headers.encoded,
                body_length,
                extra,
            )
            return head, CONTENT_LENGTH, body_length, True
    if status < 200 or status > 999:
        raise InvalidResponse(f"status {status} cannot be sent as a final response")
    if reason is None:
        line = (STATUS_LINES_10 if http_version == "1.0" else STATUS_LINES_11).get(status)
        parts = [line or status_line(status, http_version)]
    else:
        parts = [b"HTTP/%s %d %s\r\n" % (http_version.encode(), status, reason)]
    declared: int | None = None
    own_lines: list[bytes] | None = None  # names of `extra` lines the application sent itself
    if headers.__class__ is HeaderBlock:
        # PERF: checked and encoded when the block was made; it holds no framing field.
        parts.append(headers.encoded)
        headers = ()  # type: ignore[assignment]
    for name, value in headers:
        if name not in _GOOD_NAMES:
            name = _check_name(name)
        if LF in value or CR in value or NUL in value:
            raise InvalidResponse(f"header {name!r} has a value with CR, LF or NUL")
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise InvalidResponse(f"content-length {value!r} is not a number") from None
            if declared < 0:
                raise InvalidResponse("content-length is negative")
            continue
        if name == b"connection":
            if b"close" in value.lower():
                keep_alive = False
            continue
        if name == b"transfer-encoding":
            continue  # the server owns the framing
        if name == b"date" or name == b"server":
            own_lines = [*(own_lines or ()), name + b":"]
        parts += (name, b": ", value, b"\r\n")
    if method == "HEAD" and declared is None and not body_length:
        # An empty body to a HEAD says nothing of the GET body's length (RFC 9110 §8.6).
        body_length = None
    if status == 204 or status == 304:  # no content (RFC 9110 §6.4.1); 1xx are refused above
        framing, length = NO_BODY, -1
        if status == 304 and declared is not None:
            parts.append(b"content-length: %d\r\n" % declared)
    elif declared is not None or body_length is not None:
        length = declared if declared is not None else body_length  # type: ignore[assignment]
        framing = CONTENT_LENGTH
        parts.append(b"content-length: %d\r\n" % length)
    elif method == "HEAD":
        framing, length = NO_BODY, -1  # no length known, and no body follows either
    elif http_version == "1.1":
        framing, length = CHUNKED, -1
        parts.append(b"transfer-encoding: chunked\r\n")
    else:
        framing, length, keep_alive = CLOSE_DELIMITED, -1, False
    if method == "HEAD":
        framing = NO_BODY
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    elif http_version == "1.0":
        parts.append(b"connection: keep-alive\r\n")
    if own_lines is not None:
        # Date is a singleton field (RFC 9110 §6.6.1): the application's own wins.
        extra = b"".join(
            line
            for line in extra.splitlines(keepends=True)
            if not line.startswith(tuple(own_lines))
        )
    parts += (extra, b"\r\n")
    return b"".join(parts), framing, length, keep_alive


def encode_switching_head(headers: ResponseHeaders, extra: bytes = b"") -> bytes:
    """The head of a 101 (Switching Protocols) answer with `headers` and the `extra` lines;
    InvalidResponse for a field that cannot be sent."""
    parts = [b"HTTP/1.1 101 Switching Protocols\r\n"]
    for name, value in headers:
        if name not in _GOOD_NAMES:
            name = _check_name(name)
        if LF in value or CR in value or NUL in value:
            raise InvalidResponse(f"header {name!r} has a value with CR, LF or NUL")
        parts += (name, b": ", value, b"\r\n")
    parts += (extra, b"\r\n")
    return b"".join(parts)


def _check_name(name: bytes) -> bytes:
    """A response header name, lower-cased, or InvalidResponse if it is not a token."""
    lowered = name.lower()
    if lowered in _GOOD_NAMES:
        return lowered
    if _TOKEN.fullmatch(name) is None:
        raise InvalidResponse(f"header name {name!r} is not a token")
    if len(_GOOD_NAMES) < 1024:
        _GOOD_NAMES.add(lowered)
    return lowered
