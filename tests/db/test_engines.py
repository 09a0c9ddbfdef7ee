"""Engines (porch/db/engines.py, porch/db/database.py): the drivers each URL gets, SQLite's
settings on every connection, and engines made in the process that uses them."""

import multiprocessing
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from porch import App, Settings
from porch.db import Database
from porch.db.database import default_url
from porch.db.engines import EngineOptions, create_engines, driver_urls


@pytest.mark.parametrize(
    "url,sync,asynchronous",
    [
        ("sqlite:///app.db", "sqlite", "sqlite+aiosqlite"),
        ("postgresql://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg", "postgresql+asyncpg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg", "postgresql+psycopg"),
        ("mysql://u@h/db", "mysql+pymysql", "mysql+aiomysql"),
        ("mariadb://u@h/db", "mariadb+pymysql", "mariadb+aiomysql"),
    ],
)
def test_drivers_by_url(url: str, sync: str, asynchronous: str) -> None:
    sync_url, async_url = driver_urls(url)
    assert (sync_url.drivername, async_url.drivername) == (sync, asynchronous)
    assert sync_url.database == async_url.database


def test_sqlite_connections_wait_for_each_other(tmp_path: Path) -> None:
    engine, _ = create_engines(f"sqlite:///{tmp_path / 'a.db'}", EngineOptions())
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    engine.dispose()


def test_the_default_database_is_sqlite_beside_the_application(tmp_path: Path) -> None:
    app = App(__name__, static_folder=None)
    db = Database(app)
    assert db.url == default_url(app.root_folder)
    assert db.url.startswith("sqlite:///") and db.url.endswith(os.sep + "app.db")
    # DATABASE_URL in the settings wins.
    configured = App(
        __name__, static_folder=None, settings=Settings(database_url=f"sqlite:///{tmp_path}/x.db")
    )
    assert Database(configured).url == f"sqlite:///{tmp_path}/x.db"
    assert "x.db" in repr(Database(configured))


def test_a_password_never_shows_in_the_repr() -> None:
    db = Database(url="postgresql://porch:hunter2@db.example/shop")
    assert "hunter2" not in repr(db)


def _fresh_engine_in_child(
    database: Database, parent_engine: int, queue: "multiprocessing.Queue[bool]"
) -> None:
    # Both engines are alive at once here, so the new one cannot take the old one's id().
    queue.put(id(database.engine) != parent_engine and database._pid == os.getpid())


def test_engines_are_made_in_the_process_that_uses_them(tmp_path: Path) -> None:
    # A forked worker never uses the connections its parent pooled.
    db = Database(url=f"sqlite:///{tmp_path / 'f.db'}")
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    parent = id(db.engine)
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[bool] = context.Queue()
    child = context.Process(target=_fresh_engine_in_child, args=(db, parent, queue))
    child.start()
    assert queue.get(timeout=10) is True
    child.join(10)
    assert id(db.engine) == parent  # the parent's own is untouched


def test_the_switch_to_wal_waits_for_a_reader_that_blocks_it(tmp_path: Path) -> None:
    """Refused at once ("database is locked"), as when the first connections race to make the
    switch, it is tried again until it is made (by this connection or another)."""
    import sqlite3
    import threading

    from porch.db.engines import use_wal

    path = tmp_path / "rollback.db"
    setup = sqlite3.connect(path)
    setup.execute("CREATE TABLE t (x)")
    setup.execute("INSERT INTO t VALUES (1)")
    setup.commit()
    setup.close()
    reading = threading.Event()

    def read_for_a_while() -> None:
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM t").fetchall()  # a shared lock, held
        reading.set()
        threading.Event().wait(0.3)
        reader.execute("COMMIT")
        reader.close()

    thread = threading.Thread(target=read_for_a_while)
    thread.start()
    reading.wait(5)
    switching = sqlite3.connect(path, timeout=0)  # no busy timeout: refused at once
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switching.execute("PRAGMA journal_mode=WAL")
    use_wal(switching.cursor())
    thread.join(5)
    assert switching.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    switching.close()


def test_porch_db_leaves_a_sqlite_database_in_wal_mode(tmp_path: Path) -> None:
    """The server's first connections then have no switch to race for."""
    import sqlite3

    from porch.db.migrations import migration_engine

    url = f"sqlite:///{tmp_path / 'made.db'}"
    engine = migration_engine(url)
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    engine.dispose()
    check = sqlite3.connect(tmp_path / "made.db")
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()
