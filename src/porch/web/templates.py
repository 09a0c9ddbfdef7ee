"""Jinja2 templates: `render("teams.html", teams=teams)` from any handler.

`render` returns a small object the application renders once it has the request, so that
templates see `request`, `url_for` and `static_url` without any global state. Autoescaping is on
for markup (.html, .htm, .xhtml, .xml, .svg, and names Porch does not know, which are served as
HTML) and off for plain-text formats (.txt, .csv, .md, .ini…). The response's media type follows
the template's name. A template rendered without autoescaping is never served as markup (HTML,
XHTML, SVG, XML), where what it prints unescaped would run as script: it gets its own non-markup
type, else text/plain, and a markup type asked for it is an error. Every rendered page is sent
with `X-Content-Type-Options: nosniff`, so that no browser guesses markup in it either.
In debug mode, a template changed on disk is read again at its next use.
"""

import functools
import mimetypes
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2

from porch.http.headers import HeaderBlock
from porch.http.native import Response as NativeResponse
from porch.web.responses import HeadersLike, Response

if TYPE_CHECKING:
    from porch.web.request import Request

# Rendered without escaping: formats where `&lt;` would be a visible mistake, not a safety net.
PLAIN_TEXT_EXTENSIONS = frozenset(
    ("txt", "text", "md", "markdown", "csv", "tsv", "css", "js", "mjs", "json", "ics", "ini")
)
# Media types a browser renders as a document that can run script.
MARKUP_TYPES = frozenset(
    ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml")
)
_NOSNIFF = (b"x-content-type-options", b"nosniff")


class TemplateResponse(Response):
    """A rendered template: HTML unless said, sent with `X-Content-Type-Options: nosniff`."""

    __slots__ = ("unescaped",)

    media_type = "text/html"

    def __init__(
        self,
        content: Any = b"",
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
        unescaped: str | None = None,
    ) -> None:
        super().__init__(content, status, headers, media_type)
        self.unescaped = unescaped  # the name of a template rendered without autoescaping
        if headers is None or "x-content-type-options" not in self.headers:
            self._raw.append(_NOSNIFF)

    def finish(self, request: "Request") -> NativeResponse:
        raw = self._raw
        if (
            self._headers is None
            and not self._cookies
            and len(raw) == 2
            and raw[0] is _PAGE_TYPE
            and self.unescaped is None
        ):
            # PERF: a page as rendered (its Content-Type and nosniff, nothing else): the
            # server copies one pre-encoded block.
            return NativeResponse(self.status, _PAGE_HEADERS, self.body)
        if self.unescaped is not None:
            # Checked last: headers, a (body, status, headers) tuple or an after_request hook
            # may have set the type since render().
            for name, value in raw:
                if name == b"content-type":
                    refuse_markup(self.unescaped, value.decode("latin-1"))
        return super().finish(request)


_PAGE_TYPE = TemplateResponse._content_type
assert _PAGE_TYPE is not None
_PAGE_HEADERS = HeaderBlock([_PAGE_TYPE, _NOSNIFF])


class Template:
    """A template to render with its context, once the request is known."""

    __slots__ = ("context", "headers", "media_type", "name", "status")

    def __init__(
        self,
        name: str,
        context: dict[str, Any],
        status: int = 200,
        headers: HeadersLike = None,
        media_type: str | None = None,
    ) -> None:
        if media_type is not None and not autoescape(name):
            refuse_markup(name, media_type)
        self.name = name
        self.context = context
        self.status = status
        self.headers = headers
        self.media_type = media_type

    def __porch_response__(self, request: "Request") -> TemplateResponse:
        """Render for `request`."""
        app = request.app
        if app is None:
            raise RuntimeError("render() needs the request's application")
        environment = app.jinja
        try:
            template = environment.get_template(self.name)
            text = template.render({**self.context, "request": request})
        except jinja2.TemplateNotFound as exc:
            # Jinja2's message is the bare name: say where it was looked for, and from where.
            folders = getattr(environment.loader, "searchpath", None) or ["its loader"]
            within = "" if exc.name == self.name else f" (used by {self.name!r})"
            raise jinja2.TemplateNotFound(
                exc.name,
                f"template {exc.name!r}{within} not found in {', '.join(map(str, folders))}",
            ) from None
        unescaped = None if autoescape(self.name) else self.name
        kind = self.media_type or media_type(self.name)
        if kind == "text/html" and self.headers is None:
            # PERF: the usual page: its headers are encoded once (see TemplateResponse.finish).
            return TemplateResponse(text, self.status)
        return TemplateResponse(text, self.status, self.headers, kind, unescaped)

    def __repr__(self) -> str:
        return f"<Template {self.name!r}>"


def render(
    template_name: str,
    /,
    status: int = 200,
    headers: HeadersLike = None,
    media_type: str | None = None,
    **context: Any,
) -> Template:
    """The page of a template in the application's templates/ folder, rendered with `context`."""
    return Template(template_name, context, status, headers, media_type)


@functools.lru_cache(maxsize=256)
def media_type(template_name: str) -> str:
    """The media type of a rendered template: from its extension; when it is unknown, HTML if
    the template escapes, else text/plain. An unescaped template never gets a markup type."""
    guessed, _ = mimetypes.guess_type(template_name, strict=False)
    if autoescape(template_name):
        return guessed or "text/html"
    return guessed if guessed is not None and not is_markup(guessed) else "text/plain"


def is_markup(kind: str) -> bool:
    """Whether a media type (parameters allowed) is one a browser may run script in."""
    base = kind.partition(";")[0].strip().lower()
    return base in MARKUP_TYPES or base.endswith("+xml")


def refuse_markup(template_name: str, kind: str) -> None:
    """Raise ValueError if `kind` is markup: `template_name` is rendered without escaping."""
    if is_markup(kind):
        raise ValueError(
            f"template {template_name!r} is rendered without autoescaping (its extension says "
            f"plain text), so it cannot be served as {kind!r}: what it prints would run as "
            "markup (cross-site scripting). Give it a markup extension (.html) to escape it, "
            "or a non-markup media type"
        )


@functools.lru_cache(maxsize=512)
def autoescape(template_name: str | None) -> bool:
    """Whether a template escapes what it prints: yes, unless its name says plain text."""
    if template_name is None:  # a template made from a string
        return True
    extension = os.path.splitext(template_name)[1].lstrip(".").lower()
    return extension not in PLAIN_TEXT_EXTENSIONS


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    request: Request = context["request"]
    return request.url_for(name, **params)


@jinja2.pass_context
def _static_url(context: jinja2.runtime.Context, filename: str) -> str:
    request: Request = context["request"]
    if request.app is None:
        raise RuntimeError("static_url needs the request's application")
    return request.root_path + request.app.static_url_path + "/" + quote(filename.lstrip("/"))


def make_environment(folder: str, debug: bool = False) -> jinja2.Environment:
    """The Jinja2 environment of an application whose templates are in `folder`."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=autoescape,
        # Checking every template's mtime at each use costs a stat: only while developing.
        auto_reload=debug,
    )
    environment.globals["url_for"] = _url_for
    environment.globals["static_url"] = _static_url
    return environment
