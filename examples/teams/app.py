"""The club site: its teams as pages, a form to add one, and the same data as a JSON API.

Run it from the repository's root (`make run` does):

    porch run app:app --app-dir examples/teams

then open http://127.0.0.1:8000. The teams live in memory (store.py) until porch's data layer
lands: a restart brings back the seeded ones, and each worker process has its own.
"""

from typing import Any

from store import LEVELS, InvalidTeam, TeamStore

from porch import App, HTTPError, JSONResponse, RedirectResponse, Request, Router, abort, render
from porch.web.templates import Template


def create_app(teams: TeamStore | None = None) -> App:
    """The site, serving `teams` (a fresh store with the seeded teams by default)."""
    app = App(__name__)
    store = teams if teams is not None else TeamStore()
    app.state.teams = store

    @app.get("/", name="teams")
    def list_teams() -> Template:
        return render("teams.html", teams=store.all())

    @app.get("/teams/<int:team_id>", name="team")
    def show_team(team_id: int) -> Template:
        team = store.get(team_id)
        if team is None:
            abort(404, f"No team has the id {team_id}.")
        return render("team.html", team=team)

    @app.get("/teams/new", name="new_team")
    def new_team() -> Template:
        return render("new_team.html", levels=LEVELS, form={}, errors={})

    @app.post("/teams/new", name="create_team")
    async def create_team(request: Request) -> Template | RedirectResponse:
        form = await request.form()
        name, level = form.get("name", ""), form.get("level", "")
        try:
            team = store.add(name, level)
        except InvalidTeam as invalid:
            # 422, as the API answers: the form arrived intact, what it says is not acceptable.
            return render(
                "new_team.html",
                status=422,
                levels=LEVELS,
                form={"name": name, "level": level},
                errors=invalid.errors,
            )
        # Post/Redirect/Get: reloading the team's page does not send the form again.
        return RedirectResponse(request.url_for("team", team_id=team.id), 303)

    app.include(api_router(store))
    return app


def api_router(store: TeamStore) -> Router:
    """The JSON API under /api: errors are JSON whatever the client accepts."""
    api = Router(prefix="/api", name="api")

    @api.get("/teams", name="teams")
    def list_teams() -> list[Any]:
        return store.all()

    @api.get("/teams/<int:team_id>", name="team")
    def show_team(team_id: int) -> Any:
        team = store.get(team_id)
        if team is None:
            return api_error(404, f"No team has the id {team_id}.")
        return team

    @api.post("/teams", name="create_team")
    async def create_team(request: Request) -> JSONResponse:
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        # Only JSON: a plain HTML form on another site cannot post this content type.
        if content_type != "application/json" and not content_type.endswith("+json"):
            return api_error(415, "Send the team as JSON (Content-Type: application/json).")
        try:
            body = await request.json()
        except HTTPError as error:
            return api_error(400, error.detail or "The body is not valid JSON.")
        if not isinstance(body, dict):
            return api_error(422, 'Send a JSON object: {"name": ..., "level": ...}.')
        try:
            team = store.add(body.get("name"), body.get("level"))
        except InvalidTeam as invalid:
            return api_error(422, "The team is not valid.", invalid.errors)
        location = request.url_for("api.team", team_id=team.id)
        return JSONResponse(team, 201, headers={"Location": location})

    return api


def api_error(status: int, detail: str, fields: dict[str, str] | None = None) -> JSONResponse:
    """An API error, shaped as porch's own JSON error pages, with a message for each field."""
    error: dict[str, Any] = {"status": status, "detail": detail}
    if fields:
        error["fields"] = fields
    return JSONResponse({"error": error}, status)


app = create_app()
