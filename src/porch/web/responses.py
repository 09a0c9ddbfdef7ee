"""Responses: what handlers return, and how each becomes the server's native Response.

Every response class renders its content to bytes (or keeps a stream or a file) at once; it
becomes a `porch.http.Response` in `finish(request)`, where what depends on the request is
decided: the Secure flag of cookies on HTTPS, and the conditional and range handling of files.
"""

import asyncio
import inspect
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote_to_bytes

import msgspec

from porch.http.cookies import format_set_cookie
from porch.http.errors import HTTPError
from porch.http.headers import HeaderBlock
from porch.http.native import Body, FileRegion
from porch.http.native import Response as NativeResponse
from porch.web.datastructures import MutableHeaders

if TYPE_CHECKING:
    from porch.web.request import Request

HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]] | None

_json_encode = msgspec.json.Encoder().encode


def encode_json(content: Any) -> bytes:
    """JSON bytes for dicts, lists, dataclasses, msgspec structs, datetimes, UUIDs…"""
    return _json_encode(content)


class Response:
    """A response with a body known at once: content, status, headers and media type."""

    __slots__ = ("_cookies", "_headers", "_raw", "body", "status")

    media_type: str | None = None
    charset = "utf-8"
    # The Content-Type header of the class's media type, encoded once per class; and as a
    # HeaderBlock, for the responses whose headers nobody touched (checked and encoded once).
    _content_type: tuple[bytes, bytes] | None = None
    _block: HeaderBlock | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._content_type = (
            (b"content-type", content_type_value(cls.media_type, cls.charset).encode("latin-1"))
            if cls.media_type is not None
            else None
        )
        cls._block = HeaderBlock([cls._content_type]) if cls._content_type else None

    def __init__(
        self,
        content: Any = b"",
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> None:
        self.status = status
        self.body: Body = self.render(content)
        self._cookies: list[tuple[str, dict[str, Any]]] | None = None
        # The raw (name, value) list; `headers` is a view made only if it is asked for.
        self._headers: MutableHeaders | None = None
        if headers is None and media_type is None:
            # PERF: the usual response: the class's own Content-Type, nothing to look up.
            kind = self._content_type
            self._raw = [kind] if kind is not None else []
            return
        self._raw = []
        if headers is not None:
            items = headers.items() if isinstance(headers, Mapping) else headers
            for name, value in items:
                self.headers.append(name, value)
        media_type = media_type or self.media_type
        if media_type is not None and "content-type" not in self.headers:
            self.headers.append("content-type", content_type_value(media_type, self.charset))

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, to read and change (`response.headers["X-A"] = "b"`)."""
        view = self._headers
        if view is None:
            view = self._headers = MutableHeaders(self._raw)
        return view

    @property
    def status_code(self) -> int:
        """The status (Starlette's name for it)."""
        return self.status

    def render(self, content: Any) -> Body:
        """The body bytes for `content` (str is encoded with the charset)."""
        cls = content.__class__
        if cls is str:  # PERF: the usual content first, by exact class
            return content.encode(self.charset)  # type: ignore[no-any-return]
        if cls is bytes:
            return content  # type: ignore[no-any-return]
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        raise TypeError(f"{type(self).__name__} cannot send a {type(content).__name__}")

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | float | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "lax",
    ) -> None:
        """Set a cookie: HttpOnly and SameSite=Lax by default, Secure when served over HTTPS."""
        # Checked now, so that a bad cookie fails where it is set, not after the handler.
        format_set_cookie(key, value, path=path, domain=domain, samesite=samesite)
        if self._cookies is None:
            self._cookies = []
        self._cookies.append(
            (
                key,
                {
                    "value": value,
                    "max_age": max_age,
                    "expires": expires,
                    "path": path,
                    "domain": domain,
                    "secure": secure,
                    "httponly": httponly,
                    "samesite": samesite,
                },
            )
        )

    def delete_cookie(self, key: str, path: str = "/", domain: str | None = None) -> None:
        """Tell the client to forget a cookie."""
        self.set_cookie(key, "", max_age=0, expires=0, path=path, domain=domain)

    def finish(self, request: "Request") -> NativeResponse:
        """The native response for `request`."""
        if self._cookies:
            self._add_cookies(request)
        raw = self._raw
        if self._headers is None and len(raw) == 1 and raw[0] is self._content_type:
            # PERF: the headers are the class's own Content-Type alone: the server copies the
            # pre-encoded block instead of checking and encoding the field again.
            return NativeResponse(self.status, self._block, self.body)
        return NativeResponse(self.status, raw, self.body)

    def _add_cookies(self, request: "Request") -> None:
        """Set-Cookie headers for the cookies set; Secure, unless said, when on HTTPS."""
        https = request.scheme == "https"
        for key, options in self._cookies or ():
            secure = options.pop("secure")
            if secure is None:
                # SameSite=None is refused by browsers without Secure.
                secure = https or (options["samesite"] or "").lower() == "none"
            line = format_set_cookie(key, options.pop("value"), secure=secure, **options)
            self._raw.append((b"set-cookie", line.encode("latin-1")))
        self._cookies = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}>"


def content_type_value(media_type: str, charset: str) -> str:
    """`text/plain` -> `text/plain; charset=utf-8` (text types get their charset)."""
    if media_type.startswith("text/") and "charset=" not in media_type:
        return f"{media_type}; charset={charset}"
    return media_type


class HTMLResponse(Response):
    """A text/html response."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """A text/plain response."""

    __slots__ = ()

    media_type = "text/plain"


class JSONResponse(Response):
    """Content encoded as JSON (dicts, lists, dataclasses, msgspec structs…)."""

    __slots__ = ()

    media_type = "application/json"

    def render(self, content: Any) -> Body:
        return encode_json(content)


class RedirectResponse(Response):
    """A redirect to `url` (302 by default; 301, 303, 307 and 308 are the others)."""

    __slots__ = ()

    def __init__(self, url: str, status: int = 302, headers: HeadersLike = None) -> None:
        super().__init__(b"", status, headers)
        # Characters a Location may not carry are percent-encoded; the URL's own stay as they are.
        self.headers["location"] = quote(url, safe=":/%#?=@[]!$&'()*+,;~")


class StreamingResponse(Response):
    """A body sent as it is produced, from a sync or async iterable of bytes (or str).

    A sync iterable is advanced in a worker thread: it may block (read a file, a database).
    """

    __slots__ = ("_stream",)

    def __init__(
        self,
        content: Iterable[bytes | str] | AsyncIterable[bytes | str],
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> None:
        self._stream = content
        super().__init__(b"", status, headers, media_type)
        self.body = _encoded(content, self.charset)

    def render(self, content: Any) -> Body:
        return b""


async def _encoded(
    content: Iterable[bytes | str] | AsyncIterable[bytes | str], charset: str
) -> AsyncIterator[bytes]:
    if not isinstance(content, AsyncIterable):
        content = iterate_in_thread(content)
    try:
        async for chunk in content:
            yield chunk.encode(charset) if isinstance(chunk, str) else chunk
    finally:
        close = getattr(content, "aclose", None)
        if close is not None:
            await close()


T = TypeVar("T")


async def iterate_in_thread(content: Iterable[T]) -> AsyncIterator[T]:
    """A sync iterable's items, each taken in a worker thread (it may block: a file, a
    database); it is closed at the end, or when the consumer stops early."""
    iterator: Iterator[T] = iter(content)
    loop = asyncio.get_running_loop()
    try:
        while True:
            item = await loop.run_in_executor(None, next, iterator, _DONE)
            if item is _DONE:
                break
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


_DONE: Any = object()


class FileResponse(Response):
    """A file from disk, with the server's ETag, conditional and range handling, sent zero-copy.

    `filename` names the download (Content-Disposition: attachment); `content_disposition_type`
    may be "inline" to show it in the browser under that name. `FileResponse.from_directory`
    sends a file whose name comes from the client.
    """

    __slots__ = ("disposition", "file_media_type", "filename", "folder", "follow_symlinks", "path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        super().__init__(b"", status, headers)
        self.path = os.fspath(path)
        self.file_media_type = media_type
        self.filename = filename
        self.disposition = content_disposition_type
        # Set by from_directory: `path` is then a checked name within this folder.
        self.folder: str | None = None
        self.follow_symlinks = False

    @classmethod
    def from_directory(
        cls,
        folder: str | os.PathLike[str],
        name: str,
        *,
        show_hidden: bool = False,
        follow_symlinks: bool = False,
        **options: Any,
    ) -> "FileResponse":
        """The file `name`, as the client gave it, in `folder`; HTTPError 404 if it is not
        a regular file there or its name could lead anywhere else."""
        from porch.server.static import refused_segment

        segments = name.split("/")
        for segment in segments:
            try:
                raw = os.fsencode(segment)
            except UnicodeEncodeError:  # a lone surrogate no file name can hold
                raise HTTPError(404) from None
            # Empty segments make an absolute name ('/etc/passwd') or hide one ('a//b'); the
            # decoded form is checked too, for a name that something decodes once more.
            if (
                not raw
                or refused_segment(raw, show_hidden)
                or (b"%" in raw and refused_segment(unquote_to_bytes(raw), show_hidden))
            ):
                raise HTTPError(404)
        response = cls(os.path.join(*segments), **options)
        response.folder = os.fspath(folder)
        response.follow_symlinks = follow_symlinks
        return response

    def finish(self, request: "Request") -> NativeResponse:
        from porch.server.files import file_response

        if self._cookies:
            self._add_cookies(request)
        path = self.path if self.folder is None else self._in_folder(request)
        response = file_response(
            path,
            request.head,
            content_type=self.file_media_type,
            headers=self._raw or None,
            filename=self.filename,
            disposition=self.disposition,
            # The checked real path is opened as it is: a link swapped in since is refused.
            nofollow=self.folder is not None and not self.follow_symlinks,
        )
        if self.status != 200 and response.status == 200:
            response.status = self.status  # a page for an error, say: FileResponse(p, 404)
        return response

    def _in_folder(self, request: "Request") -> str:
        """The path to open for a name checked by from_directory; 404 unless it is a regular
        file that lies in the folder (links resolved, unless follow_symlinks)."""
        from porch.server.static import locate

        folder = self.folder or ""
        if not os.path.isabs(folder):
            # As Flask's send_from_directory and app.static: beside the application's module.
            app = request.app
            folder = os.path.join(app.root_folder if app is not None else os.getcwd(), folder)
        folder = os.path.realpath(folder)
        try:
            located = locate(folder, os.path.join(folder, self.path), self.follow_symlinks)
        except PermissionError:
            raise HTTPError(403) from None
        except (OSError, ValueError):  # missing, a name too long...
            raise HTTPError(404) from None
        if located is None or not stat.S_ISREG(located[1].st_mode):
            raise HTTPError(404)  # outside the folder; a folder, FIFO or device
        return located[0]


def redirect(url: str, status: int = 302) -> RedirectResponse:
    """A redirect to `url`."""
    return RedirectResponse(url, status)


def when_sent(response: NativeResponse, callback: Callable[[], object]) -> NativeResponse:
    """`response`, with `callback()` run once the server has it: on the loop's next turn for a
    body known whole (the server writes it in the step that receives it), or when the server
    closes a streamed body."""
    body = response.body
    if isinstance(body, (bytes, FileRegion)):
        asyncio.get_running_loop().call_soon(callback)
        return response
    return NativeResponse(response.status, response.headers, _NotifyingBody(body, callback))


class _NotifyingBody:
    """A streamed body that runs a callback when the server closes it."""

    __slots__ = ("_body", "_callback")

    def __init__(
        self, body: Iterable[bytes] | AsyncIterable[bytes], callback: Callable[[], object]
    ) -> None:
        self._body = body
        self._callback = callback

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body = self._body
        if isinstance(body, AsyncIterable):
            async for chunk in body:
                yield chunk
        else:
            for chunk in body:
                yield chunk

    async def aclose(self) -> None:
        try:
            close: Any = getattr(self._body, "aclose", None) or getattr(self._body, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result
        finally:
            self._callback()
