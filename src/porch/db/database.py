"""`Database(app)`: an application's database — its engines (made in each process that uses
them, after a server forks its workers: a pool is never shared across processes), its
sessions, and how what goes wrong with it is answered (porch.db.errors)."""

import functools
import logging
import os
import weakref
from typing import TYPE_CHECKING

from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from porch.db.engines import EngineOptions, create_engines
from porch.db.model import Model

if TYPE_CHECKING:
    from porch.web.app import App

logger = logging.getLogger("porch.db")

# The Database of each application (see database_of).
_databases: "weakref.WeakKeyDictionary[App, Database]" = weakref.WeakKeyDictionary()


class Database:
    """An application's database: `Database(app)` reads DATABASE_URL from the app's settings
    (default: sqlite:///<app dir>/app.db) and serves its Session and AsyncSession parameters."""

    def __init__(
        self, app: "App | None" = None, url: str | None = None, metadata: MetaData | None = None
    ) -> None:
        self.url = url
        self.metadata = metadata if metadata is not None else Model.metadata
        self.options = EngineOptions()
        self._pid = 0
        self._engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._async_sessions: async_sessionmaker[AsyncSession] | None = None
        self._down = False  # an outage is going on (logged once, when it began)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: "App") -> None:
        """Serve `app`: its settings say where and how to connect."""
        from porch.db.errors import install

        settings = app.settings
        if self.url is None:
            self.url = settings.database_url or default_url(app.root_folder)
        self.options = EngineOptions(
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            pool_timeout=settings.database_pool_timeout,
            pool_pre_ping=settings.database_pool_pre_ping,
            statement_timeout=settings.database_statement_timeout,
            echo=settings.database_echo,
        )
        _databases[app] = self
        install(app, self)
        # `porch run` names the migrations the database lacks (it never applies them itself).
        app.on_startup(functools.partial(_warn_unapplied_migrations, app, self))
        app.on_shutdown(self.dispose)

    def __repr__(self) -> str:
        shown = make_url(self.url).render_as_string(hide_password=True) if self.url else None
        return f"<Database {shown}>"

    # Engines and sessions.

    @property
    def engine(self) -> Engine:
        """The sync engine (made in this process on first use)."""
        self._connect()
        assert self._engine is not None
        return self._engine

    @property
    def async_engine(self) -> AsyncEngine:
        """The asyncio engine (made in this process on first use)."""
        self._connect()
        assert self._async_engine is not None
        return self._async_engine

    def session(self) -> Session:
        """A new sync Session (it takes a connection only when it first runs a statement)."""
        self._connect()
        assert self._sessions is not None
        return self._sessions()

    def async_session(self) -> AsyncSession:
        """A new AsyncSession (it takes a connection only when it first runs a statement)."""
        self._connect()
        assert self._async_sessions is not None
        return self._async_sessions()

    def _connect(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        if self.url is None:
            raise RuntimeError("this Database serves no application yet: Database(app)")
        # Made in the process that uses them: after a fork, the parent's pooled connections
        # (their sockets) must never be used by the child as well.
        self._engine, self._async_engine = create_engines(self.url, self.options)
        # Objects stay readable after the commit (porch commits before the answer is made).
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._async_sessions = async_sessionmaker(self._async_engine, expire_on_commit=False)
        self._pid = pid

    async def dispose(self) -> None:
        """Close the pools' connections (at the application's shutdown)."""
        if self._pid != os.getpid():
            return
        if self._async_engine is not None:
            await self._async_engine.dispose()
        if self._engine is not None:
            self._engine.dispose()
        self._pid = 0

    def create_all(self) -> None:
        """Create the tables of the models that do not exist yet (tests, quick starts; an
        application's schema is its migrations' job: `porch db migrate`)."""
        self.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        """Drop the tables of the models."""
        self.metadata.drop_all(self.engine)

    # Outages: logged once when they begin, and once when they end.

    def unreachable(self, reason: BaseException) -> None:
        """A request could not reach the database (answered 503)."""
        if not self._down:
            self._down = True
            logger.error("The database is unreachable (%s); answering 503 until it is back", reason)

    def reachable(self) -> None:
        """A request reached the database."""
        if self._down:
            self._down = False
            logger.warning("The database is reachable again")


def database_of(app: "App | None") -> Database:
    """The Database serving `app`; RuntimeError if there is none."""
    database = _databases.get(app) if app is not None else None
    if database is None:
        raise RuntimeError(
            "a Session parameter needs the application's database: db = Database(app)"
        )
    return database


def default_url(folder: str) -> str:
    """SQLite in the application's folder: sqlite:///<folder>/app.db."""
    return "sqlite:///" + os.path.join(os.path.abspath(folder), "app.db")


async def _warn_unapplied_migrations(app: "App", database: Database) -> None:
    if not os.path.isdir(os.path.join(app.root_folder, "migrations")):
        return  # PERF: Alembic (a tenth of a second to import) only for apps with migrations
    from porch.db.migrations import warn_unapplied

    await warn_unapplied(app, database)
