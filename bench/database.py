"""PostgreSQL for the database scenarios: started, tuned and filled by the harness, once per run.

The server is the tests' throwaway PostgreSQL (tests/databases.py: a fresh data folder in a
temporary place, a free port, the `postgres` account when run as root), started with
TechEmpower's tuning and pinned to wrk's core: the application under test keeps its core to
itself. TechEmpower's tables are created and filled once per run, in the database `hello_world`:
World (10,000 rows, id and a randomNumber from 1 to 10,000) and Fortune (its 12 rows).

Besides the answer itself, each database scenario checks the database after a request
(`StoredRows`, `FortunesKept`): the rows answered are the rows stored, and updates were written.
"""

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bench.apps.frameworks.techempower import FORTUNES, POOL_SIZE, WORLD_ROWS

NAME = "hello_world"  # TechEmpower's database name
# TechEmpower's postgresql.conf (toolset/databases/postgres/), where it is not about its
# machine's paths; the throwaway server adds fsync=off and full_page_writes=off (its data lives
# on tmpfs) and listens on 127.0.0.1 only.
TUNING = {
    # One server runs at a time with its POOL_SIZE connections; the rest is room for one still
    # closing its connections as the next starts, and for the harness's own.
    "max_connections": "100",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "effective_cache_size": "1GB",
    "checkpoint_completion_target": "0.9",
    "random_page_cost": "2",
    # A commit is acknowledged before its WAL is written out, as in TechEmpower's runs.
    "synchronous_commit": "off",
    # No checkpoint forced by the updates' WAL during a run.
    "max_wal_size": "1GB",
}
SCHEMA = (
    "CREATE TABLE world (id integer NOT NULL, randomnumber integer NOT NULL DEFAULT 0, "
    "PRIMARY KEY (id))",
    "CREATE TABLE fortune (id integer NOT NULL, message varchar(2048) NOT NULL, PRIMARY KEY (id))",
)
# TechEmpower's own fill: a random number from 1 to 10,000 per row, drawn by the server.
FILL_WORLD = (
    "INSERT INTO world (id, randomnumber) "
    "SELECT x.id, least(floor(random() * %(rows)s + 1), %(rows)s) "
    "FROM generate_series(1, %(rows)s) AS x(id)"
)
# At most this many of an update's rows may keep their number: a new random number is the
# old one once in 10,000 draws, and two in one request of 20 once in some 500,000 requests.
UNCHANGED_ALLOWED = 1
# How long to wait for the requests a server still runs after wrk stopped (their rows would
# change under the check).
QUIET_TIMEOUT = 10.0


def missing() -> str | None:
    """Why PostgreSQL cannot be started here, or None."""
    try:
        import psycopg  # noqa: F401
        from tests.databases import PostgreSQL
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[bench]'), needed for PostgreSQL"
    return PostgreSQL.missing()


def version() -> str:
    """PostgreSQL's version, or 'not installed'."""
    try:
        from tests.databases import postgresql_bindir
    except ImportError:
        return "not installed"
    bindir = postgresql_bindir()
    if bindir is None:
        return "not installed"
    result = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    )
    match = re.search(r"\(PostgreSQL\) (\S+)", result.stdout)
    return match.group(1) if match else "unknown"


@contextlib.contextmanager
def affinity(cpu: int) -> Iterator[None]:
    """This process on `cpu` only, for a while: what it starts meanwhile stays there."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class BenchDatabase:
    """The running database: where it is, and what it holds."""

    def __init__(self, server: Any, name: str = NAME) -> None:
        self.server = server
        self.name = name

    @property
    def address(self) -> str:
        """`user@host:port/name`: what follows `postgresql://` in its URL."""
        return str(self.server.url(self.name)).partition("://")[2]

    @property
    def url(self) -> str:
        """Its URL, no driver named."""
        return f"postgresql://{self.address}"

    @property
    def pid(self) -> int:
        """The server's process id (the postmaster's)."""
        return int(self.server.process.pid)

    def connect(self) -> Any:
        """An autocommit psycopg connection to it."""
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def fill(self) -> None:
        """Create TechEmpower's tables and fill them (World at random, Fortune's 12 rows)."""
        with self.connect() as connection:
            fill_tables(connection)

    def numbers(self) -> dict[int, int]:
        """Every World row's randomNumber, by id."""
        with self.connect() as connection:
            rows = connection.execute("SELECT id, randomnumber FROM world").fetchall()
        return dict(rows)

    def fortune_count(self) -> int:
        """How many rows the Fortune table holds."""
        with self.connect() as connection:
            row = connection.execute("SELECT count(*) FROM fortune").fetchone()
        return int(row[0]) if row else 0

    def wait_quiet(self, timeout: float = QUIET_TIMEOUT) -> None:
        """Return once no other connection is in a statement or a transaction (three looks in a
        row, 50 ms apart), or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        quiet = 0
        with self.connect() as connection:
            while quiet < 3 and time.monotonic() < deadline:
                row = connection.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND state <> 'idle' AND pid <> pg_backend_pid()",
                    (self.name,),
                ).fetchone()
                quiet = quiet + 1 if row and row[0] == 0 else 0
                time.sleep(0.05)


def fill_tables(connection: Any) -> None:
    """TechEmpower's schema and rows, through an autocommit psycopg connection."""
    for statement in SCHEMA:
        connection.execute(statement)
    connection.execute(FILL_WORLD, {"rows": WORLD_ROWS})
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO fortune (id, message) VALUES (%s, %s)", FORTUNES)
    # Statistics and a visibility map before the first query, as after a restore.
    connection.execute("VACUUM ANALYZE")


@contextlib.contextmanager
def running_database(cpu: int) -> Iterator[BenchDatabase]:
    """A fresh, tuned PostgreSQL pinned to `cpu`, with TechEmpower's tables filled; removed
    afterwards."""
    from tests.databases import PostgreSQL

    server = PostgreSQL(TUNING)
    try:
        # The postmaster, and every backend it forks later, inherit this core.
        with affinity(cpu):
            server.start()
        server.create_database(NAME)
        database = BenchDatabase(server)
        database.fill()
        yield database
    finally:
        server.close()


# What a scenario checks in the database around its request.

Send = Callable[[], bytes]


class DatabaseCheck(Protocol):
    """A check of the database around the scenario's request (sent by `send`, which checks the
    answer itself and returns its body)."""

    def describe(self) -> str:
        """The check in a few words, for the docs."""
        ...

    def problem(self, database: BenchDatabase, send: Send) -> str | None:
        """Send the request; what is wrong with the database after it, or None."""
        ...


@dataclass(frozen=True)
class StoredRows:
    """The World rows answered are those the database holds after the request; `updated`:
    and they were given new numbers (no other row changed)."""

    updated: bool = False

    def describe(self) -> str:
        if self.updated:
            return "each row answered is then read back from the database with its new number"
        return "each row answered is the one the database holds"

    def problem(self, database: BenchDatabase, send: Send) -> str | None:
        database.wait_quiet()
        before = database.numbers() if self.updated else None
        body = send()
        database.wait_quiet()
        return stored_problem(answered_rows(body), database.numbers(), before)


@dataclass(frozen=True)
class FortunesKept:
    """The fortune added at request time was not stored: the table still holds its 12 rows."""

    def describe(self) -> str:
        return f"the Fortune table still holds its {len(FORTUNES)} rows"

    def problem(self, database: BenchDatabase, send: Send) -> str | None:
        send()
        count = database.fortune_count()
        if count != len(FORTUNES):
            return f"a page, and the Fortune table now holds {count} rows, not {len(FORTUNES)}"
        return None


def answered_rows(body: bytes) -> list[dict[str, int]]:
    """The World rows of an answer (one object, or a list of them)."""
    value = json.loads(body)
    return value if isinstance(value, list) else [value]


def stored_problem(
    rows: Sequence[Mapping[str, int]],
    after: Mapping[int, int],
    before: Mapping[int, int] | None = None,
) -> str | None:
    """What is wrong with the database after a request answered `rows`, or None: each row's
    number must be stored; with `before` (an update), the rows must have changed, and no other.
    """
    answered: dict[int, set[int]] = {}
    for row in rows:
        # The same id twice in one answer: the database keeps one of its numbers.
        answered.setdefault(row["id"], set()).add(row["randomNumber"])
    for row_id, numbers in answered.items():
        stored = after.get(row_id)
        if stored not in numbers:
            shown = ", ".join(str(number) for number in sorted(numbers))
            return f"row {row_id} with randomNumber {shown}, but the database holds {stored}"
    if before is None:
        return None
    unchanged = [row_id for row_id in answered if before.get(row_id) == after[row_id]]
    if len(unchanged) > UNCHANGED_ALLOWED:
        return (
            f"{len(answered)} rows, {len(unchanged)} of which the database holds unchanged: "
            "the updates were not written"
        )
    others = sorted(
        row_id for row_id, number in after.items()
        if row_id not in answered and before.get(row_id) != number
    )  # fmt: skip
    if others:
        return f"{len(answered)} rows, but rows it did not answer changed too: {others[:5]}"
    return None


def pool_note() -> str:
    """How many connections each contender may hold, for the docs."""
    return (
        f"every application holds at most {POOL_SIZE} connections: the async ones a pool of "
        f"{POOL_SIZE} (no overflow), Flask and Django one per gunicorn thread ({POOL_SIZE})"
    )
