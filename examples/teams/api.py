"""The JSON API under /api: the teams and their players. Errors are JSON whatever the client
accepts, and a body is read only when it says it is JSON."""

from typing import Any

import msgspec
from club import Invalid, add_player, add_team, no_team, teams_in_order
from models import Team
from sqlalchemy.orm import selectinload

from porch import HTTPError, JSONResponse, Request, Router
from porch.db import AsyncSession, Session
from porch.http.status import reason_phrase

api = Router(prefix="/api", name="api")


class TeamOut(msgspec.Struct):
    """A team as the API shows it."""

    id: int
    name: str
    level: str


class PlayerOut(msgspec.Struct):
    """A player as the API shows it."""

    id: int
    name: str
    number: int | None


@api.errorhandler(HTTPError)
def json_error(request: Request, error: HTTPError) -> JSONResponse:
    return api_error(error.status, error.detail or reason_phrase(error.status))


@api.get("/teams", name="teams")
async def list_teams(session: AsyncSession) -> list[TeamOut]:
    return list(await session.scalars(teams_in_order()))


@api.get("/teams/<int:team_id>", name="team")
async def show_team(session: AsyncSession, team_id: int) -> TeamOut:
    team = await session.get(Team, team_id)
    if team is None:
        raise no_team(team_id)
    return team  # type: ignore[return-value]  # the response model reads its fields


@api.post("/teams", name="create_team")
def create_team(request: Request, session: Session) -> JSONResponse:
    body = json_object(request, 'Send a JSON object: {"name": ..., "level": ...}.')
    try:
        team = add_team(session, body.get("name"), body.get("level"))
    except Invalid as invalid:
        return api_error(422, "The team is not valid.", invalid.errors)
    location = request.url_for("api.team", team_id=team.id)
    return JSONResponse(TeamOut(team.id, team.name, team.level), 201, {"Location": location})


@api.get("/teams/<int:team_id>/players", name="players")
async def list_players(session: AsyncSession, team_id: int) -> list[PlayerOut]:
    # An AsyncSession never loads a relationship lazily: the players come with the team.
    team = await session.get(Team, team_id, options=[selectinload(Team.players)])
    if team is None:
        raise no_team(team_id)
    return team.players  # type: ignore[return-value]


@api.post("/teams/<int:team_id>/players", name="add_player")
def create_player(request: Request, session: Session, team_id: int) -> JSONResponse:
    team = session.get(Team, team_id)
    if team is None:
        raise no_team(team_id)
    body = json_object(request, 'Send a JSON object: {"name": ..., "number": ...}.')
    try:
        player = add_player(session, team, body.get("name"), body.get("number"))
    except Invalid as invalid:
        return api_error(422, "The player is not valid.", invalid.errors)
    return JSONResponse(PlayerOut(player.id, player.name, player.number), 201)


def json_object(request: Request, shape: str) -> dict[str, Any]:
    """The body, a JSON object: 415 for another content type, 400 for JSON that is not JSON,
    422 for JSON that is not an object (`shape` says what to send)."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    # Only JSON: a plain HTML form on another site cannot post this content type.
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise HTTPError(415, "Send the body as JSON (Content-Type: application/json).")
    body = request.sync.json()
    if not isinstance(body, dict):
        raise HTTPError(422, shape)
    return body


def api_error(status: int, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
    """An API error, shaped as porch's own JSON error pages, with a message for each field."""
    error: dict[str, Any] = {"status": status, "detail": detail}
    if fields:
        error["fields"] = fields
    return JSONResponse({"error": error}, status)
