"""What every framework application shares: the answers, the teams, and the 100 routes.

Each application serves the four framework scenarios, in this order:

    GET /                                    "Hello, world!" as text/plain        (fw-plaintext)
    GET /json                                {"message": "Hello, world!"}         (fw-json)
    GET /teams                               a Jinja2 page of 12 teams            (fw-template)
    96 filler routes of varied shapes, static and dynamic, never requested
    GET /users/<int:user_id>/posts/<slug:post>  JSON built from both parameters   (fw-route)

so that the measured route is the last of 100: a router that tries its routes one by one pays
for the 99 before it. Routes are written here once, in porch's syntax, and `translate` writes
them in each framework's own.

The typed applications (`*_typed.py`: porch, FastAPI, Litestar, BlackSheep) serve the two typed
scenarios from the same path, with the same types and constraints, declared the way each
framework's documentation shows:

    POST /orders   an order (JSON) validated, answered 201 with the order      (fw-typed-post)
    GET  /orders   three typed query parameters and a header, answered as JSON (fw-typed-get)
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

HELLO = "Hello, world!"
MESSAGE = {"message": HELLO}
TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Team:
    """A team as a model layer would hand it to a template: an object with attributes."""

    name: str
    level: str


# In memory; three names hold a character that autoescaping must turn into an entity.
TEAMS = [
    Team("Falcons", "U09"),
    Team("Kestrels", "U09"),
    Team("Rovers & Rangers", "U10"),
    Team("Harriers", "U10"),
    Team("Owls", "U11"),
    Team("Swifts", "U11"),
    Team("<Wanderers>", "U12"),
    Team("Comets", "U12"),
    Team("O'Neill Park", "U13"),
    Team("Ospreys", "U14"),
    Team("Pioneers", "U15"),
    Team("Rockets", "U16"),
]

ROUTE = "/users/<int:user_id>/posts/<slug:post>"
ROUTE_PATH = "/users/42/posts/hello-world"
ROUTE_ANSWER = {"user_id": 42, "post": "hello-world"}

# (collection, its parameter name): the same name at the same place in every route, as some
# routers (falcon's) require.
_RESOURCES = [
    ("users", "user_id"),
    ("players", "player_id"),
    ("clubs", "club_id"),
    ("seasons", "season_id"),
    ("matches", "match_id"),
    ("venues", "venue_id"),
    ("leagues", "league_id"),
    ("coaches", "coach_id"),
]
_SHAPES = [
    "/{r}",
    "/{r}/new",
    "/{r}/<int:{i}>",
    "/{r}/<int:{i}>/edit",
    "/{r}/<int:{i}>/delete",
    "/{r}/<int:{i}>/comments",
    "/{r}/<int:{i}>/comments/<int:comment_id>",
    "/{r}/<int:{i}>/tags/<slug:tag>",
    "/{r}/by-name/<str:name>",
    "/api/v1/{r}",
    "/api/v1/{r}/<int:{i}>",
    "/api/v1/{r}/<int:{i}>/<slug:field>",
]
FILLER_ROUTES: list[str] = [
    shape.format(r=resource, i=param) for resource, param in _RESOURCES for shape in _SHAPES
]
assert len(FILLER_ROUTES) == 96 and ROUTE not in FILLER_ROUTES

_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")

# Style -> (how a parameter is written, the framework's name for each porch converter). A
# framework without a slug converter gets its plain one-segment string.
_STYLES: dict[str, tuple[str, dict[str, str]]] = {
    "porch": ("<{conv}:{name}>", {"int": "int", "slug": "slug", "str": "str"}),
    "starlette": ("{{{name}:{conv}}}", {"int": "int", "slug": "str", "str": "str"}),
    "litestar": ("{{{name}:{conv}}}", {"int": "int", "slug": "str", "str": "str"}),
    "falcon": ("{{{name}{conv}}}", {"int": ":int", "slug": "", "str": ""}),
    # FastAPI takes the type from the handler's annotation, not from the path.
    "fastapi": ("{{{name}}}", {"int": "", "slug": "", "str": ""}),
    "blacksheep": ("{{{conv}:{name}}}", {"int": "int", "slug": "str", "str": "str"}),
    "sanic": ("<{name}:{conv}>", {"int": "int", "slug": "slug", "str": "str"}),
    "flask": ("<{conv}:{name}>", {"int": "int", "slug": "string", "str": "string"}),
    "django": ("<{conv}:{name}>", {"int": "int", "slug": "slug", "str": "str"}),
}


def translate(template: str, style: str) -> str:
    """A route in porch's syntax written in a framework's (django's without the leading '/')."""
    pattern, converters = _STYLES[style]

    def parameter(match: re.Match[str]) -> str:
        return pattern.format(name=match.group(2), conv=converters[match.group(1) or "str"])

    path = _PARAMETER.sub(parameter, template)
    return path.removeprefix("/") if style == "django" else path


def route_answer(user_id: int, post: str) -> dict[str, Any]:
    """The measured route's answer, built from both parameters."""
    return {"user_id": user_id, "post": post}


# The typed scenarios. An order: a customer, 1 to ITEMS_MAX line items, an optional note.
ORDERS_PATH = "/orders"
CUSTOMER_MAX = 50
SKU_MAX = 32
ITEMS_MAX = 100
NOTE_MAX = 200
ORDER = {
    "customer": "Ada Lovelace",
    "items": [
        {"sku": "PEN-042", "quantity": 3, "price": 2.5},
        {"sku": "INK-007", "quantity": 1, "price": 12.75},
        {"sku": "PAD-100", "quantity": 10, "price": 0.99},
    ],
    "note": "Leave it at the porch",
}
# Each breaks one constraint (or leaves out a required field), which every framework must refuse.
BAD_ORDERS = [
    {**ORDER, "customer": ""},
    {**ORDER, "customer": "x" * (CUSTOMER_MAX + 1)},
    {**ORDER, "items": []},
    {key: value for key, value in ORDER.items() if key != "items"},
    {**ORDER, "items": [{"sku": "PEN-042", "quantity": 0, "price": 2.5}]},
    {**ORDER, "items": [{"sku": "PEN-042", "quantity": "three", "price": 2.5}]},
    {**ORDER, "items": [{"sku": "PEN-042", "quantity": 3, "price": 0}]},
    {**ORDER, "items": [{"sku": "", "quantity": 3, "price": 2.5}]},
    {**ORDER, "note": "x" * (NOTE_MAX + 1)},
]

# The typed query: `limit` (1 to LIMIT_MAX), `shipped` (a bool), `sort` (a Sort) and the
# X-Client header.
LIMIT_MAX = 100
Sort = Literal["newest", "oldest", "total"]
SEARCH_QUERY = "limit=20&shipped=true&sort=newest"
CLIENT_HEADER = "X-Client"
CLIENT = "bench"
SEARCH_ANSWER = {"limit": 20, "shipped": True, "sort": "newest", "client": CLIENT}
BAD_QUERIES = [
    "limit=0&shipped=true&sort=newest",
    f"limit={LIMIT_MAX + 1}&shipped=true&sort=newest",
    "limit=twenty&shipped=true&sort=newest",
    "limit=20&shipped=maybe&sort=newest",
    "limit=20&shipped=true&sort=cheapest",
]


def search_answer(limit: int, shipped: bool, sort: str, client: str) -> dict[str, Any]:
    """fw-typed-get's answer, built from the three query parameters and the header."""
    return {"limit": limit, "shipped": shipped, "sort": sort, "client": client}
