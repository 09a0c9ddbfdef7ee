"""FastAPI with SQLAlchemy's async ORM (asyncpg) and pydantic response models, on uvicorn.

The models map the same tables and columns as porch's (porch_db.py); the session is a
dependency with `yield`, as FastAPI's documentation writes it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from operator import attrgetter
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
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

engine = create_async_engine(database_url("asyncpg"), pool_size=pool_size(), max_overflow=0)
sessions = async_sessionmaker(engine, expire_on_commit=False)
templates = Jinja2Templates(directory=TEMPLATES)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the pool's connections at shutdown."""
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


class Base(DeclarativeBase):
    """The models' declarative base."""


class World(Base):
    """A row of TechEmpower's World table."""

    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomNumber: Mapped[int] = mapped_column("randomnumber")


class Fortune(Base):
    """A row of TechEmpower's Fortune table."""

    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


class WorldOut(BaseModel):
    """A World row as JSON."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    randomNumber: int


async def get_session() -> AsyncIterator[AsyncSession]:
    """A session for the request."""
    async with sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@app.get("/db", response_model=WorldOut)
async def single_query(session: SessionDep) -> Any:
    """db-single."""
    return await session.get(World, random_id())


@app.get("/queries", response_model=list[WorldOut])
async def queries(session: SessionDep, queries: str | None = None) -> Any:
    """db-queries: one query per row."""
    return [await session.get(World, id) for id in random_ids(query_count(queries))]


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, session: SessionDep) -> Any:
    """db-fortunes."""
    rows = list(await session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/updates", response_model=list[WorldOut])
async def updates(session: SessionDep, queries: str | None = None) -> Any:
    """db-updates: written and committed before the answer."""
    worlds = [await session.get(World, id) for id in random_ids(query_count(queries))]
    for world in worlds:
        world.randomNumber = random_number()
    await session.commit()
    return worlds
