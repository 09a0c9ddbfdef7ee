"""Litestar with async handlers, on uvicorn."""

from typing import Any

from litestar import Litestar, MediaType, get
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

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


@get("/", media_type=MediaType.TEXT)
async def plaintext() -> str:
    """fw-plaintext."""
    return HELLO


@get("/json")
async def json() -> dict[str, str]:
    """fw-json."""
    return MESSAGE


@get("/teams")
async def teams() -> Template:
    """fw-template."""
    return Template(template_name="teams.html", context={"teams": TEAMS})


async def filler() -> str:
    """The 96 routes that are never requested."""
    return "filler"


@get(translate(ROUTE, "litestar"))
async def user_post(user_id: int, post: str) -> dict[str, Any]:
    """fw-route: the last of 100 routes."""
    return route_answer(user_id, post)


app = Litestar(
    route_handlers=[
        plaintext,
        json,
        teams,
        *(
            get(translate(path, "litestar"), name=f"filler{number}", media_type=MediaType.TEXT)(
                filler
            )
            for number, path in enumerate(FILLER_ROUTES)
        ),
        user_post,
    ],
    template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
)
