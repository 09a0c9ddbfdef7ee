"""BlackSheep with async request handlers, on uvicorn."""

import os

# BlackSheep's Jinja2 renderer appends this to template names (".jinja" by default); it reads it
# once, on import.
os.environ["APP_JINJA_EXTENSION"] = ".html"

from typing import Any

from blacksheep import Application, Response, json, text
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import view
from blacksheep.settings.html import html_settings
from jinja2 import FileSystemLoader

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

html_settings.use(JinjaRenderer(loader=FileSystemLoader(TEMPLATES)))
app = Application()
get = app.router.get


@get("/")
async def plaintext() -> Response:
    """fw-plaintext."""
    return text(HELLO)


@get("/json")
async def hello_json() -> Response:
    """fw-json."""
    return json(MESSAGE)


@get("/teams")
async def teams() -> Response:
    """fw-template."""
    return view("teams", {"teams": TEAMS})


async def filler() -> Response:
    """The 96 routes that are never requested."""
    return text("filler")


for path in FILLER_ROUTES:
    app.router.add_get(translate(path, "blacksheep"), filler)


@get(translate(ROUTE, "blacksheep"))
async def user_post(user_id: int, post: str) -> Any:
    """fw-route: the last of 100 routes."""
    return json(route_answer(user_id, post))
