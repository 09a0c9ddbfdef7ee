"""FastAPI with raw asyncpg, as TechEmpower's own FastAPI entry is written, on uvicorn.

No ORM and no response models: prepared statements on a pool of asyncpg connections, rows
answered as dicts, updates sent in one executemany.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

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

READ_ROW_SQL = 'SELECT "randomnumber" FROM "world" WHERE id = $1'
WRITE_ROW_SQL = 'UPDATE "world" SET "randomnumber" = $2 WHERE id = $1'
DSN = database_url()
POOL_SIZE = pool_size()
templates = Jinja2Templates(directory=TEMPLATES)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A pool of asyncpg connections for the application's lifetime."""
    async with asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE) as pool:
        app.state.pool = pool
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/db")
async def single_query(request: Request) -> JSONResponse:
    """db-single."""
    row_id = random_id()
    async with request.app.state.pool.acquire() as connection:
        number = await connection.fetchval(READ_ROW_SQL, row_id)
    return JSONResponse({"id": row_id, "randomNumber": number})


@app.get("/queries")
async def queries(request: Request, queries: str | None = None) -> JSONResponse:
    """db-queries: one query per row, on one prepared statement."""
    async with request.app.state.pool.acquire() as connection:
        statement = await connection.prepare(READ_ROW_SQL)
        rows = [
            {"id": row_id, "randomNumber": await statement.fetchval(row_id)}
            for row_id in random_ids(query_count(queries))
        ]
    return JSONResponse(rows)


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request) -> Any:
    """db-fortunes."""
    async with request.app.state.pool.acquire() as connection:
        rows: list[Any] = await connection.fetch('SELECT "id", "message" FROM "fortune"')
    rows.append({"id": 0, "message": ADDITIONAL_FORTUNE})
    rows.sort(key=itemgetter("message"))
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/updates")
async def updates(request: Request, queries: str | None = None) -> JSONResponse:
    """db-updates: each row read, then every new number written in one executemany."""
    changes = [(row_id, random_number()) for row_id in random_ids(query_count(queries))]
    async with request.app.state.pool.acquire() as connection:
        statement = await connection.prepare(READ_ROW_SQL)
        for row_id, _ in changes:
            await statement.fetchval(row_id)
        await connection.executemany(WRITE_ROW_SQL, changes)
    return JSONResponse([{"id": row_id, "randomNumber": number} for row_id, number in changes])
