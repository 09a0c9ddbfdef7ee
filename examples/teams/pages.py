"""The site's HTML pages: the teams, a team with its players, and the forms that add them.

Each form answers 422 with its page again when what it says is not acceptable (the messages by
their fields, what was typed still in them), and redirects with 303 when it added something:
Post/Redirect/Get, so that reloading the next page does not send the form again.
"""

from club import LEVELS, Invalid, add_player, add_team, no_team, teams_in_order
from models import Team
from sqlalchemy.orm import selectinload

from porch import RedirectResponse, Request, Router, render
from porch.db import Session
from porch.web.templates import Template

pages = Router()


@pages.get("/", name="teams")
def list_teams(session: Session) -> Template:
    return render("teams.html", teams=session.scalars(teams_in_order()).all())


@pages.get("/teams/<int:team_id>", name="team")
def show_team(session: Session, team_id: int) -> Template:
    return render("team.html", team=team_with_players(session, team_id), form={}, errors={})


@pages.get("/teams/new", name="new_team")
def new_team() -> Template:
    return render("new_team.html", levels=LEVELS, form={}, errors={})


@pages.post("/teams/new", name="create_team")
def create_team(request: Request, session: Session) -> Template | RedirectResponse:
    form = request.sync.form()
    name, level = form.get("name", ""), form.get("level", "")
    try:
        team = add_team(session, name, level)
    except Invalid as invalid:
        # 422, as the API answers: the form arrived intact, what it says is not acceptable.
        return render(
            "new_team.html",
            status=422,
            levels=LEVELS,
            form={"name": name, "level": level},
            errors=invalid.errors,
        )
    return RedirectResponse(request.url_for("team", team_id=team.id), 303)


@pages.post("/teams/<int:team_id>/players", name="add_player")
def create_player(request: Request, session: Session, team_id: int) -> Template | RedirectResponse:
    team = team_with_players(session, team_id)
    form = request.sync.form()
    name, number = form.get("name", ""), form.get("number", "")
    try:
        add_player(session, team, name, number)
    except Invalid as invalid:
        return render(
            "team.html",
            status=422,
            # Loaded again: a number taken meanwhile has rolled the session back.
            team=team_with_players(session, team_id),
            form={"name": name, "number": number},
            errors=invalid.errors,
        )
    return RedirectResponse(request.url_for("team", team_id=team_id) + "#players", 303)


def team_with_players(session: Session, team_id: int) -> Team:
    """The team with this id, its players loaded; 404 if there is none."""
    team = session.get(Team, team_id, options=[selectinload(Team.players)])
    if team is None:
        raise no_team(team_id)
    return team
