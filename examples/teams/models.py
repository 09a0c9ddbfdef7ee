"""The club's teams and their players: SQLAlchemy models, stored through porch.db.

`porch db makemigrations` compares these with the database and writes what changed into
migrations/versions/; `porch db check` fails while the two disagree.
"""

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from porch.db import Model


class Team(Model):
    """A team of the club (the table "team")."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    # The name casefolded, unique: "Falcons" and "FALCONS" cannot both be added, even by two
    # requests at once. Set with the name (below); casefold() can lengthen one ("ß" is "ss").
    name_key: Mapped[str] = mapped_column(String(180), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    players: Mapped[list["Player"]] = relationship(
        back_populates="team",
        # By number, the players without one last, then by name.
        order_by=lambda: (Player.number.is_(None), Player.number, Player.name),
    )

    @validates("name")
    def _set_name_key(self, field: str, name: str) -> str:
        self.name_key = name_key(name)
        return name


class Player(Model):
    """A player of a team, with a shirt number (or none yet): the table "player"."""

    # A number is worn by one player of a team (players without one are many: NULLs differ).
    __table_args__ = (UniqueConstraint("team_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    number: Mapped[int | None]
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"), index=True)
    team: Mapped[Team] = relationship(back_populates="players")


def name_key(name: str) -> str:
    """What two team names that differ only in case have in common."""
    return name.casefold()
