"""The club's rules for teams and players, and the one way each is added.

The HTML forms and the JSON API both add through `add_team` and `add_player`, so that they
check the same rules. A name or a shirt number is checked before the insert, for a message that
says what is wrong; the unique constraints decide when two requests add the same at once.
"""

from typing import Any

from models import Player, Team, name_key
from sqlalchemy import Select, case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from porch import HTTPError

LEVELS = ("U09", "U10", "U11", "U12", "U13", "U14", "U15", "U16", "U17", "U18", "Senior")
NAME_MIN = 2
NAME_MAX = 60
NUMBER_MIN = 1
NUMBER_MAX = 99


class Invalid(Exception):
    """What cannot be added: a message for each field that is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def teams_in_order() -> Select[Any]:
    """Every team, youngest level first, then by name (whatever its case)."""
    level_order = case({level: index for index, level in enumerate(LEVELS)}, value=Team.level)
    return select(Team).order_by(level_order, Team.name_key)


def no_team(team_id: int) -> HTTPError:
    """The 404 for a team that is not there."""
    return HTTPError(404, f"No team has the id {team_id}.")


def add_team(session: Session, name: object, level: object) -> Team:
    """Add a team (its name trimmed); Invalid says what is wrong otherwise."""
    name = tidy(name)
    errors = {}
    if name_error := check_name(name, "team"):
        errors["name"] = name_error
    elif has_team_named(session, str(name)):
        errors["name"] = name_taken(str(name))
    if level_error := check_level(level):
        errors["level"] = level_error
    if errors:
        raise Invalid(errors)
    team = Team(name=str(name), level=str(level))
    try:
        insert(session, team)
    except IntegrityError:
        # Another request added the name since the check above: the unique constraint on
        # the casefolded name refused this one.
        raise Invalid({"name": name_taken(str(name))}) from None
    return team


def add_player(session: Session, team: Team, name: object, number: object) -> Player:
    """Add a player to `team` (the name trimmed, the number optional: None or "" for none);
    Invalid says what is wrong otherwise."""
    name = tidy(name)
    errors = {}
    if name_error := check_name(name, "player"):
        errors["name"] = name_error
    shirt, number_error = read_number(number)
    if number_error:
        errors["number"] = number_error
    elif shirt is not None and has_player_numbered(session, team, shirt):
        errors["number"] = number_taken(shirt)
    if errors:
        raise Invalid(errors)
    player = Player(team_id=team.id, name=str(name), number=shirt)
    try:
        insert(session, player)
    except IntegrityError:
        if shirt is None:
            raise  # not the number's constraint: porch answers 409, naming the constraint
        # Another request gave the number to a player of this team since the check above.
        raise Invalid({"number": number_taken(shirt)}) from None
    return player


def has_team_named(session: Session, name: str) -> bool:
    """Whether a team has this name, whatever its case."""
    return session.scalar(select(Team.id).where(Team.name_key == name_key(name))) is not None


def has_player_numbered(session: Session, team: Team, number: int) -> bool:
    """Whether a player of `team` wears this number."""
    found = select(Player.id).where(Player.team_id == team.id, Player.number == number)
    return session.scalar(found) is not None


def insert(session: Session, row: Team | Player) -> None:
    """Insert `row` now, rather than at the commit, so that a constraint it breaks is raised
    here; the session is rolled back then (the insert was all it held)."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise


def tidy(name: object) -> object:
    """A name with its runs of spaces made one, and none at either end."""
    return " ".join(name.split()) if isinstance(name, str) else name


def check_name(name: object, what: str) -> str | None:
    """What is wrong with the name of a team or a player, if anything."""
    if name is None or name == "":
        return f"Enter the {what}'s name."
    if not isinstance(name, str):
        return "The name must be text."
    if not NAME_MIN <= len(name) <= NAME_MAX:
        return f"The name must be {NAME_MIN} to {NAME_MAX} characters long."
    return None


def check_level(level: object) -> str | None:
    """What is wrong with a level, if anything."""
    if level is None or level == "":
        return "Choose the team's level."
    if level not in LEVELS:
        return f"The level must be one of {', '.join(LEVELS)}."
    return None


def read_number(number: Any) -> tuple[int | None, str | None]:
    """A shirt number from a form's text or a JSON value: (number, None), (None, None) for
    none given, or (None, what is wrong)."""
    if isinstance(number, str):
        number = number.strip()
        if number.isdecimal() and number.isascii():
            number = int(number)
    if number is None or number == "":
        return None, None
    if type(number) is not int or not NUMBER_MIN <= number <= NUMBER_MAX:
        return None, f"The number must be a whole number from {NUMBER_MIN} to {NUMBER_MAX}."
    return number, None


def name_taken(name: str) -> str:
    return f"A team called {name} already exists."


def number_taken(number: int) -> str:
    return f"Another player of this team wears number {number}."
