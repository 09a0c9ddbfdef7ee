"""GZipMiddleware: gzip-compress responses for the clients that accept it.

`app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)`.

A response is compressed when all of these hold:
- the client accepts gzip: `Accept-Encoding` names `gzip` (or `x-gzip`, or `*`) with q > 0;
- it has a body worth it: not a 1xx, 204, 206 (a byte range of the identity body) or 304,
  and at least `minimum_size` bytes (a streamed body of unknown length always is);
- it is not encoded already (no `Content-Encoding`), and `Cache-Control: no-transform` does
  not forbid it;
- its media type compresses: not images (SVG, BMP and icons do), audio, video, archives,
  woff fonts or PDF, and not `text/event-stream`, whose events must leave one by one.

Then the body is gzipped (a streamed one chunk by chunk, each chunk flushed so that it leaves
at once), `Content-Encoding: gzip` is set, `Content-Length` dropped for the server to count
again, and `Vary: Accept-Encoding` added. A strong `ETag` becomes weak (`W/"…"`): the gzipped
bytes are another representation, so the strong tag of the identity bytes may not stand for
them (RFC 9110 §8.8.3), while a weak tag still matches in If-None-Match, so revalidation keeps
giving 304s. (A suffixed tag, Apache's `"…-gzip"`, would never match the application's own
tag again, and break every 304.) A 304 to a gzip client carries the same weak tag.

Every response that could have been compressed gets `Vary: Accept-Encoding`, the identity one
to a client without gzip too (RFC 9110 §12.5.5), so that no shared cache hands either to the
other kind of client. A HEAD gets the headers a GET would, without a body or a length: its body
is never compressed. A file (FileResponse, a static mount) larger than the server sends from
memory comes as a FileRegion: up to `max_file_size` (4 MiB) of a compressible type it is read
and compressed in a worker thread; larger ones go out as they are, zero-copy. Precompressed
static files (`name.gz` beside `name`) already carry their Content-Encoding.
"""

import asyncio
import functools
import os
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING

from porch.http.headers import HeaderBlock, parse_quality_list
from porch.http.native import Body, FileRegion, RawHeaders, ResponseHeaders
from porch.http.native import Response as NativeResponse
from porch.web.middleware.base import CallNext, Middleware
from porch.web.middleware.fields import Derived, Fields, with_vary

if TYPE_CHECKING:
    from porch.web.request import Request

# A whole body this large is compressed in a worker thread (zlib lets go of the GIL), so the
# event loop never waits more than about a millisecond for one response.
THREAD_SIZE = 128 * 1024
MAX_FILE_SIZE = 4 * 1024 * 1024
GZIP_WBITS = 31  # zlib's deflate in a gzip wrapper (16 + 15-bit window)

# Media types that are compressed already, or must not wait for a compressor's buffer.
INCOMPRESSIBLE = frozenset(
    (
        b"text/event-stream",
        b"application/zip",
        b"application/gzip",
        b"application/x-gzip",
        b"application/x-brotli",
        b"application/zstd",
        b"application/x-xz",
        b"application/x-bzip2",
        b"application/x-7z-compressed",
        b"application/x-rar-compressed",
        b"application/vnd.rar",
        b"application/pdf",
        b"font/woff",
        b"font/woff2",
    )
)
_MEDIA = (b"image/", b"audio/", b"video/")
# The images that are text or raw pixels, and compress well.
COMPRESSIBLE_IMAGES = frozenset(
    (b"image/svg+xml", b"image/bmp", b"image/x-icon", b"image/vnd.microsoft.icon")
)

_VARY = (b"vary", b"Accept-Encoding")
_GZIP = (b"content-encoding", b"gzip")

# PERF: clients send a handful of distinct Accept-Encoding values; each is parsed once.
_accepts: dict[bytes, bool] = {}


def accepts_gzip(accept_encoding: bytes | None) -> bool:
    """Whether an Accept-Encoding value lets the response be gzipped (RFC 9110 §12.5.3)."""
    if accept_encoding is None:
        return False
    known = _accepts.get(accept_encoding)
    if known is not None:
        return known
    weights = parse_quality_list(accept_encoding)
    named = [weights[name] for name in ("gzip", "x-gzip") if name in weights]
    # A coding the field names has its own weight; one it does not name gets that of '*'.
    quality = max(named) if named else weights.get("*", 0.0)
    accepted = quality > 0.0
    if len(_accepts) < 256:
        _accepts[accept_encoding] = accepted
    return accepted


def compressible(content_type: bytes | None) -> bool:
    """Whether a response of this Content-Type is worth gzipping (unknown types are)."""
    if content_type is None:
        return True
    kind = content_type.partition(b";")[0].strip().lower()
    if kind in INCOMPRESSIBLE:
        return False
    if kind.startswith(_MEDIA):
        return kind in COMPRESSIBLE_IMAGES
    return True


def _facts(headers: Fields) -> tuple[bool, int | None]:
    """(whether the response may be compressed, its declared Content-Length or None)."""
    content_type: bytes | None = None
    length: int | None = None
    for name, value in headers:
        name = name.lower()
        if name == b"content-type":
            content_type = value
        elif name == b"content-encoding":
            return False, None
        elif name == b"cache-control":
            if b"no-transform" in value.lower():
                return False, None
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
    return compressible(content_type), length


def _weak_etag(fields: RawHeaders) -> RawHeaders:
    return [
        (name, b"W/" + value)
        if name.lower() == b"etag" and not value.startswith(b"W/")
        else (name, value)
        for name, value in fields
    ]


def _gzip_fields(headers: Fields) -> RawHeaders:
    fields = [(n, v) for n, v in with_vary(headers, _VARY) if n.lower() != b"content-length"]
    fields.append(_GZIP)
    return _weak_etag(fields)


def _not_modified_fields(headers: Fields) -> RawHeaders:
    return _weak_etag(with_vary(headers, _VARY))


class GZipMiddleware(Middleware):
    """Gzip responses of `minimum_size` bytes or more for clients that accept it."""

    def __init__(
        self,
        minimum_size: int = 500,
        compresslevel: int = 6,
        max_file_size: int = MAX_FILE_SIZE,
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError(f"compresslevel must be 1 to 9, not {compresslevel!r}")
        if minimum_size < 0 or max_file_size < 0:
            raise ValueError("minimum_size and max_file_size cannot be negative")
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.max_file_size = max_file_size
        self._facts: dict[HeaderBlock, tuple[bool, int | None]] = {}
        self._vary = Derived(functools.partial(with_vary, vary=_VARY))
        self._gzip = Derived(_gzip_fields)
        self._not_modified = Derived(_not_modified_fields)

    def _facts_of(self, headers: ResponseHeaders) -> tuple[bool, int | None]:
        if headers.__class__ is not HeaderBlock:
            return _facts(headers)
        # PERF: a HeaderBlock is looked through once, not on every response that carries it.
        facts = self._facts.get(headers)
        if facts is None:
            facts = _facts(headers)
            if len(self._facts) >= 512:
                self._facts.clear()
            self._facts[headers] = facts
        return facts

    async def __call__(self, request: "Request", call_next: CallNext) -> NativeResponse:
        """Compress the response to `request` if it is worth it and the client accepts it."""
        response = await call_next(request)
        status = response.status
        body = response.body
        # PERF: a small whole body (most answers of an API) leaves before any header is read.
        # (A HEAD to a static file has an empty body and the GET's length: it goes on.)
        if (
            body.__class__ is bytes
            and len(body) < self.minimum_size
            and status != 304
            and request.head.method != "HEAD"
        ):
            return response
        if status == 304:
            return self._revalidated(request, response)
        if status < 200 or status == 204 or status == 206:
            return response
        headers = response.headers
        eligible, length = self._facts_of(headers)
        if not eligible:
            return response
        if isinstance(body, bytes):
            size: int | None = length if length is not None else len(body)
        elif isinstance(body, FileRegion):
            size = body.count
            if size > self.max_file_size:
                return response
        else:
            size = length  # a stream: None, unless the application said
        if size is not None and size < self.minimum_size:
            return response
        head = request.head
        if not accepts_gzip(head.header(b"accept-encoding")):
            return NativeResponse(status, self._vary(headers), body)
        gzip_headers = self._gzip(headers)
        if head.method == "HEAD":
            return NativeResponse(status, gzip_headers, _without_body(body))
        level = self.compresslevel
        if isinstance(body, bytes):
            if len(body) < THREAD_SIZE:
                return NativeResponse(status, gzip_headers, zlib.compress(body, level, GZIP_WBITS))
            loop = asyncio.get_running_loop()
            compress = functools.partial(zlib.compress, body, level, GZIP_WBITS)
            return NativeResponse(status, gzip_headers, await loop.run_in_executor(None, compress))
        if isinstance(body, FileRegion):
            loop = asyncio.get_running_loop()
            compress = functools.partial(_compress_region, body, level)
            return NativeResponse(status, gzip_headers, await loop.run_in_executor(None, compress))
        if isinstance(body, AsyncIterable):
            return NativeResponse(status, gzip_headers, _gzip_stream(body, level))
        return NativeResponse(status, gzip_headers, _gzip_chunks(body, level))

    def _revalidated(self, request: "Request", response: NativeResponse) -> NativeResponse:
        """A 304 with the Vary, and to a gzip client the weak ETag, its 200 would have had."""
        headers = response.headers
        if not self._facts_of(headers)[0]:
            return response
        if not accepts_gzip(request.head.header(b"accept-encoding")):
            return NativeResponse(304, self._vary(headers), response.body)
        return NativeResponse(304, self._not_modified(headers), response.body)


def _without_body(body: Body) -> Body:
    """The body of a HEAD answered with the GET's headers: nothing, and no length to claim."""
    if isinstance(body, FileRegion):
        body.close()
        return ()
    if isinstance(body, bytes):
        return ()
    return body  # a stream: the server drains and closes it, and sends nothing of it


def _compress_region(region: FileRegion, level: int) -> bytes:
    """A file region read and gzipped whole (in a worker thread); the region is closed."""
    try:
        fd, offset, left = region.fileno(), region.offset, region.count
        compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
        parts = []
        while left > 0:
            data = os.pread(fd, min(left, 1048576), offset)
            if not data:
                raise OSError("file shorter than the region to send (changed on disk?)")
            offset += len(data)
            left -= len(data)
            parts.append(compressor.compress(data))
        parts.append(compressor.flush())
        return b"".join(parts)
    finally:
        region.close()


async def _gzip_stream(body: AsyncIterable[bytes], level: int) -> AsyncIterator[bytes]:
    """An async body gzipped on the fly; each chunk is flushed so that it leaves at once."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
    try:
        async for chunk in body:
            if chunk:
                yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        yield compressor.flush()
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()


def _gzip_chunks(body: Iterable[bytes], level: int) -> Iterator[bytes]:
    """A sync body gzipped on the fly (read on the event loop, as the server would)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS)
    try:
        for chunk in body:
            if chunk:
                yield compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
        yield compressor.flush()
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
