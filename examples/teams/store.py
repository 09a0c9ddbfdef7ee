"""The club's teams, kept in memory (until porch's data layer lands), with their validation.

Both the HTML form and the JSON API add teams through `TeamStore.add`, so that they check the
same rules: the check for a duplicate name and the insertion happen under one lock.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass

LEVELS = ("U09", "U10", "U11", "U12", "U13", "U14", "U15", "U16", "U17", "U18", "Senior")
NAME_MIN = 2
NAME_MAX = 60

SEED = (("Falcons", "U09"), ("Otters", "U12"), ("Harriers", "U16"), ("First XI", "Senior"))


@dataclass(frozen=True)
class Team:
    """A team of the club."""

    id: int
    name: str
    level: str


class InvalidTeam(Exception):
    """A team that cannot be added: a message for each field that is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class TeamStore:
    """The teams, safe to use from the event loop and from worker threads at once."""

    def __init__(self, teams: Iterable[tuple[str, str]] = SEED) -> None:
        self._lock = threading.Lock()
        self._teams: dict[int, Team] = {}
        self._next_id = 1
        for name, level in teams:
            self.add(name, level)

    def all(self) -> list[Team]:
        """Every team, youngest level first, then by name."""
        with self._lock:
            teams = list(self._teams.values())
        return sorted(teams, key=lambda team: (LEVELS.index(team.level), team.name.casefold()))

    def get(self, team_id: int) -> Team | None:
        """The team with this id, if there is one."""
        with self._lock:
            return self._teams.get(team_id)

    def add(self, name: object, level: object) -> Team:
        """Add a team (its name trimmed); InvalidTeam says what is wrong otherwise."""
        errors = {}
        if isinstance(name, str):
            name = " ".join(name.split())
        name_error = check_name(name)
        if name_error:
            errors["name"] = name_error
        level_error = check_level(level)
        if level_error:
            errors["level"] = level_error
        with self._lock:
            if not name_error and any(
                team.name.casefold() == str(name).casefold() for team in self._teams.values()
            ):
                errors["name"] = f"A team called {name} already exists."
            if errors:
                raise InvalidTeam(errors)
            team = Team(self._next_id, str(name), str(level))
            self._teams[team.id] = team
            self._next_id += 1
        return team


def check_name(name: object) -> str | None:
    """What is wrong with a team name, if anything."""
    if name is None or name == "":
        return "Enter the team's name."
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
