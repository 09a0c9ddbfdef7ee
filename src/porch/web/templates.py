"""Jinja2 templates: `render("teams.html", teams=teams)` from any handler.

`render` returns a small object the application renders once it has the request, so that
templates see `request`, `url_for` and `static_url` without any global state. Autoescaping is on
for .html, .htm, .xml and .svg templates.
"""

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2

from porch.web.responses import HeadersLike, HTMLResponse

if TYPE_CHECKING:
    from porch.web.request import Request


class Template:
    """A template to render with its context, once the request is known."""

    __slots__ = ("context", "headers", "name", "status")

    def __init__(
        self, name: str, context: dict[str, Any], status: int = 200, headers: HeadersLike = None
    ) -> None:
        self.name = name
        self.context = context
        self.status = status
        self.headers = headers

    def __porch_response__(self, request: "Request") -> HTMLResponse:
        """Render for `request`."""
        if request.app is None:
            raise RuntimeError("render() needs the request's application")
        template = request.app.jinja.get_template(self.name)
        text = template.render({**self.context, "request": request})
        return HTMLResponse(text, self.status, self.headers)

    def __repr__(self) -> str:
        return f"<Template {self.name!r}>"


def render(
    template_name: str, /, status: int = 200, headers: HeadersLike = None, **context: Any
) -> Template:
    """The HTML page of a template in the application's templates/ folder."""
    return Template(template_name, context, status, headers)


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
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "svg"), default_for_string=True
        ),
        auto_reload=debug,
        undefined=jinja2.StrictUndefined if debug else jinja2.Undefined,
    )
    environment.globals["url_for"] = _url_for
    environment.globals["static_url"] = _static_url
    return environment
