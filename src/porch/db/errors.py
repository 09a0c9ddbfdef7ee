"""What goes wrong with the database, answered as users need it (installed by Database(app)):

- the database unreachable, or every pooled connection taken past the pool timeout: 503 with
  Retry-After, logged once per outage (when it begins, and when a request reaches it again),
  never per request;
- a statement past the statement timeout: 503;
- a unique or foreign-key violation nothing handled: 409 naming the constraint (no SQL, no
  values in the answer).
An application's own handler for these exceptions (`@app.errorhandler(IntegrityError)`) comes
first, as any handler of a router does.
"""

import logging
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa

from porch.http.errors import HTTPError
from porch.web.request import Request

if TYPE_CHECKING:
    from porch.db.database import Database
    from porch.web.app import App

logger = logging.getLogger("porch.db")

RETRY_AFTER = 5  # seconds a client is asked to wait before it tries again
QUERY_CANCELED = "57014"  # SQLSTATE of PostgreSQL's statement timeout
# How SQLite and MySQL name what they refused, in their messages.
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w.]+(?:, [\w.]+)*)")
_MYSQL_KEY = re.compile(r"for key '([^']+)'")
_MYSQL_CONSTRAINT = re.compile(r"CONSTRAINT `([^`]+)`")


def install(app: "App", database: "Database") -> None:
    """Answer `app`'s database errors as this module says, unless it answers them itself."""

    def conflict(request: Request, error: sa.IntegrityError) -> Any:
        raise HTTPError(409, f"The request conflicts with {constraint_name(error)}")

    def unavailable(request: Request, error: sa.SQLAlchemyError) -> Any:
        if isinstance(error, sa.DBAPIError) and _timed_out(error):
            logger.warning("A statement ran past the statement timeout: %s", error.orig)
            raise HTTPError(503, "The database took too long to answer", _retry_after())
        if isinstance(error, sa.DBAPIError) and not _unavailable(error):
            raise error  # a mistake in the application (bad SQL...): a 500, logged
        database.unreachable(error.orig or error if isinstance(error, sa.DBAPIError) else error)
        raise HTTPError(503, "The database is not available right now", _retry_after())

    app.errorhandler(sa.IntegrityError)(conflict)
    app.errorhandler(sa.DBAPIError)(unavailable)
    app.errorhandler(sa.TimeoutError)(unavailable)  # the pool had no connection in time
    for kind in _CONNECT_ERRORS:
        app.errorhandler(kind)(unavailable)


def constraint_name(error: sa.IntegrityError) -> str:
    """What a violation names: the constraint (`uq_team_name`), else its columns."""
    for cause in _causes(error.orig):
        diag = getattr(cause, "diag", None)  # psycopg
        name = getattr(diag, "constraint_name", None) or getattr(cause, "constraint_name", None)
        if name:
            return f"the constraint {name}"
    message = str(error.orig)
    for pattern in (_SQLITE_UNIQUE, _MYSQL_KEY, _MYSQL_CONSTRAINT):
        match = pattern.search(message)
        if match:
            return f"the constraint on {match.group(1)}"
    if "FOREIGN KEY" in message.upper():
        return "a foreign key"
    return "a constraint"


def _unavailable(error: sa.DBAPIError) -> bool:
    """Whether an error says the database cannot be reached or used now (not a mistake)."""
    if error.connection_invalidated:
        return True
    if not isinstance(error, (sa.OperationalError, sa.InterfaceError)):
        return False
    if type(error.orig).__module__ == "sqlite3":
        # SQLite calls most of its errors "operational", "no such table" among them.
        message = str(error.orig).lower()
        return any(phrase in message for phrase in _SQLITE_UNAVAILABLE)
    return True


# What SQLite says when the file cannot be used now, rather than of a mistake in the SQL.
_SQLITE_UNAVAILABLE = ("locked", "unable to open", "disk i/o", "busy", "readonly database")


def _timed_out(error: sa.DBAPIError) -> bool:
    for cause in _causes(error.orig):
        if getattr(cause, "sqlstate", None) == QUERY_CANCELED:
            return True
    message = str(error.orig)
    return "max_statement_time" in message or "maximum statement execution time" in message


def _causes(error: BaseException | None) -> list[BaseException]:
    """An exception and those it came from (a driver's, under SQLAlchemy's adapters)."""
    found: list[BaseException] = []
    while error is not None and len(found) < 5:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def _retry_after() -> list[tuple[bytes, bytes]]:
    return [(b"retry-after", str(RETRY_AFTER).encode())]


def _connect_errors() -> tuple[type[BaseException], ...]:
    """What asyncpg raises, unwrapped by SQLAlchemy, when it cannot connect at all."""
    try:
        import asyncpg
    except ImportError:
        return ()
    return (
        asyncpg.exceptions.CannotConnectNowError,
        asyncpg.exceptions.ConnectionDoesNotExistError,
    )


_CONNECT_ERRORS = _connect_errors()
