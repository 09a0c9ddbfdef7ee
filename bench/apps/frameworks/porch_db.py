"""Porch: porch.App with porch.db models and an AsyncSession per request, on `porch run`.

DATABASE_URL names asyncpg (`postgresql+asyncpg://...`), as FastAPI's SQLAlchemy application
does; the pool's size and overflow come from DATABASE_POOL_SIZE and DATABASE_MAX_OVERFLOW.
"""

from operator import attrgetter

import msgspec
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from frameworks.techempower import (
    ADDITIONAL_FORTUNE,
    query_count,
    random_id,
    random_ids,
    random_number,
)
from porch import App, render
from porch.db import AsyncSession, Database, Model, get_or_404
from porch.web.templates import Template

app = App(__name__)
db = Database(app)  # DATABASE_URL and the pool's settings from the environment


class World(Model):
    """A row of TechEmpower's World table."""

    id: Mapped[int] = mapped_column(primary_key=True)
    randomNumber: Mapped[int] = mapped_column("randomnumber")


class Fortune(Model):
    """A row of TechEmpower's Fortune table."""

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


class WorldOut(msgspec.Struct):
    """A World row as JSON."""

    id: int
    randomNumber: int


@app.get("/db")
async def single_query(session: AsyncSession) -> WorldOut:
    """db-single."""
    return await get_or_404(session, World, random_id())


@app.get("/queries")
async def queries(session: AsyncSession, queries: str | None = None) -> list[WorldOut]:
    """db-queries: one query per row."""
    return [await session.get(World, id) for id in random_ids(query_count(queries))]


@app.get("/fortunes")
async def fortunes(session: AsyncSession) -> Template:
    """db-fortunes: templates/fortunes.html, found beside this module."""
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return render("fortunes.html", fortunes=rows)


@app.get("/updates")
async def updates(session: AsyncSession, queries: str | None = None) -> list[WorldOut]:
    """db-updates: the session is committed (the rows written) before the answer is made."""
    worlds = [await session.get(World, id) for id in random_ids(query_count(queries))]
    for world in worlds:
        world.randomNumber = random_number()
    return worlds
