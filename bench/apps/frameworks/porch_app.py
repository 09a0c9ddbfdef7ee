"""Porch: `App` with async handlers; `porch run frameworks.porch_app:app`."""

from typing import Any

from frameworks.common import FILLER_ROUTES, HELLO, MESSAGE, ROUTE, TEAMS, route_answer
from porch import App, PlainTextResponse, render
from porch.web.templates import Template

app = App(__name__)


@app.get("/")
async def plaintext() -> PlainTextResponse:
    """fw-plaintext."""
    return PlainTextResponse(HELLO)


@app.get("/json")
async def json() -> dict[str, str]:
    """fw-json: a dict is sent as JSON."""
    return MESSAGE


@app.get("/teams")
async def teams() -> Template:
    """fw-template: templates/teams.html, found beside this module."""
    return render("teams.html", teams=TEAMS)


async def filler() -> str:
    """The 96 routes that are never requested."""
    return "filler"


for number, path in enumerate(FILLER_ROUTES):
    app.add_route(path, filler, name=f"filler{number}")


@app.get(ROUTE)
async def user_post(user_id: int, post: str) -> dict[str, Any]:
    """fw-route: the last of 100 routes."""
    return route_answer(user_id, post)
