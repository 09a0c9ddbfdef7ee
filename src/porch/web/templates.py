"""Jinja2 templates: `render("teams.html", teams=teams)` from any handler.

`render` returns a small object the application renders once it has the request, so that
templates see `request`, `url_for` and `static_url` without any global state. Autoescaping is on
for markup (.html, .htm, .xhtml, .xml, .svg, and names Porch does not know, which are served as
HTML) and off for plain-text formats (.txt, .csv, .md…). The response's media type follows the
template's name. In debug mode, a template changed on disk is read again at its next use.
"""

import functools
import mimetypes
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2

from porch.web.responses import HeadersLike, HTMLResponse, Response

if TYPE_CHECKING:
    from porch.web.request import Request

# Rendered without escaping: formats where `&lt;` would be a visible mistake, not a safety net.
PLAIN_TEXT_EXTENSIONS = frozenset(
    ("txt", "text", "md", "markdown", "csv", "tsv", "css", "js", "mjs", "json", "ics", "ini")
)


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
        self.name = name
        self.context = context
        self.status = status
        self.headers = headers
        self.media_type = media_type

    def __porch_response__(self, request: "Request") -> Response:
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
        kind = self.media_type or media_type(self.name)
        if kind == "text/html" and self.headers is None:
            # PERF: the usual page: HTMLResponse's Content-Type header is encoded once.
            return HTMLResponse(text, self.status)
        return Response(text, self.status, self.headers, kind)

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
    """The media type of a rendered template: from its extension, HTML when it is unknown."""
    guessed, _ = mimetypes.guess_type(template_name, strict=False)
    return guessed or "text/html"


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
