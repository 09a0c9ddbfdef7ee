"""What goes wrong with the database, as porch answers it (porch/db/errors.py): 503 with
Retry-After for an unreachable database, an exhausted pool or a statement past its timeout
(an outage logged once), 409 for a violated constraint, 500 for a mistake in the SQL."""

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from porch import App, Settings
from porch.db import AsyncSession, Database, Session
from porch.testing import TestClient
from tests.databases import PostgreSQL, free_port

Client = Callable[..., TestClient]


def make_app(url: str, **settings: Any) -> tuple[App, Database]:
    app = App(__name__, static_folder=None, settings=Settings(**settings))
    db = Database(app, url=url)

    @app.get("/one")
    async def one(session: AsyncSession) -> int:
        return int((await session.execute(select(1))).scalar_one())

    @app.get("/sync-one")
    def sync_one(session: Session) -> int:
        return int(session.execute(select(1)).scalar_one())

    @app.get("/hold")
    async def hold(session: AsyncSession) -> int:
        await session.execute(select(1))  # takes the pool's one connection...
        await asyncio.sleep(1.0)  # ...and keeps it
        return 1

    @app.get("/sleep")
    async def sleep(session: AsyncSession) -> int:
        await session.execute(text("SELECT pg_sleep(3)"))
        return 1

    @app.get("/bad-sql")
    async def bad_sql(session: AsyncSession) -> int:
        await session.execute(text("SELECT * FROM no_such_table"))
        return 1

    return app, db


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "porch.db"]


def test_an_unreachable_database_is_503_logged_once(
    client_for: Client, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(
        f"postgresql://porch@127.0.0.1:{free_port()}/nowhere", database_pool_timeout=1.0
    )
    client = client_for(app)
    with caplog.at_level(logging.INFO, logger="porch.db"):
        answers = [client.get(path) for path in ("/one", "/sync-one", "/one")]
    for response in answers:
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"] == "The database is not available right now"
    # Once per outage, not once per request; and never a traceback page.
    lines = outage_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("The database is unreachable")
    assert not any(r.name == "porch.error" for r in caplog.records)


def test_an_exhausted_pool_is_503(client_for: Client, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's pool is per file: the server's pool is what is exhausted")
    app, db = make_app(
        database_url, database_pool_size=1, database_max_overflow=0, database_pool_timeout=0.3
    )
    client = client_for(app)
    held: list[int] = []
    holder = threading.Thread(target=lambda: held.append(client.get("/hold").status_code))
    holder.start()
    try:
        for _ in range(100):  # until the holder has the connection
            if db.async_engine.pool.checkedout():  # type: ignore[attr-defined]
                break
            threading.Event().wait(0.01)
        busy = client.get("/one")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "5"
    finally:
        holder.join()
    assert held == [200]
    assert client.get("/one").json() == 1  # and it serves again


def test_a_statement_past_its_timeout_is_503(
    client_for: Client, postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(postgresql_url, database_statement_timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="porch.db"):
        response = client_for(app).get("/sleep")
    assert response.status_code == 503
    assert response.json()["detail"] == "The database took too long to answer"
    assert any("statement timeout" in line for line in outage_lines(caplog))


def test_a_mistake_in_the_sql_is_a_500(
    client_for: Client, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(database_url)
    with caplog.at_level(logging.ERROR):
        response = client_for(app).get("/bad-sql")
    assert response.status_code == 500
    assert "no_such_table" not in response.text
    assert any(r.name == "porch.error" for r in caplog.records)


def test_postgresql_stopped_while_serving_then_back(
    postgresql_server: PostgreSQL, postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(postgresql_url, database_pool_timeout=1.0)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="porch.db"):
        assert client.get("/one").json() == 1
        postgresql_server.stop()
        down = [client.get("/one") for _ in range(3)]
        assert [response.status_code for response in down] == [503] * 3
        assert all(response.headers["retry-after"] == "5" for response in down)
        postgresql_server.start()
        # Back by itself: the pool's stale connections are found out (pre-ping) and replaced.
        assert client.get("/one").json() == 1
        assert client.get("/sync-one").json() == 1
    lines = outage_lines(caplog)
    assert [line.split(" (")[0] for line in lines] == [
        "The database is unreachable",
        "The database is reachable again",
    ]


def test_a_connection_idle_across_a_restart_is_replaced_before_use(
    postgresql_server: PostgreSQL, postgresql_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, db = make_app(postgresql_url)
    db.options = dataclasses.replace(db.options, ping_after_idle=0.2)
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="porch.db"):
        assert client.get("/one").json() == 1
        assert client.get("/sync-one").json() == 1
        # Restarted while nobody asked anything: both pools hold a dead connection.
        postgresql_server.stop()
        postgresql_server.start()
        time.sleep(0.3)
        assert client.get("/one").json() == 1
        assert client.get("/sync-one").json() == 1
    assert outage_lines(caplog) == []  # no request met the dead connections


def test_a_connection_is_pinged_only_after_sitting_idle(
    postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, db = make_app(postgresql_url)
    db.options = dataclasses.replace(db.options, ping_after_idle=0.3)
    pings: list[object] = []
    dialect = db.async_engine.dialect
    real_ping = dialect.do_ping

    def counting_ping(connection: object) -> bool:
        pings.append(connection)
        return real_ping(connection)

    monkeypatch.setattr(dialect, "do_ping", counting_ping)
    with TestClient(app) as client:
        for _ in range(5):  # each finds the connection the one before gave back
            assert client.get("/one").json() == 1
        assert pings == []
        time.sleep(0.4)
        assert client.get("/one").json() == 1
        assert len(pings) == 1
        assert client.get("/one").json() == 1
        assert len(pings) == 1


def test_without_pre_ping_nothing_is_pinged(
    postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, db = make_app(postgresql_url, database_pool_pre_ping=False)
    db.options = dataclasses.replace(db.options, ping_after_idle=0.0)
    pinged = []
    monkeypatch.setattr(db.async_engine.dialect, "do_ping", pinged.append)
    with TestClient(app) as client:
        assert client.get("/one").json() == 1
        assert client.get("/one").json() == 1
    assert pinged == []
