"""Starlette with async endpoints, on uvicorn."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

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

templates = Jinja2Templates(directory=TEMPLATES)


async def plaintext(request: Request) -> Response:
    """fw-plaintext."""
    return PlainTextResponse(HELLO)


async def json(request: Request) -> Response:
    """fw-json."""
    return JSONResponse(MESSAGE)


async def teams(request: Request) -> Response:
    """fw-template."""
    return templates.TemplateResponse(request, "teams.html", {"teams": TEAMS})


async def filler(request: Request) -> Response:
    """The 96 routes that are never requested."""
    return PlainTextResponse("filler")


async def user_post(request: Request) -> Response:
    """fw-route: the last of 100 routes."""
    params = request.path_params
    return JSONResponse(route_answer(params["user_id"], params["post"]))


app = Starlette(
    routes=[
        Route("/", plaintext),
        Route("/json", json),
        Route("/teams", teams),
        *(Route(translate(path, "starlette"), filler) for path in FILLER_ROUTES),
        Route(translate(ROUTE, "starlette"), user_post),
    ]
)
