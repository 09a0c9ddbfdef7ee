"""The declarative base of an application's models: plain SQLAlchemy 2, with names for tables
and constraints that migrations can rely on."""

import re

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, declared_attr

# Every constraint gets a name it can be found (and dropped) by in a migration, the same on
# SQLite and PostgreSQL (left to the database, they differ, and SQLite's have none).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def table_name(class_name: str) -> str:
    """`Team` -> "team", `PlayerStat` -> "player_stat", `HTTPLog` -> "http_log"."""
    return _WORD.sub("_", class_name).lower()


class Model(DeclarativeBase):
    """The base of an application's models: `class Team(Model): ...` is the table "team"
    unless `__tablename__` says otherwise."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    @declared_attr.directive
    def __tablename__(cls) -> str:
        return table_name(cls.__name__)
