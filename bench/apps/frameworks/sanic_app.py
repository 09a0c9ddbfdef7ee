"""Sanic with async handlers, on its own server (`sanic ... --single-process`).

Sanic's core has no Jinja2 integration (sanic-ext has one, with much else switched on): the
template is rendered with a plain Jinja2 environment, as Sanic's documentation shows.
"""

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import HTTPResponse, Request, Sanic, html, json, text

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

app = Sanic("porch_bench")
jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


@app.get("/")
async def plaintext(request: Request) -> HTTPResponse:
    """fw-plaintext."""
    return text(HELLO)


@app.get("/json")
async def hello_json(request: Request) -> HTTPResponse:
    """fw-json."""
    return json(MESSAGE)


@app.get("/teams")
async def teams(request: Request) -> HTTPResponse:
    """fw-template."""
    return html(jinja.get_template("teams.html").render(teams=TEAMS))


async def filler(request: Request, **params: object) -> HTTPResponse:
    """The 96 routes that are never requested."""
    return text("filler")


for number, path in enumerate(FILLER_ROUTES):
    app.add_route(filler, translate(path, "sanic"), name=f"filler{number}")


@app.get(translate(ROUTE, "sanic"))
async def user_post(request: Request, user_id: int, post: str) -> HTTPResponse:
    """fw-route: the last of 100 routes."""
    return json(route_answer(user_id, post))
