"""Migrations of an application's database (`porch db`): Alembic, wired to porch.

A migrations folder (`porch db init`) holds Alembic's `script.py.mako`, the revisions in
`versions/`, and an `env.py` that only calls `run_environment()` here: porch says how to reach
the database and what the models are, so nobody edits env.py to make it work.

What porch decides for every application, and why:
- Revisions are written in batch mode (`with op.batch_alter_table(...)`) whatever the
  database: SQLite alters most things only by copying the table, which batch mode does, and
  PostgreSQL runs the same operations as plain ALTERs, so one set of files serves both.
- Each revision runs in a transaction of its own, DDL included (on SQLite too, where porch
  begins the transactions itself because its driver does not before DDL): a revision that fails
  leaves the database as the one before it left it, and a revision reported applied is applied.
- On SQLite, foreign keys are not enforced while a revision runs (copying a table that others
  refer to would trip or cascade them) and are checked before it commits.
- Types and server defaults are compared, so changing either makes a revision.
- Revision files are named `<date>_<time>-<revision>_<slug>.py`, so that they list in order.
- One command at a time changes a database (`migration_lock`): two deploys that migrate at once
  take turns, and the second finds the revisions applied instead of failing on tables that the
  first made.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    Column,
    Connection,
    Constraint,
    Engine,
    ForeignKeyConstraint,
    Index,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy import exc as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from porch.db.database import Database, database_of
from porch.db.engines import SQLITE_BUSY_TIMEOUT, driver_urls, use_wal

if TYPE_CHECKING:
    from porch.web.app import App

logger = logging.getLogger("porch.db")

FOLDER = "migrations"  # beside the application's module, as Flask-Migrate's and Django's
TEMPLATE = Path(__file__).with_name("migration_template")
FILE_TEMPLATE = "%(year)d_%(month).2d_%(day).2d_%(hour).2d%(minute).2d-%(rev)s_%(slug)s"
CONNECT_TIMEOUT = 10  # seconds: a database server that does not answer is an error, not a hang
_ATTRIBUTE = "porch.migrations"  # where env.py finds the Migrations that runs it
# PostgreSQL's advisory lock of porch db commands (any fixed 64-bit number: the lock is per
# database); MySQL's and MariaDB's GET_LOCK takes a name, the database's own added.
LOCK_KEY = 0x706F7263685F6462  # b"porch_db"
LOCK_NAME = "porch db migrate"
WAITING = "Waiting for another porch db command on this database to finish..."


class MigrationError(Exception):
    """What went wrong, in one line for the user."""


def default_folder(app: "App") -> str:
    """Where an application's migrations are unless told: `migrations/` beside its module."""
    return os.path.join(app.root_folder, FOLDER)


@dataclass
class Status:
    """Where the database stands against the migrations folder."""

    current: tuple[str, ...]  # the revisions the database says it is at (its heads)
    heads: list[str]  # the newest revisions of the folder (one, unless branches need a merge)
    applied: list[Script] = field(default_factory=list)  # oldest first
    pending: list[Script] = field(default_factory=list)  # oldest first
    unknown: list[str] = field(default_factory=list)  # the database's, missing from the folder


class Migrations:
    """An application's migrations: the folder of its revisions and the Database they change.

    `echo` is told one line per revision applied, reverted or stamped, as it happens.
    """

    def __init__(
        self, database: Database, folder: str, echo: Callable[[str], None] | None = None
    ) -> None:
        if database.url is None:
            raise MigrationError("the Database serves no application yet: Database(app)")
        self.database = database
        self.url: str = database.url
        self.folder = os.path.abspath(folder)
        self.echo = echo if echo is not None else _log
        # Quiet: porch says what happened itself (Alembic would print "Generating ...").
        self.config = Config(cmd_opts=argparse.Namespace(quiet=True))
        self.config.set_main_option("script_location", self.folder)
        self.config.set_main_option("file_template", FILE_TEMPLATE.replace("%", "%%"))
        self.config.attributes[_ATTRIBUTE] = self
        self._moved = 0  # revisions applied, reverted or stamped by the current command

    @property
    def versions(self) -> str:
        """The folder of the revision files."""
        return os.path.join(self.folder, "versions")

    @property
    def script(self) -> ScriptDirectory:
        """The revisions, read afresh (MigrationError if there is no migrations folder)."""
        if not os.path.isfile(os.path.join(self.folder, "env.py")):
            raise MigrationError(
                f"No migrations folder at {self.folder}: make it with porch db init"
            )
        if not os.path.isdir(self.versions):
            os.mkdir(self.versions)  # git keeps no empty folder
        return ScriptDirectory.from_config(self.config)

    # The commands.

    def init(self) -> None:
        """Make the migrations folder: env.py (porch's), script.py.mako, README, versions/."""
        if os.path.isdir(self.folder) and os.listdir(self.folder):
            raise MigrationError(f"{self.folder} already exists and is not empty")
        os.makedirs(self.versions, exist_ok=True)
        for name in ("env.py", "script.py.mako", "README"):
            shutil.copyfile(TEMPLATE / name, os.path.join(self.folder, name))

    def make(self, message: str | None = None, empty: bool = False) -> tuple[Script, list[str]]:
        """Write a revision for what the models changed (or an empty one to fill in by hand):
        the script and the changes, one phrase each. MigrationError if nothing changed."""
        if empty:
            if not message:
                raise MigrationError("an empty migration needs a message: -m 'what it does'")
            made = command.revision(self.config, message)
            assert isinstance(made, Script)
            return made, []
        status = self._require_current(self.status(), "make a new one")
        changes: list[str] = []

        def keep_if_changed(context: MigrationContext, revision: Any, directives: Any) -> None:
            script: MigrationScript = directives[0]
            changes[:] = [
                describe(diff) for ops in script.upgrade_ops_list for diff in ops.as_diffs()
            ]
            if not changes:
                directives[:] = []  # no file for no change
            elif not message:
                script.message = summary(changes) if status.heads else "initial"

        made = command.revision(
            self.config, message, autogenerate=True, process_revision_directives=keep_if_changed
        )
        if not isinstance(made, Script):
            if not status.heads and self.database.metadata.tables:
                # Not one revision yet, and still nothing to do: the tables exist already.
                raise MigrationError(
                    "No changes detected, but there are no migrations yet: the database has "
                    "the models' tables already (db.create_all()?). Make the first migration "
                    "against an empty database (DATABASE_URL=sqlite:///empty.db porch db "
                    "makemigrations), then record this one as migrated: porch db stamp head"
                )
            raise NoChanges("No changes detected")
        return made, changes

    def upgrade(self, target: str = "head", sql: bool = False) -> int:
        """Apply the revisions up to `target`; how many were applied (`sql`: print the SQL)."""
        return self._move(command.upgrade, target, sql)

    def downgrade(self, target: str, sql: bool = False) -> int:
        """Revert the revisions down to `target` (a revision, -1, base); how many were."""
        return self._move(command.downgrade, target, sql)

    def stamp(self, target: str) -> int:
        """Record the database as at `target` without running anything (for a database whose
        tables exist already)."""
        return self._move(command.stamp, target, False)

    def merge(self, message: str | None = None) -> Script:
        """Write a revision that joins the folder's heads (two branches each added one)."""
        heads = self.script.get_heads()
        if len(heads) < 2:
            raise MigrationError("Nothing to merge: the migrations have one head")
        made = command.merge(self.config, heads, message=message or "merge " + ", ".join(heads))
        assert made is not None
        return made

    def status(self) -> Status:
        """Which revisions the database has, lacks, or has that the folder does not."""
        script = self.script
        with self.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
        status = Status(current=current, heads=list(script.get_heads()))
        known = {revision.revision for revision in script.walk_revisions()}
        status.unknown = [head for head in current if head not in known]
        reached = [head for head in current if head in known]
        applied = {r.revision for r in script.iterate_revisions(tuple(reached), "base")}
        for revision in reversed(list(script.walk_revisions())):
            (status.applied if revision.revision in applied else status.pending).append(revision)
        return status

    def differences(self) -> list[str]:
        """What differs between the models and the database, one phrase each."""
        with self.connect() as connection:
            context = MigrationContext.configure(connection, opts=self._options())
            return [describe(diff) for diff in compare_metadata(context, self.database.metadata)]

    def check(self) -> Status:
        """MigrationError unless the database has every revision and the models match them."""
        status = self.status()
        if len(status.heads) > 1:
            raise MigrationError(
                f"The migrations have {len(status.heads)} heads ({', '.join(status.heads)}): "
                "join them with porch db merge"
            )
        self._require_current(status, "check the models against them")
        changes = self.differences()
        if changes:
            raise ModelsChanged(changes)
        return status

    # Connecting.

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for migrations (see migration_engine), closed afterwards."""
        engine = migration_engine(self.url)
        try:
            with engine.connect() as connection:
                yield connection
        finally:
            engine.dispose()

    def _options(self) -> dict[str, Any]:
        """How Alembic compares, renders and runs, online and offline alike."""
        return {
            "target_metadata": self.database.metadata,
            "render_as_batch": True,
            "compare_type": True,
            "compare_server_default": True,
            "transaction_per_migration": True,
            "on_version_apply": self._applied,
        }

    def run_online(self) -> None:
        """Run Alembic's command on a connection (env.py, online)."""
        from alembic import context

        with self.connect() as connection, migration_lock(connection, self.echo):
            options = self._options()
            if connection.dialect.name == "sqlite":
                options["transactional_ddl"] = True  # see _sqlite_connected
            context.configure(connection=connection, **options)
            with context.begin_transaction():
                context.run_migrations()

    def run_offline(self) -> None:
        """Print Alembic's command as SQL (env.py, offline: `porch db migrate --sql`)."""
        from alembic import context

        context.configure(
            url=driver_urls(self.url)[0],
            literal_binds=True,
            dialect_opts={"paramstyle": "named"},
            **self._options(),
        )
        with context.begin_transaction():
            context.run_migrations()

    # What happens as a command runs.

    def _move(self, run: Callable[..., Any], target: str, sql: bool) -> int:
        self._moved = 0
        run(self.config, target, sql=sql)
        return self._moved

    def _applied(
        self, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: Any
    ) -> None:
        if ctx.as_sql:
            return  # the SQL itself is the output
        revisions = [r for r in step.up_revisions if isinstance(r, Script)]
        if step.is_stamp:
            self.echo(f"Stamped  {', '.join(step.destination_revision_ids) or 'base'}")
        else:
            if ctx.dialect.name == "sqlite":
                _check_foreign_keys(ctx, ", ".join(label(r) for r in revisions))
            shown = ", ".join(f"{r.revision}  {r.doc}".rstrip() for r in revisions)
            self.echo(f"{'Applied ' if step.is_upgrade else 'Reverted'} {shown}")
        self._moved += 1

    def _require_current(self, status: Status, then: str) -> Status:
        if status.unknown:
            raise MigrationError(
                f"The database is at {', '.join(status.unknown)}, which {self.folder} "
                "does not have (a migration file missing, or a newer version of the "
                "application migrated it)"
            )
        if status.pending:
            raise MigrationError(
                f"The database lacks {plural(len(status.pending), 'migration')} "
                f"({', '.join(r.revision for r in status.pending)}): run porch db migrate, "
                f"then {then}"
            )
        return status

    def explain(self, error: BaseException) -> str:
        """One line for what went wrong, naming the revision file it came from, if any."""
        if isinstance(error, MigrationError):
            return str(error)
        if isinstance(error, SyntaxError) and error.filename:  # in a revision file, say
            return f"SyntaxError: {error.msg} ({shown(error.filename)}:{error.lineno})"
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            path = os.path.abspath(frame.filename)
            if path.startswith(self.versions + os.sep):
                failed = self._revision_at(path)
                what = f"{label(failed)} failed: " if failed is not None else ""
                return f"{what}{one_line(error)} ({shown(path)}:{frame.lineno})"
        return one_line(error)

    def _revision_at(self, path: str) -> Script | None:
        with contextlib.suppress(Exception):  # an error message must not fail in turn
            for revision in self.script.walk_revisions():
                if os.path.abspath(revision.path) == path:
                    return revision
        return None


class NoChanges(MigrationError):
    """The models are as the migrations left them: there is nothing to write."""


class ModelsChanged(MigrationError):
    """The models differ from the migrations: `changes` says how, one phrase each."""

    def __init__(self, changes: list[str]) -> None:
        super().__init__(
            f"The models differ from the migrations ({plural(len(changes), 'change')}): "
            "write a migration with porch db makemigrations"
        )
        self.changes = changes


def run_environment() -> None:
    """What a migrations folder's env.py runs: the command porch (or Alembic) is running."""
    from alembic import context

    migrations = context.config.attributes.get(_ATTRIBUTE)
    if migrations is None:
        # Alembic's own command line, given an alembic.ini: the application is PORCH_APP's.
        from porch.server.loader import load_app
        from porch.server.settings import Settings
        from porch.web.app import App

        settings = Settings.from_env()
        app = load_app(settings)
        if not isinstance(app, App):
            raise MigrationError(f"{settings.app} is not a porch App")
        migrations = Migrations(
            database_of(app), context.config.get_main_option("script_location") or FOLDER
        )
    if context.is_offline_mode():
        migrations.run_offline()
    else:
        migrations.run_online()


async def warn_unapplied(app: "App", database: Database) -> None:
    """Log a warning naming the migrations the database lacks (at the application's startup;
    porch never applies them by itself)."""
    folder = default_folder(app)
    if not os.path.isfile(os.path.join(folder, "env.py")) or database.url is None:
        return
    if _in_memory(database.url):
        return  # a database of this process alone (tests): nothing can have migrated it
    try:
        status = await asyncio.to_thread(Migrations(database, folder).status)
    except Exception as exc:  # the application starts all the same
        logger.warning("Could not check the database's migrations: %s", one_line(exc))
        return
    if status.unknown:
        logger.warning(
            "The database is at %s, which %s does not have: is this the right version "
            "of the application?",
            ", ".join(status.unknown),
            folder,
        )
    if status.pending:
        logger.warning(
            "The database lacks %s: %s. Run: porch db migrate",
            plural(len(status.pending), "migration"),
            ", ".join(label(revision) for revision in status.pending),
        )


def migration_engine(url: str) -> Engine:
    """An engine for migrations: no pool and no statement timeout (a migration may take
    long); on SQLite, transactional DDL and foreign keys checked once per revision."""
    sync_url = driver_urls(url)[0]
    backend = sync_url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
    elif backend in ("postgresql", "mysql", "mariadb"):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    # No pool: each command makes one connection, then ends.
    engine = create_engine(sync_url, poolclass=NullPool, connect_args=connect_args)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_connected)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


@contextlib.contextmanager
def migration_lock(connection: Connection, echo: Callable[[str], None]) -> Iterator[None]:
    """Hold the database's migration lock: a second command waits (saying so) until the first
    is done, and only then reads which revisions the database has.

    PostgreSQL: a session advisory lock; MySQL, MariaDB: GET_LOCK; SQLite: flock() on the
    database file (beside SQLite's own fcntl() locks, which it leaves alone). The server
    releases the first two when the connection closes, whatever happened to the command.
    """
    backend = connection.dialect.name
    if backend == "sqlite":
        with _file_lock(connection.engine.url.database, echo):
            yield
        return
    if backend == "postgresql":
        parameters: dict[str, Any] = {"key": LOCK_KEY}
        try_lock = "SELECT pg_try_advisory_lock(:key)"
        lock = "SELECT pg_advisory_lock(:key)"
        unlock = "SELECT pg_advisory_unlock(:key)"
    elif backend in ("mysql", "mariadb"):
        # Names are the server's, not the database's: the database's own goes in it.
        database = connection.exec_driver_sql("SELECT DATABASE()").scalar() or ""
        parameters = {"name": f"{LOCK_NAME}:{database}"[:64]}
        try_lock = "SELECT GET_LOCK(:name, 0)"
        lock = "SELECT GET_LOCK(:name, 31536000)"  # a year: MariaDB takes no infinite timeout
        unlock = "SELECT RELEASE_LOCK(:name)"
    else:
        yield  # a database porch knows no lock for
        return
    if not connection.execute(text(try_lock), parameters).scalar():
        echo(WAITING)
        connection.execute(text(lock), parameters)
    # The lock outlives transactions; Alembic begins its own for each revision.
    connection.commit()
    try:
        yield
    finally:
        # A connection that broke takes its lock with it: only the command's error is told.
        with contextlib.suppress(sa.SQLAlchemyError):
            if connection.in_transaction():
                connection.rollback()  # a revision failed: its transaction ends first
            connection.execute(text(unlock), parameters)
            connection.commit()


@contextlib.contextmanager
def _file_lock(path: str | None, echo: Callable[[str], None]) -> Iterator[None]:
    if not path or not os.path.isfile(path) or sys.platform == "win32":
        yield  # in memory (nobody else sees it), or a URI porch does not open itself
        return
    import fcntl

    with open(path, "rb") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(WAITING)
            fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def _sqlite_connected(dbapi_connection: Any, record: Any) -> None:
    # The sqlite3 module begins no transaction before DDL, so a revision that failed half-way
    # would stay half-applied: it begins none at all now, and _sqlite_begin does instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Batch mode copies a table, drops it and renames the copy: enforced, the foreign keys of
    # the rows that refer to it would refuse (or cascade) the drop. Checked per revision.
    cursor.execute("PRAGMA foreign_keys=OFF")
    # The server's mode (porch.db.engines), set here first: the database `porch db` makes is
    # in it before the server's first connections, which then have no switch to race for.
    use_wal(cursor)
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock now: a server writing meanwhile is waited for (the busy
    # timeout), rather than failing the revision half-way when it first writes.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _check_foreign_keys(ctx: MigrationContext, revision: str) -> None:
    """MigrationError (and the revision rolled back) if it left rows referring to nothing."""
    assert ctx.connection is not None
    rows = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if rows:
        tables = sorted({str(row[0]) for row in rows})
        raise MigrationError(
            f"{revision} would leave {plural(len(rows), 'row')} of {', '.join(tables)} "
            "referring to rows that do not exist; it was rolled back"
        )


def _in_memory(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _log(line: str) -> None:
    logger.info("%s", line)


# Saying what happened.


def label(revision: Script) -> str:
    """`1a2b3c4d5e6f (add team level)`."""
    return f"{revision.revision} ({revision.doc})" if revision.doc else revision.revision


def shown(path: str) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def plural(count: int, noun: str) -> str:
    """`1 migration`, `2 migrations`."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def one_line(error: BaseException) -> str:
    """An exception as one line: the driver's message for a database error, without its SQL."""
    if isinstance(error, sa.DBAPIError) and error.orig is not None:
        error = error.orig
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    if isinstance(error, CommandError) and message:
        return message  # Alembic's own messages are written for the user
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def describe(diff: Any) -> str:
    """One change that autogenerate found, as a phrase: `add column team.level`."""
    if isinstance(diff, list):  # the changes of one column
        parts = [_MODIFIED.get(change[0], change[0]) for change in diff]
        return f"alter column {diff[0][2]}.{diff[0][3]} ({', '.join(parts)})"
    kind: str = diff[0]
    rest = diff[1:]
    verb, _, what = kind.partition("_")
    verb = {"remove": "drop"}.get(verb, verb)
    subject = rest[-1] if rest else None
    if what == "table" and isinstance(subject, Table):
        return f"{'create' if verb == 'add' else verb} table {subject.name}"
    if what == "column" and isinstance(subject, Column):
        return f"{verb} column {rest[1]}.{subject.name}"
    if what == "index" and isinstance(subject, Index):
        return f"{verb} index {subject.name} on {_table_of(subject)}"
    if what in ("constraint", "fk") and isinstance(subject, Constraint):
        kind_of = (
            "foreign key"
            if isinstance(subject, ForeignKeyConstraint)
            else _WORDS.sub(" ", type(subject).__name__).lower()
        )
        return f"{verb} {kind_of} {subject.name or '(unnamed)'} on {_table_of(subject)}"
    table = rest[0] if rest and isinstance(rest[0], Table) else None
    return kind.replace("_", " ") + (f" on {table.name}" if table is not None else "")


_MODIFIED = {
    "modify_type": "type",
    "modify_nullable": "nullable",
    "modify_default": "server default",
    "modify_comment": "comment",
}
_WORDS = re.compile(r"(?<=[a-z])(?=[A-Z])")  # UniqueConstraint -> Unique Constraint


def _table_of(item: Any) -> str:
    table = getattr(item, "table", None)
    return str(getattr(table, "name", "?"))


def summary(changes: Sequence[str]) -> str:
    """A message for a revision nobody named: its first changes."""
    shown = ", ".join(changes[:2])
    return shown + (f" and {len(changes) - 2} more" if len(changes) > 2 else "")
