"""FastAPI with async path operations, on uvicorn."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates

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

app = FastAPI()
templates = Jinja2Templates(directory=TEMPLATES)


@app.get("/", response_class=PlainTextResponse)
async def plaintext() -> str:
    """fw-plaintext."""
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    """fw-json."""
    return MESSAGE


@app.get("/teams", response_class=HTMLResponse)
async def teams(request: Request) -> Any:
    """fw-template."""
    return templates.TemplateResponse(request, "teams.html", {"teams": TEAMS})


async def filler() -> str:
    """The 96 routes that are never requested."""
    return "filler"


for path in FILLER_ROUTES:
    app.add_api_route(translate(path, "fastapi"), filler)


@app.get(translate(ROUTE, "fastapi"))
async def user_post(user_id: int, post: str) -> dict[str, Any]:
    """fw-route: the last of 100 routes."""
    return route_answer(user_id, post)
