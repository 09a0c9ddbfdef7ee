"""Flask with Flask-SQLAlchemy (psycopg 3) and plain views, on gunicorn (gthread)."""

from operator import attrgetter
from typing import Any

from flask import Flask, render_template, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from frameworks.common import TEMPLATES
from frameworks.techempower import (
    ADDITIONAL_FORTUNE,
    database_url,
    pool_size,
    query_count,
    random_id,
    random_ids,
    random_number,
)


class Base(DeclarativeBase):
    """The models' declarative base."""


db = SQLAlchemy(model_class=Base)
app = Flask(__name__, template_folder=TEMPLATES)
app.config["SQLALCHEMY_DATABASE_URI"] = database_url("psycopg")
# One connection per gunicorn thread, at most.
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_size": pool_size(), "max_overflow": 0}
db.init_app(app)


class World(db.Model):  # type: ignore[name-defined]
    """A row of TechEmpower's World table."""

    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomNumber: Mapped[int] = mapped_column("randomnumber")

    def to_json(self) -> dict[str, int]:
        """The row as JSON."""
        return {"id": self.id, "randomNumber": self.randomNumber}


class Fortune(db.Model):  # type: ignore[name-defined]
    """A row of TechEmpower's Fortune table."""

    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


def requested_worlds() -> list[World]:
    """The rows ?queries= asks for, one query each."""
    count = query_count(request.args.get("queries"))
    return [db.session.get(World, id) for id in random_ids(count)]


@app.get("/db")
def single_query() -> dict[str, int]:
    """db-single."""
    return db.get_or_404(World, random_id()).to_json()


@app.get("/queries")
def queries() -> list[dict[str, int]]:
    """db-queries."""
    return [world.to_json() for world in requested_worlds()]


@app.get("/fortunes")
def fortunes() -> Any:
    """db-fortunes."""
    rows = list(db.session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return render_template("fortunes.html", fortunes=rows)


@app.get("/updates")
def updates() -> list[dict[str, int]]:
    """db-updates: written and committed before the answer."""
    worlds = requested_worlds()
    for world in worlds:
        world.randomNumber = random_number()
    db.session.commit()
    return [world.to_json() for world in worlds]
