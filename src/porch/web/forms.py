"""Forms: urlencoded bodies and multipart uploads, parsed as the body streams in.

Uploaded files go to a SpooledTemporaryFile: in memory up to 1 MiB, on disk past it. A body
that is not a form gets 415, a malformed one 400, and a form past the limits 413.
"""

import asyncio
import tempfile
from collections.abc import Callable
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from porch.http.errors import HTTPError
from porch.http.native import Response as NativeResponse
from porch.web.datastructures import Headers, MultiDict
from porch.web.responses import when_sent

if TYPE_CHECKING:
    from porch.web.request import Request

SPOOL_SIZE = 1024 * 1024  # an upload stays in memory up to this, then goes to disk
MAX_FIELDS = 1000  # form fields (not files) in one form
MAX_FILES = 1000
MAX_FIELD_SIZE = 1024 * 1024  # bytes of one text field (or name), once decoded
# A part's header lines together (Content-Disposition with a long file name is some 1 KiB),
# and how many of them: browsers send two.
MAX_PART_HEADER_SIZE = 8 * 1024
MAX_PART_HEADERS = 8


class UploadFile:
    """A file sent in a multipart form."""

    def __init__(self, filename: str, content_type: str, headers: Headers) -> None:
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)  # noqa: SIM115
        self.size = 0

    @property
    def in_memory(self) -> bool:
        """Whether the file is still held in memory (not rolled over to disk)."""
        return not getattr(self.file, "_rolled", True)

    def _write(self, data: bytes) -> None:
        self.file.write(data)
        self.size += len(data)

    async def read(self, size: int = -1) -> bytes:
        """Read from the file (from the start, unless read or seeked before)."""
        if self.in_memory:
            return self.file.read(size)
        return await asyncio.get_running_loop().run_in_executor(None, self.file.read, size)

    async def seek(self, offset: int) -> None:
        """Move to `offset`."""
        self.file.seek(offset)

    async def close(self) -> None:
        """Close (and delete) the file."""
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadFile {self.filename!r} {self.content_type} {self.size} bytes>"


class FormData(MultiDict):
    """A form's text fields (`form.get(name)`, `form.getlist(name)`) and its `files`."""

    __slots__ = ("files", "files_list")

    def __init__(
        self,
        fields: list[tuple[str, str]] | None = None,
        files: list[tuple[str, UploadFile]] | None = None,
    ) -> None:
        super().__init__(fields or ())
        self.files_list = files or []
        first: dict[str, UploadFile] = {}
        for name, upload in self.files_list:
            first.setdefault(name, upload)
        self.files = first  # name -> the first file sent under that name

    def getfiles(self, name: str) -> list[UploadFile]:
        """Every file sent under `name`."""
        return [upload for key, upload in self.files_list if key == name]

    async def close(self) -> None:
        """Close every uploaded file."""
        self.close_files()

    def close_files(self) -> None:
        """Close (and so delete) every uploaded file."""
        for _, upload in self.files_list:
            upload.file.close()


def close_uploads_after(response: NativeResponse, form: FormData) -> NativeResponse:
    """`response`, with the form's uploads closed once it is sent."""
    if not form.files_list:
        return response
    return when_sent(response, form.close_files)


async def parse_form(request: "Request") -> FormData:
    """The form in a request's body."""
    content_type = request.headers.get("content-type", "")
    kind, options = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":
        charset = options.get(b"charset", b"utf-8").decode("latin-1")
        if not _ascii_compatible(charset):
            raise HTTPError(400, f"Unsupported form charset {charset!r}")
        return FormData(_parse_urlencoded(await request.body(), charset))
    if kind == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise HTTPError(400, "Multipart form without a boundary")
        return await _parse_multipart(request, boundary)
    body = await request.body()
    if not body and not kind:
        return FormData()
    raise HTTPError(
        415, "Expected a form (application/x-www-form-urlencoded or multipart/form-data)"
    )


# What an urlencoded body is split and decoded on: the charset must write them as ASCII does.
_URLENCODED_SYNTAX = "a=1&b=+%"


def _ascii_compatible(charset: str) -> bool:
    try:
        return _URLENCODED_SYNTAX.encode(charset) == _URLENCODED_SYNTAX.encode("ascii")
    except (LookupError, UnicodeError):  # unknown, or not a text encoding (rot13)
        return False


def _parse_urlencoded(body: bytes, charset: str) -> list[tuple[str, str]]:
    """The fields of an urlencoded body, as parse_qsl finds them, within the form limits."""
    # Counted before anything is split: a flood of '&' costs no list.
    if body.count(b"&") >= MAX_FIELDS:
        raise HTTPError(413, f"More than {MAX_FIELDS} form fields")
    fields = []
    try:
        for piece in body.split(b"&"):
            if piece:
                name, _, value = piece.partition(b"=")
                fields.append((_form_text(name, charset), _form_text(value, charset)))
    except UnicodeDecodeError:
        raise HTTPError(400, f"Form data is not valid {charset}") from None
    return fields


def _form_text(raw: bytes, charset: str) -> str:
    """One name or value of an urlencoded form, decoded; 413 past MAX_FIELD_SIZE."""
    # Each escape (3 bytes) decodes to one byte: what is too big however it decodes is
    # refused before any copy of it is made.
    if len(raw) > MAX_FIELD_SIZE and len(raw) - 2 * raw.count(b"%") > MAX_FIELD_SIZE:
        raise HTTPError(413, f"A form field is larger than {MAX_FIELD_SIZE} bytes")
    if b"+" in raw:
        raw = raw.replace(b"+", b" ")
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    if len(raw) > MAX_FIELD_SIZE:
        raise HTTPError(413, f"A form field is larger than {MAX_FIELD_SIZE} bytes")
    # Decoded after unescaping, with the charset: some clients (curl -d) send text as it is.
    return raw.decode(charset)


class _MultipartState:
    """What the parser's callbacks build, part by part."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files: list[tuple[str, UploadFile]] = []
        self.header_name = b""
        self.header_value = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_size = 0  # bytes of this part's header lines so far
        self.name = ""
        self.upload: UploadFile | None = None
        self.data = bytearray()
        self.error: HTTPError | None = None
        self.ended = False  # the closing boundary was seen

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value_data,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_end": self.end,
        }

    def end(self) -> None:
        self.ended = True

    def fail(self, status: int, detail: str) -> None:
        if self.error is None:
            self.error = HTTPError(status, detail)

    def part_begin(self) -> None:
        self.headers = []
        self.header_size = 0
        self.upload = None
        self.data = bytearray()

    # The parser bounds part headers too (max_header_size and _count); these bounds are porch's
    # own, so that what is kept never depends on the parser's release or its defaults. Past
    # them, parsing stops at once (the exception leaves the parser's write).

    def _count_header_bytes(self, size: int) -> None:
        self.header_size += size
        if self.header_size > MAX_PART_HEADER_SIZE:
            raise HTTPError(
                400, f"A form part's headers are larger than {MAX_PART_HEADER_SIZE} bytes"
            )

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self.header_name += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._count_header_bytes(end - start)
        self.header_value += data[start:end]

    def header_end(self) -> None:
        if len(self.headers) >= MAX_PART_HEADERS:
            raise HTTPError(400, f"A form part has more than {MAX_PART_HEADERS} headers")
        self.headers.append((self.header_name.lower(), self.header_value))
        self.header_name = b""
        self.header_value = b""

    def headers_finished(self) -> None:
        disposition = dict(self.headers).get(b"content-disposition")
        if disposition is None:
            self.fail(400, "A form part has no Content-Disposition")
            return
        _, options = parse_options_header(disposition)
        name = options.get(b"name")
        if name is None:
            self.fail(400, "A form part has no name")
            return
        self.name = name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if len(self.fields) >= MAX_FIELDS:
                self.fail(413, f"More than {MAX_FIELDS} form fields")
            return
        if len(self.files) >= MAX_FILES:
            self.fail(413, f"More than {MAX_FILES} files")
            return
        headers = Headers(self.headers)
        self.upload = UploadFile(
            filename.decode("utf-8", "replace"),
            headers.get("content-type", "application/octet-stream"),
            headers,
        )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        if self.upload is not None:
            self.upload._write(data[start:end])
            return
        self.data += data[start:end]
        if len(self.data) > MAX_FIELD_SIZE:
            self.fail(413, f"A form field is larger than {MAX_FIELD_SIZE} bytes")

    def part_end(self) -> None:
        if self.error is not None:
            return
        if self.upload is not None:
            self.upload.file.seek(0)
            self.files.append((self.name, self.upload))
            self.upload = None
        else:
            try:
                self.fields.append((self.name, self.data.decode("utf-8")))
            except UnicodeDecodeError:
                self.fail(400, f"Form field {self.name!r} is not valid UTF-8")


async def _parse_multipart(request: "Request", boundary: bytes) -> FormData:
    state = _MultipartState()
    try:
        parser = MultipartParser(
            boundary,
            state.callbacks(),  # type: ignore[arg-type]
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_SIZE,
        )
    except FormParserError as exc:  # a boundary longer than any client makes
        raise HTTPError(400, f"Malformed multipart form: {exc}") from None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state.error is not None:
                raise state.error
        parser.finalize()
        if not state.ended and state.error is None:
            raise MultipartParseError("the body ended before the closing boundary")
    except MultipartParseError as exc:
        _close_all(state)
        raise HTTPError(400, f"Malformed multipart form: {exc}") from None
    except BaseException:
        _close_all(state)
        raise
    if state.error is not None:
        _close_all(state)
        raise state.error
    return FormData(state.fields, state.files)


def _close_all(state: _MultipartState) -> None:
    for _, upload in state.files:
        upload.file.close()
    if state.upload is not None:
        state.upload.file.close()
