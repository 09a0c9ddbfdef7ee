"""The battery: the requests that tests/server/test_thirdparty.py sends to every app in
tests/apps, under porch and under the app's reference server, and what the reference must
answer (so that the battery tests what it says it tests)."""

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.apps import STREAM_CHUNKS, stream_chunk

PREFIX = "/prefix"  # the root path of the servers that run with one
HOST = "example.test"  # the Host of every request: the apps echo it, and ports differ
BOUNDARY = "porch-battery-2c9e1f"
FILE_SIZE = 300_000  # past 64 KiB: porch sends it with sendfile


def file_content() -> bytes:
    """What /file serves (the test writes it, with a fixed mtime, before the servers start)."""
    return random.Random(7).randbytes(FILE_SIZE)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, str, bytes]]) -> bytes:
    """A multipart/form-data body with a fixed boundary, so both servers get the same bytes."""
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for name, (filename, content_type, data) in files.items():
        parts.append(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


SMALL_FILE = b"hello, porch\n" * 80
LARGE_FILE = random.Random(99).randbytes(3 * 1024 * 1024 + 17)
MULTIPART = ("content-type", f"multipart/form-data; boundary={BOUNDARY}")
JSON_ORDER = {"name": "widget", "price": 2.5, "quantity": 4, "tags": ["a", "é"]}


def _in_pieces(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass(frozen=True)
class Case:
    """One behaviour: a request, and where and how it is compared."""

    name: str
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str | bytes], ...] = ()
    body: bytes | Callable[[], Iterator[bytes]] | None = None
    prefixed: bool = False  # sent to the servers run with the root path
    interfaces: tuple[str, ...] = ("wsgi", "asgi")
    raw: bytes | None = None  # sent as these exact bytes over a socket, not by httpx
    checks: tuple[str, ...] = ()  # extra facts to compare: "streamed", "reason"
    # What the reference server must answer, so that the battery tests what it says it does
    # (and not, say, 30 matching 404s): a status (per app where frameworks differ) and a
    # piece of the body.
    status: int = 200
    status_for: tuple[tuple[str, int], ...] = ()
    body_has: str = ""
    server_page: bool = False  # the server answers, not the app: only the status is compared

    def expected_status(self, app: str) -> int:
        """The status the reference server answers for `app`."""
        return dict(self.status_for).get(app, self.status)

    @property
    def http10(self) -> bool:
        """Whether the request is HTTP/1.0."""
        return self.raw is not None and self.raw.split(b"\r\n", 1)[0].endswith(b" HTTP/1.0")

    def path_for(self, interface: str) -> str:
        # WSGI servers see the prefix in the request; ASGI servers see it stripped.
        return PREFIX + self.path if self.prefixed and interface == "wsgi" else self.path


SMALL_UPLOAD = multipart({"note": "small"}, {"file": ("hello.txt", "text/plain", SMALL_FILE)})
SMALL_SHA = hashlib.sha256(SMALL_FILE).hexdigest()
LARGE_SHA = hashlib.sha256(LARGE_FILE).hexdigest()
STREAMED = b"".join(stream_chunk(index) for index in range(STREAM_CHUNKS)).decode()
UPLOAD = (MULTIPART,)
JSON = (("content-type", "application/json"),)

CASES = [
    Case("query_params", "/query?a=1&b=two&b=three&u=caf%C3%A9&empty=", body_has="three"),
    Case("query_plus_and_emoji", "/query?a=x+y%2Bz&u=%F0%9F%90%8D", body_has="x y+z"),
    Case("path_params", "/items/42/widget", body_has="42"),
    Case(
        "path_param_not_int",
        "/items/forty-two/widget",
        status=404,
        status_for=(("fastapi", 422),),
    ),
    Case("json_body", "/json", "POST", JSON, json.dumps(JSON_ORDER).encode(), body_has="10.0"),
    Case(
        "json_invalid",
        "/json",
        "POST",
        JSON,
        b'{"name": "widget", ',
        status=500,
        status_for=(("flask", 400), ("fastapi", 422)),
    ),
    Case(
        "form_urlencoded",
        "/form",
        "POST",
        (("content-type", "application/x-www-form-urlencoded"),),
        b"name=Ann+Lee&multi=1&multi=2&text=caf%C3%A9+%26+more",
        body_has="Ann Lee",
    ),
    Case(
        "upload_small",
        "/upload",
        "POST",
        UPLOAD,
        SMALL_UPLOAD,
        body_has=SMALL_SHA,
    ),
    Case(
        "upload_3mb",
        "/upload",
        "POST",
        UPLOAD,
        multipart({"note": "large"}, {"file": ("big.bin", "application/octet-stream", LARGE_FILE)}),
        body_has=LARGE_SHA,
    ),
    Case(
        # Django reads no body without a Content-Length (it finds no file: its 500 page).
        "upload_3mb_chunked",
        "/upload",
        "POST",
        UPLOAD,
        lambda: _in_pieces(
            multipart({"note": "chunked"}, {"file": ("big.bin", "text/plain", LARGE_FILE)})
        ),
        status_for=(("django", 500), ("django-asgi", 500)),
    ),
    Case(
        "upload_expect_100_continue",
        "/upload",
        "POST",
        raw=b"POST /upload HTTP/1.1\r\nHost: example.test\r\nExpect: 100-continue\r\n"
        b"Content-Type: multipart/form-data; boundary=%b\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%b" % (BOUNDARY.encode(), len(SMALL_UPLOAD), SMALL_UPLOAD),
        body_has=SMALL_SHA,
    ),
    Case("set_cookie", "/cookie/set", body_has="cookies set"),
    Case(
        "read_cookie",
        "/cookie/read",
        headers=(("cookie", "session=abc123; theme=dark"),),
        body_has="abc123",
    ),
    Case("redirect_302", "/redirect/302", status=302),
    Case("redirect_301", "/redirect/301", status=301),
    Case("redirect_308", "/redirect/308", status=308),
    Case("streaming", "/stream", checks=("streamed",), body_has=STREAMED),
    Case("large_2mb", "/large"),
    Case("custom_status_headers", "/custom", status=202),
    Case("reason_phrase", "/reason", checks=("reason",), status=299),
    Case("head_large", "/large", "HEAD"),
    Case("head_query", "/query?a=1", "HEAD"),
    Case("head_stream", "/stream", "HEAD"),
    Case("not_found", "/no/such/page", status=404),
    Case("method_not_allowed", "/json", "PUT", JSON, b"{}", status=405),
    Case("exception_500", "/error", status=500),
    Case("forbidden_403", "/forbidden", status=403),
    Case(
        "request_headers_echo",
        "/headers",
        headers=(
            ("x-dup", "first"),
            ("x-dup", "second"),
            ("x-one", "1"),
            ("x-comma", "a, b"),
            ("x-latin", b"caf\xe9"),
            ("x_under", "an underscore"),
        ),
        body_has="second",
    ),
    Case(
        "request_headers_raw",
        "/headers",
        raw=b"GET /headers HTTP/1.1\r\nHost: example.test\r\nX-Lead:   \t leading\r\n"
        b"X-Empty:\r\nX-Dup: 1\r\nx-DUP: 2\r\nConnection: close\r\n\r\n",
        body_has="leading",
    ),
    Case(
        # RFC 9112 §5: OWS around a field value is not part of it. uvicorn's httptools
        # protocol keeps the trailing OWS, so only gunicorn is a faithful reference.
        "request_header_trailing_whitespace",
        "/headers",
        raw=b"GET /headers HTTP/1.1\r\nHost: example.test\r\nX-Padded: padded \t \r\n"
        b"Connection: close\r\n\r\n",
        interfaces=("wsgi",),
        body_has="padded",
    ),
    Case("unicode_path", "/caf%C3%A9", body_has="café"),
    Case("unicode_segment", "/p/%E2%9C%93-caf%C3%A9", body_has="caf"),
    Case("encoded_slash_segment", "/p/a%2Fb", status=404),
    Case("encoded_slash_path", "/pathinfo/a%2Fb/c%20d", body_has="a/b/c d"),
    Case("invalid_utf8_segment", "/p/%FF", raw=b"GET /p/%FF HTTP/1.1\r\nHost: h\r\n\r\n"),
    Case(
        # Werkzeug merges the slashes; the others find no route. (Raw: httpx would read
        # "//p" as a host.)
        "double_slash",
        "//p/x",
        raw=b"GET //p/x HTTP/1.1\r\nHost: example.test\r\n\r\n",
        status=404,
        status_for=(("flask", 200),),
    ),
    Case(
        "absolute_form_target",
        "/query?a=abs",
        raw=b"GET http://example.test/query?a=abs HTTP/1.1\r\nHost: example.test\r\n\r\n",
        body_has="abs",
    ),
    Case(
        "options_asterisk",
        "*",
        "OPTIONS",
        raw=b"OPTIONS * HTTP/1.1\r\nHost: example.test\r\n\r\n",
        status=404,
    ),
    Case(
        # Not a valid request line (RFC 9112 §3.2): every server refuses it with its own page.
        "raw_utf8_in_target",
        "/caf\u00e9",
        raw=b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: example.test\r\n\r\n",
        status=400,
        server_page=True,
    ),
    Case("file_download", "/file", body_has=hashlib.sha256(file_content()).hexdigest()),
    Case("file_head", "/file", "HEAD"),
    Case(
        # Django's FileResponse serves whole files only.
        "file_range",
        "/file",
        headers=(("range", "bytes=1000-1999"),),
        status=206,
        status_for=(("django", 200), ("django-asgi", 200)),
    ),
    Case(
        "file_range_suffix",
        "/file",
        headers=(("range", "bytes=-500"),),
        status=206,
        status_for=(("django", 200), ("django-asgi", 200)),
    ),
    Case(
        "file_range_unsatisfiable",
        "/file",
        headers=(("range", f"bytes={FILE_SIZE + 10}-"),),
        status=416,
        status_for=(("django", 200), ("django-asgi", 200)),
    ),
    Case(
        # Werkzeug answers conditional requests itself; the others' FileResponse does not.
        "file_if_modified_since",
        "/file",
        headers=(("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT"),),
        status=200,
        status_for=(("flask", 304),),
    ),
    Case("client_ip", "/client", body_has="127.0.0.1"),
    Case(
        "client_ip_forwarded",
        "/client",
        headers=(("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")),
        interfaces=("asgi",),
        body_has="203.0.113.7",
    ),
    Case("url_for", "/url", body_has="/items/7/"),
    Case(
        "url_for_forwarded_proto",
        "/url",
        headers=(("x-forwarded-proto", "https"),),
        body_has="https://example.test/",
    ),
    Case(
        "http10_stream",
        "/stream",
        raw=b"GET /stream HTTP/1.0\r\nHost: example.test\r\n\r\n",
        body_has=STREAMED,
    ),
    Case(
        "http10_keep_alive_query",
        "/query?a=1",
        raw=b"GET /query?a=1 HTTP/1.0\r\nHost: example.test\r\nConnection: keep-alive\r\n\r\n",
    ),
    Case("root_path_url_for", "/url", prefixed=True, body_has="/prefix/items/7/"),
    Case("root_path_redirect", "/redirect/302", prefixed=True, status=302),
    Case("root_path_query", "/query?a=1", prefixed=True),
    Case("root_path_not_found", "/no/such/page", prefixed=True, status=404),
    Case(
        "root_path_unstripped",
        PREFIX + "/url",
        prefixed=True,
        interfaces=("asgi",),
        status=404,
    ),
]
