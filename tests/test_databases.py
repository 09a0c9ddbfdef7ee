"""The database fixtures give working, empty, separate databases, and the throwaway servers
stop, start again and clean up after themselves."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

from tests.databases import MariaDB, PostgreSQL, driver_url, require
from tests.support import ROOT, wait_until

# What one test leaves behind, for the next to check it is gone.
previous: dict[str, str] = {}


def tables(url: str) -> list[str]:
    """The tables in the database at `url`."""
    engine = sqlalchemy.create_engine(driver_url(url))
    try:
        with engine.connect() as conn:
            return sqlalchemy.inspect(conn).get_table_names()
    finally:
        engine.dispose()


def test_a_database_is_usable(database_url: str, request: pytest.FixtureRequest) -> None:
    engine = sqlalchemy.create_engine(driver_url(database_url))
    with engine.begin() as conn:
        assert conn.execute(sqlalchemy.text("SELECT 1")).scalar_one() == 1
        conn.execute(sqlalchemy.text("CREATE TABLE marker (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(sqlalchemy.text("INSERT INTO marker VALUES (1, 'été ✓')"))
    with engine.connect() as conn:
        name = conn.execute(sqlalchemy.text("SELECT name FROM marker")).scalar_one()
    assert name == "été ✓"
    # The engine is left undisposed, its connections pooled: dropping the database copes.
    previous[request.node.callspec.id] = database_url


def test_the_next_test_gets_a_fresh_empty_database(
    database_url: str, request: pytest.FixtureRequest
) -> None:
    before = previous.get(request.node.callspec.id) or pytest.skip("runs after the test above")
    assert database_url != before
    assert tables(database_url) == []
    if database_url.startswith("postgresql"):
        with pytest.raises(sqlalchemy.exc.OperationalError, match="does not exist"):
            tables(before)


def test_async_drivers(database_url: str) -> None:
    urls = [driver_url(database_url, asynchronous=True)]
    if database_url.startswith("postgresql://"):
        urls.append(database_url.replace("postgresql://", "postgresql+asyncpg://"))

    async def select_one(url: str) -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(sqlalchemy.text("SELECT 1"))).scalar_one())
        finally:
            await engine.dispose()

    for url in urls:
        assert asyncio.run(select_one(url)) == 1


@pytest.mark.parametrize("immediate", [False, True], ids=["fast", "immediate"])
def test_postgresql_stops_and_starts_again(
    postgresql_server: PostgreSQL, postgresql_url: str, immediate: bool
) -> None:
    engine = sqlalchemy.create_engine(driver_url(postgresql_url), pool_pre_ping=True)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE kept (id INTEGER)"))
        conn.execute(sqlalchemy.text("INSERT INTO kept VALUES (7)"))
    port = postgresql_server.port

    postgresql_server.stop(immediate=immediate)
    assert not postgresql_server.running
    with pytest.raises(sqlalchemy.exc.OperationalError), engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT 1"))

    postgresql_server.start()
    assert postgresql_server.port == port
    # What was committed before the stop (even one like a crash) is still there.
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT id FROM kept")).scalar_one() == 7
    engine.dispose()


def test_a_test_may_leave_postgresql_stopped(
    postgresql_server: PostgreSQL, postgresql_url: str
) -> None:
    postgresql_server.stop()
    previous["stopped"] = postgresql_url


def test_the_next_test_finds_postgresql_serving(postgresql_url: str) -> None:
    assert previous.get("stopped") or pytest.skip("runs after the test above")
    assert previous["stopped"] != postgresql_url
    assert tables(postgresql_url) == []


def test_mariadb(mariadb_url: str) -> None:
    assert mariadb_url.startswith("mysql://")
    engine = sqlalchemy.create_engine(driver_url(mariadb_url))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE marker (id INTEGER PRIMARY KEY, name TEXT)"))
        # Four bytes in UTF-8: MariaDB's utf8mb3 could not store it.
        conn.execute(sqlalchemy.text("INSERT INTO marker VALUES (1, 'été 🏡')"))
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT name FROM marker")).scalar_one() == "été 🏡"
        # A transaction left open holds a lock on the table: dropping the database copes.
        conn.execute(sqlalchemy.text("SELECT * FROM marker FOR UPDATE")).all()
        previous["mariadb"] = mariadb_url

    async def names() -> list[str]:
        engine = create_async_engine(driver_url(mariadb_url, asynchronous=True))
        try:
            async with engine.connect() as conn:
                return list(
                    (await conn.execute(sqlalchemy.text("SELECT name FROM marker"))).scalars()
                )
        finally:
            await engine.dispose()

    assert asyncio.run(names()) == ["été 🏡"]


def test_mariadb_gives_each_test_a_fresh_database(
    mariadb_server: MariaDB, mariadb_url: str
) -> None:
    assert previous.get("mariadb") or pytest.skip("runs after test_mariadb")
    assert mariadb_url != previous["mariadb"]
    assert tables(mariadb_url) == []
    mariadb_server.stop()
    mariadb_server.start()
    assert tables(mariadb_url) == []


def test_a_killed_test_run_leaves_no_server_behind() -> None:
    require(PostgreSQL)
    script = (
        "import time; from tests.databases import PostgreSQL\n"
        "server = PostgreSQL(); server.start()\n"
        "print(server.root, server.process.pid, flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    root, pid = child.stdout.readline().split()
    assert os.path.isdir(root)
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()

    def alive() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    assert wait_until(lambda: not os.path.exists(root) and not alive(), 10)


def test_driver_url() -> None:
    assert driver_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert driver_url("mysql://u@h/d", asynchronous=True) == "mysql+aiomysql://u@h/d"
    assert driver_url("sqlite:////tmp/x.db", asynchronous=True) == "sqlite+aiosqlite:////tmp/x.db"
    assert driver_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"
