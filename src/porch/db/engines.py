"""Engines for a database URL, sync and asyncio, with the settings porch applies to each kind.

- SQLite: the standard driver (sync) and aiosqlite (async); WAL, `foreign_keys=ON` and a busy
  timeout on every connection, so that several workers writing at once wait for each other
  instead of failing with "database is locked".
- PostgreSQL: psycopg 3 for both, unless the URL names asyncpg (then asyncpg for async).
- MySQL and MariaDB: PyMySQL (sync) and aiomysql (async).
Pool size, overflow, timeout and pre-ping apply to every server; a statement timeout to
PostgreSQL and MySQL (SQLite has none).

Pre-ping tests a pooled connection before use only when it has sat unused for a while
(`EngineOptions.ping_after_idle`), as PgBouncer's server_check_delay does, not at every checkout
as SQLAlchemy's own pool_pre_ping does: a connection that answered a moment ago costs no extra
round trip (a fifth of a one-query request's time), and one left idle across a server restart
or a firewall's idle timeout is still found out and replaced before a request uses it. A server
that goes away under traffic is found out by the requests themselves: the first disconnection
invalidates the whole pool, so no request after it is given a stale connection.
"""

import dataclasses
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

# Seconds a SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 30.0


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    """How engines connect and pool, from the settings."""

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 10.0
    pool_pre_ping: bool = True
    ping_after_idle: float = 1.0  # seconds unused in the pool before a connection is tested
    statement_timeout: float | None = None  # seconds
    echo: bool = False


def driver_urls(url: str | URL) -> tuple[URL, URL]:
    """The sync and async forms of a database URL (`postgresql://` -> psycopg for both)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = parsed.get_driver_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite"), parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        asynchronous = "postgresql+asyncpg" if driver == "asyncpg" else "postgresql+psycopg"
        return parsed.set(drivername="postgresql+psycopg"), parsed.set(drivername=asynchronous)
    if backend in ("mysql", "mariadb"):
        return (
            parsed.set(drivername=f"{backend}+pymysql"),
            parsed.set(drivername=f"{backend}+aiomysql"),
        )
    return parsed, parsed  # a dialect porch knows nothing of: as given


def create_engines(url: str | URL, options: EngineOptions) -> tuple[Engine, AsyncEngine]:
    """A sync and an async engine for `url`."""
    sync_url, async_url = driver_urls(url)
    sync_engine = create_engine(sync_url, **_options(sync_url, options, asynchronous=False))
    async_engine = create_async_engine(async_url, **_options(async_url, options, asynchronous=True))
    engines = (sync_engine, async_engine.sync_engine)
    if sync_url.get_backend_name() == "sqlite":
        for engine in engines:
            event.listen(engine, "connect", _sqlite_pragmas)
    elif options.pool_pre_ping:
        for engine in engines:
            _ping_idle_connections(engine, options.ping_after_idle)
    return sync_engine, async_engine


_RETURNED = "porch.returned"  # a pooled connection's info: when it went back to the pool


def _ping_idle_connections(engine: Engine, idle: float) -> None:
    """Test a connection at checkout when it has been in the pool for over `idle` seconds."""
    dialect = engine.dialect

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:  # None: the connection was invalidated
            record.info[_RETURNED] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle:
            return  # a new connection, or one that answered a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:  # the driver's own errors (PEP 249)
            if not dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            # What SQLAlchemy's pre-ping raises: the pool reconnects this one and replaces
            # every connection older than now (the server has gone away since they were made).
            raise exc.InvalidatePoolError("a pooled connection did not answer a ping")

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def _options(url: URL, options: EngineOptions, asynchronous: bool) -> dict[str, Any]:
    backend = url.get_backend_name()
    driver = url.get_driver_name()
    kwargs: dict[str, Any] = {"echo": options.echo}
    connect: dict[str, Any] = {}
    if backend == "sqlite":
        connect["timeout"] = SQLITE_BUSY_TIMEOUT
        if url.database in (None, "", ":memory:"):
            # One in-memory database, shared by every session of the process.
            kwargs["poolclass"] = StaticPool
            connect["check_same_thread"] = False
        else:
            kwargs.update(pool_size=options.pool_size, max_overflow=options.max_overflow)
            kwargs["pool_timeout"] = options.pool_timeout
    else:
        kwargs.update(pool_size=options.pool_size, max_overflow=options.max_overflow)
        kwargs["pool_timeout"] = options.pool_timeout
        timeout = options.statement_timeout
        if timeout:
            milliseconds = str(int(timeout * 1000))
            if backend == "postgresql" and driver == "asyncpg":
                connect["server_settings"] = {"statement_timeout": milliseconds}
            elif backend == "postgresql":
                connect["options"] = f"-c statement_timeout={milliseconds}"
            elif backend == "mariadb":
                connect["init_command"] = f"SET SESSION max_statement_time={timeout:g}"
            elif backend == "mysql":  # MySQL's bounds SELECT statements only
                connect["init_command"] = f"SET SESSION max_execution_time={milliseconds}"
    if connect:
        kwargs["connect_args"] = connect
    return kwargs


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    # Write-ahead logging lets readers go on while one writes; foreign keys are off by
    # default in SQLite; the busy timeout makes a writer wait for the lock, not fail.
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
    use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def use_wal(cursor: Any) -> None:
    """Put a SQLite database in write-ahead logging mode (it stays so, in the file).

    The switch needs the database to itself, and SQLite refuses it at once ("database is
    locked"), busy timeout or not, while another connection reads: as when the first requests
    after start each open a connection to a database `porch db` made (seen as a 503, about
    once in 40 runs of eight racing requests). It is tried again until one of them has made
    the switch, within the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return  # another connection made the switch
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
