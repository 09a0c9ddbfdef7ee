"""Serving one file: validators, conditional requests, byte ranges and a small-file cache.

`FileCache.respond(path, st, head, ...)` answers a GET or HEAD for one regular file whose
`os.stat` the caller has just taken; `file_response(path, head)` takes the stat itself, for an
application's FileResponse. `StaticFiles` (static.py) sends every file through `respond`.

Evaluation follows RFC 9110 §13.2.2: If-Match, else If-Unmodified-Since (412); then
If-None-Match, else If-Modified-Since (304, GET and HEAD only); then If-Range and Range
(206, multipart/byteranges or 416). Validators: a strong ETag made of the mtime (ns) and
size, like nginx's, and Last-Modified.

Files up to `small_file` bytes are read whole and kept in a bounded LRU keyed by (path,
device, inode, size, mtime_ns, ctime_ns), so a hit costs the caller's one stat and no open.
Larger ones go out as a FileRegion, which the server sends with os.sendfile.
"""

import os
import re
import secrets
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from porch.http.dates import format_http_date, parse_http_date
from porch.http.errors import HTTPError
from porch.http.headers import HeaderBlock
from porch.http.native import Body, FileRegion, RawHeaders, RequestHead, Response
from porch.http.ranges import RangeNotSatisfiable, content_range, parse_range
from porch.server.mediatypes import content_type_for

SMALL_FILE = 65536  # read whole and cached in memory up to this size
CACHE_BYTES = 32 * 1024 * 1024  # the most file content the cache holds
CACHE_ENTRIES = 4096  # the most files it remembers (validators and headers)
# A file changed this recently may change again within one tick of the file system's clock
# without its stamps moving (git's "racy" files): its bytes are not cached yet. ext4, xfs,
# btrfs and tmpfs stamp to the jiffy (<= 10 ms) or finer, HFS+ to the second.
RACY_NS = 1_000_000_000
# Multipart bodies up to this size are built whole; larger ones are read piece by piece.
MULTIPART_WHOLE = 262144
CHUNK = 262144

# O_NONBLOCK: a FIFO swapped in after the caller's stat must not block the event loop.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# The request headers that can change the answer for a file.
_CONDITIONAL = frozenset(
    (
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"if-range",
        b"range",
    )
)
_ACCEPT_RANGES = (b"accept-ranges", b"bytes")
_VARY = (b"vary", b"accept-encoding")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_ENTITY_TAG = re.compile(rb'(W/)?("[^"]*")')


class FileEntry:
    """What is known of one version of a file: validators, response headers, maybe its bytes."""

    __slots__ = (
        "content_type",
        "ctime_ns",
        "data",
        "dev",
        "encoding",
        "etag",
        "headers",
        "ino",
        "last_modified",
        "last_modified_header",
        "mtime_ns",
        "size",
        "vary",
    )

    def __init__(
        self, st: os.stat_result, content_type: bytes, encoding: bytes | None, vary: bool
    ) -> None:
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.size = st.st_size
        self.mtime_ns = st.st_mtime_ns
        self.ctime_ns = st.st_ctime_ns  # changes with every write, and cannot be set back
        self.content_type = content_type
        self.encoding = encoding
        self.vary = vary
        self.data: bytes | None = None
        tag = b'"%x-%x' % (st.st_mtime_ns, st.st_size)
        self.etag = tag + (b"-" + encoding + b'"' if encoding else b'"')
        # RFC 9110 §8.8.2.1: never later than the response's Date.
        self.last_modified = min(st.st_mtime_ns // 1_000_000_000, int(time.time()))
        self.last_modified_header = (
            b"last-modified",
            format_http_date(self.last_modified).encode("ascii"),
        )
        headers: RawHeaders = [
            (b"content-type", content_type),
            (b"etag", self.etag),
            self.last_modified_header,
            _ACCEPT_RANGES,
        ]
        if encoding:
            headers.append((b"content-encoding", encoding))
        if vary:
            headers.append(_VARY)
        # The headers of a 200, encoded once (PERF: most responses send them as they are).
        self.headers = HeaderBlock(headers)

    def same_file(self, st: os.stat_result) -> bool:
        """Whether `st` describes the version of the file this entry was made from."""
        return (
            self.mtime_ns == st.st_mtime_ns
            and self.ctime_ns == st.st_ctime_ns
            and self.size == st.st_size
            and self.ino == st.st_ino
            and self.dev == st.st_dev
        )


class FileCache:
    """A bounded LRU of FileEntry by path; answers requests for files through `respond`.

    Safe to share between threads (a WSGI application's FileResponse runs in a pool).
    """

    def __init__(
        self,
        max_bytes: int = CACHE_BYTES,
        max_entries: int = CACHE_ENTRIES,
        small_file: int = SMALL_FILE,
        settle_ns: int = RACY_NS,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.small_file = small_file
        self.settle_ns = settle_ns  # how long a file must be unchanged for its bytes to be kept
        self._entries: OrderedDict[str, FileEntry] = OrderedDict()
        self._bytes = 0  # the content held, summed
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def cached_bytes(self) -> int:
        """How many bytes of file content the cache holds."""
        return self._bytes

    def entry(
        self,
        path: str,
        st: os.stat_result,
        content_type: bytes,
        encoding: bytes | None = None,
        vary: bool = False,
    ) -> FileEntry:
        """The entry for the file at `path` as `st` describes it (made and kept if new)."""
        entries = self._entries
        with self._lock:
            entry = entries.get(path)
            if entry is not None:
                if (
                    entry.same_file(st)
                    and entry.content_type == content_type
                    and entry.encoding == encoding
                    and entry.vary is vary
                ):
                    entries.move_to_end(path)
                    return entry
                self._drop(path)
            entry = FileEntry(st, content_type, encoding, vary)
            entries[path] = entry
            while len(entries) > self.max_entries:
                self._drop(next(iter(entries)))
            return entry

    def _keep_data(self, path: str, entry: FileEntry, data: bytes) -> None:
        with self._lock:
            if (
                entry.data is not None  # another thread read it too
                or self._entries.get(path) is not entry
                or len(data) > self.max_bytes
            ):
                return
            entry.data = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, path: str) -> None:
        entry = self._entries.pop(path)
        if entry.data is not None:
            self._bytes -= len(entry.data)

    def clear(self) -> None:
        """Forget every file."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def respond(
        self,
        path: str,
        st: os.stat_result,
        head: RequestHead,
        *,
        content_type: bytes,
        encoding: bytes | None = None,
        vary: bool = False,
        headers: RawHeaders | None = None,
        nofollow: bool = False,
    ) -> Response:
        """The response to a GET or HEAD for the regular file at `path`, which `st` describes.

        `encoding` names the Content-Encoding of the file's bytes (a precompressed sibling),
        `vary` adds `Vary: Accept-Encoding`, `headers` are added to every response but errors,
        and `nofollow` refuses to open a symbolic link. Raises HTTPError (404, 403) when the
        file cannot be opened.
        """
        entry = self.entry(path, st, content_type, encoding, vary)
        # PERF: one pass over the request headers; most requests have none of these.
        wanted: dict[bytes, bytes] | None = None
        for name, value in head.headers:
            if name in _CONDITIONAL:
                if wanted is None:
                    wanted = {}
                wanted.setdefault(name, value)
        if wanted is None:
            data = entry.data
            if data is not None:
                # PERF: the cached small file: no open, no read, one list copy.
                if head.method == "HEAD":
                    return _head_only(200, entry.headers, headers, entry.size)
                return Response(200, entry.headers + headers if headers else entry.headers, data)
        else:
            status = evaluate_preconditions(entry, wanted)
            if status == 304:
                kept = [(b"etag", entry.etag), entry.last_modified_header]
                if vary:
                    kept.append(_VARY)
                return Response(304, kept + headers if headers else kept)
            if status == 412:
                return error_response(412, vary)
        entry, content = self._content(path, entry, nofollow)
        return _respond(head, entry, content, wanted, headers)

    def _content(
        self, path: str, entry: FileEntry, nofollow: bool
    ) -> tuple[FileEntry, bytes | int]:
        """The file's bytes (small files, now cached) or an open descriptor the caller owns."""
        if entry.data is not None:
            return entry, entry.data
        fd = open_file(path, nofollow)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise HTTPError(404)
            if not entry.same_file(st):
                # Replaced or changed since the caller's stat: describe what was opened.
                entry = self.entry(path, st, entry.content_type, entry.encoding, entry.vary)
            if st.st_size > self.small_file:
                return entry, fd
            data = _read_all(fd, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        changed = max(entry.mtime_ns, entry.ctime_ns)
        if len(data) == entry.size and time.time_ns() - changed > self.settle_ns:
            self._keep_data(path, entry, data)
        return entry, data


def evaluate_preconditions(entry: FileEntry, wanted: dict[bytes, bytes]) -> int | None:
    """412, 304, or None to go on: the conditional headers of a GET or HEAD (RFC 9110 §13.2.2)."""
    if_match = wanted.get(b"if-match")
    if if_match is not None:
        if not _matches(if_match, entry.etag, weak=False):
            return 412
    else:
        since = wanted.get(b"if-unmodified-since")
        if since is not None:
            moment = parse_http_date(since)
            if moment is not None and entry.last_modified > moment:
                return 412
    if_none_match = wanted.get(b"if-none-match")
    if if_none_match is not None:
        if _matches(if_none_match, entry.etag, weak=True):
            return 304
    else:
        since = wanted.get(b"if-modified-since")
        if since is not None:
            moment = parse_http_date(since)
            if moment is not None and entry.last_modified <= moment:
                return 304
    return None


def _matches(field: bytes, etag: bytes, weak: bool) -> bool:
    """Whether an If-Match / If-None-Match value matches `etag` (a strong tag, quoted)."""
    if field.strip() == b"*":
        return True
    for weak_prefix, opaque in _ENTITY_TAG.findall(field):
        # A weak tag matches nothing in the strong comparison (RFC 9110 §8.8.3.2).
        if opaque == etag and (weak or not weak_prefix):
            return True
    return False


def _range_applies(if_range: bytes | None, entry: FileEntry) -> bool:
    """Whether an If-Range precondition holds: a strong ETag, or the exact Last-Modified date."""
    if if_range is None:
        return True
    value = if_range.strip()
    if value[:1] == b'"' or value[:2] == b"W/":
        return value == entry.etag  # a weak tag never holds (RFC 9110 §13.1.5)
    moment = parse_http_date(value)
    return moment is not None and int(moment) == entry.last_modified


def _respond(
    head: RequestHead,
    entry: FileEntry,
    content: bytes | int,
    wanted: dict[bytes, bytes] | None,
    extra: RawHeaders | None,
) -> Response:
    """The 200, 206 or 416 for a file whose bytes (or open descriptor) are at hand."""
    fd = content if isinstance(content, int) else -1
    try:
        response = _respond_content(head, entry, content, wanted, extra)
        if isinstance(response.body, (FileRegion, Iterator)):
            fd = -1  # the body owns the descriptor now
        return response
    finally:
        if fd >= 0:
            os.close(fd)


def _respond_content(
    head: RequestHead,
    entry: FileEntry,
    content: bytes | int,
    wanted: dict[bytes, bytes] | None,
    extra: RawHeaders | None,
) -> Response:
    size = entry.size
    headers = entry.headers + (extra or ())
    is_head = head.method == "HEAD"
    # RFC 9110 §14.2: Range is defined for GET only; a HEAD gets the 200 a GET would get.
    requested = None
    if wanted is not None and not is_head:
        requested = wanted.get(b"range")
        if requested is not None and not _range_applies(wanted.get(b"if-range"), entry):
            requested = None
    if requested is None:
        if is_head:
            return _head_only(200, headers, None, size)
        return Response(200, headers, _slice(content, 0, size, read_below=0))
    try:
        ranges = parse_range(requested, size)
    except RangeNotSatisfiable:
        unsatisfiable = error_response(416, entry.vary)
        unsatisfiable.headers += [(b"content-range", b"bytes */%d" % size), _ACCEPT_RANGES]
        return unsatisfiable
    if ranges is None:
        return Response(200, headers, _slice(content, 0, size, read_below=0))
    if len(ranges) == 1:
        start, end = ranges[0]
        headers.append((b"content-range", content_range(start, end, size)))
        return Response(206, headers, _slice(content, start, end))
    return _multipart(entry, content, ranges, headers)


def _multipart(
    entry: FileEntry, content: bytes | int, ranges: list[tuple[int, int]], headers: RawHeaders
) -> Response:
    """A multipart/byteranges 206 (RFC 9110 §14.6)."""
    boundary = secrets.token_hex(16).encode("ascii")
    part_type = b"Content-Type: " + entry.content_type + b"\r\n"
    parts = [
        (
            b"--"
            + boundary
            + b"\r\n"
            + part_type
            + b"Content-Range: "
            + content_range(start, end, entry.size)
            + b"\r\n\r\n",
            start,
            end,
        )
        for start, end in ranges
    ]
    tail = b"--" + boundary + b"--\r\n"
    length = sum(len(part) + end - start + 2 for part, start, end in parts) + len(tail)
    headers = [(name, value) for name, value in headers if name != b"content-type"]
    headers.insert(0, (b"content-type", b"multipart/byteranges; boundary=" + boundary))
    headers.append((b"content-length", str(length).encode("ascii")))
    body: Body
    if isinstance(content, bytes) or length <= MULTIPART_WHOLE:
        pieces: list[bytes] = []
        for part, start, end in parts:
            pieces += (part, _read(content, start, end), b"\r\n")
        pieces.append(tail)
        body = b"".join(pieces)
    else:
        body = _multipart_chunks(content, parts, tail)
    return Response(206, headers, body)


def _multipart_chunks(fd: int, parts: list[tuple[bytes, int, int]], tail: bytes) -> Iterator[bytes]:
    """The pieces of a large multipart body, read as they are sent; closes `fd`."""
    try:
        for part, start, end in parts:
            yield part
            while start < end:
                data = os.pread(fd, min(CHUNK, end - start), start)
                if not data:
                    raise OSError("file shrank while being sent")
                start += len(data)
                yield data
            yield b"\r\n"
        yield tail
    finally:
        os.close(fd)


def _slice(
    content: bytes | int, start: int, end: int, read_below: int = SMALL_FILE
) -> bytes | FileRegion:
    """Bytes start..end of the content: a slice, a small read, or a region sent zero-copy."""
    if isinstance(content, bytes):
        return content if start == 0 and end == len(content) else content[start:end]
    if end - start <= read_below:
        return _read(content, start, end)  # the descriptor is closed by the caller
    # PERF: the region takes the descriptor itself (see _respond), with no file object.
    return FileRegion(content, start, end - start)


def _read(content: bytes | int, start: int, end: int) -> bytes:
    if isinstance(content, bytes):
        return content[start:end]
    data = os.pread(content, end - start, start)
    while len(data) < end - start:
        more = os.pread(content, end - start - len(data), start + len(data))
        if not more:
            raise HTTPError(404, "File changed while being read")
        data += more
    return data


def _read_all(fd: int, size: int) -> bytes:
    """The whole file (which may have changed size since its fstat)."""
    chunks = [os.read(fd, size + 1)]
    while chunks[-1]:
        chunks.append(os.read(fd, CHUNK))
    return b"".join(chunks)


def open_file(path: str, nofollow: bool = False) -> int:
    """A read-only descriptor for `path`; HTTPError 404 or 403 when it cannot be opened."""
    try:
        return os.open(path, _OPEN_FLAGS | (_NOFOLLOW if nofollow else 0))
    except PermissionError:
        raise HTTPError(403) from None
    except OSError:
        # Gone since the stat, a symbolic link under nofollow (ELOOP), a socket (ENXIO)...
        raise HTTPError(404) from None


def _head_only(
    status: int, headers: Iterable[tuple[bytes, bytes]], extra: RawHeaders | None, length: int
) -> Response:
    """A HEAD answer: the GET's headers and length, no body read at all."""
    out = [*headers, *(extra or ())]
    out.append((b"content-length", str(length).encode("ascii")))
    return Response(status, out, b"")


_ERROR_BODIES: dict[int, bytes] = {}


def error_response(
    status: int, vary: bool = False, extra: Iterable[tuple[bytes, bytes]] = ()
) -> Response:
    """A short plain-text error response; it echoes nothing of the request."""
    body = _ERROR_BODIES.get(status)
    if body is None:
        from porch.http.status import reason_phrase

        body = _ERROR_BODIES[status] = f"{status} {reason_phrase(status)}\n".encode("ascii")
    headers = [_TEXT, _VARY] if vary else [_TEXT]
    return Response(status, headers + list(extra), body)


def content_disposition(filename: str, disposition: str = "attachment") -> bytes:
    """`attachment; filename="..."; filename*=UTF-8''...` (RFC 6266) for any file name."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\%' else "_" for c in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += "; filename*=UTF-8''" + quote(filename, safe="")
    return value.encode("ascii")


_default_cache = FileCache()


def file_response(
    path: str | os.PathLike[str],
    head: RequestHead,
    *,
    content_type: str | None = None,
    headers: RawHeaders | None = None,
    filename: str | None = None,
    disposition: str = "attachment",
    cache: FileCache | None = None,
    nofollow: bool = False,
) -> Response:
    """The response to a GET or HEAD for one file, with validators, 304/412 and ranges.

    `content_type` defaults to a guess from the name; `filename` adds a Content-Disposition
    (`disposition`, "attachment" or "inline"); `nofollow` refuses to open a symbolic link.
    Raises HTTPError 404 when the path is not a regular file, 403 when it cannot be read.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except PermissionError:
        raise HTTPError(403) from None
    except (OSError, ValueError):  # missing, a bad name (ENAMETOOLONG, NUL)...
        raise HTTPError(404) from None
    if not stat.S_ISREG(st.st_mode):
        raise HTTPError(404)  # a folder, FIFO, socket or device is never opened
    kind = (
        content_type_for(os.path.basename(path))
        if content_type is None
        else content_type.encode("latin-1")
    )
    extra = list(headers) if headers else []
    if filename is not None:
        extra.append((b"content-disposition", content_disposition(filename, disposition)))
    return (cache or _default_cache).respond(
        path, st, head, content_type=kind, headers=extra or None, nofollow=nofollow
    )
