"""Falcon's ASGI App with async responders, on uvicorn.

Falcon has no Jinja2 integration of its own: the template is rendered with a plain Jinja2
environment, as Falcon's documentation shows.
"""

import falcon
import falcon.asgi
from jinja2 import Environment, FileSystemLoader, select_autoescape

from frameworks.common import (
    FILLER_ROUTES,
    HELLO,
    MESSAGE,
    ROUTE,
    TEAMS,
    TEMPLATES,
    route_answer,
    translate,
)

jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


class Plaintext:
    """fw-plaintext."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class Json:
    """fw-json."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = MESSAGE


class Teams:
    """fw-template."""

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = jinja.get_template("teams.html").render(teams=TEAMS)


class Filler:
    """The 96 routes that are never requested."""

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, **params: object
    ) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "filler"


class UserPost:
    """fw-route: the last of 100 routes."""

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, user_id: int, post: str
    ) -> None:
        resp.media = route_answer(user_id, post)


app = falcon.asgi.App()
app.add_route("/", Plaintext())
app.add_route("/json", Json())
app.add_route("/teams", Teams())
filler = Filler()
for path in FILLER_ROUTES:
    app.add_route(translate(path, "falcon"), filler)
app.add_route(translate(ROUTE, "falcon"), UserPost())
