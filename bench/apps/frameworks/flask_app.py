"""Flask with plain view functions, on gunicorn (gthread)."""

from typing import Any

from flask import Flask, Response, render_template

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

app = Flask(__name__, template_folder=TEMPLATES)


@app.get("/")
def plaintext() -> Response:
    """fw-plaintext."""
    return Response(HELLO, mimetype="text/plain")


@app.get("/json")
def json() -> dict[str, str]:
    """fw-json: a dict is sent as JSON."""
    return MESSAGE


@app.get("/teams")
def teams() -> str:
    """fw-template."""
    return render_template("teams.html", teams=TEAMS)


def filler(**params: object) -> str:
    """The 96 routes that are never requested."""
    return "filler"


for number, path in enumerate(FILLER_ROUTES):
    app.add_url_rule(translate(path, "flask"), f"filler{number}", filler)


@app.get(translate(ROUTE, "flask"))
def user_post(user_id: int, post: str) -> dict[str, Any]:
    """fw-route: the last of 100 routes."""
    return route_answer(user_id, post)
