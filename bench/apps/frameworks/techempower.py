"""What the database applications share: TechEmpower's tables, fortunes and rules.

Each database application (`*_db.py`, and `fastapi_asyncpg.py` with no ORM) serves the four
database scenarios from PostgreSQL, whose tables the harness creates and fills once per run
(bench/database.py):

    GET /db                  one random World row as JSON                           (db-single)
    GET /queries?queries=20  20 random World rows, one query each, as a JSON list   (db-queries)
    GET /fortunes            every Fortune and one added at request time, sorted by
                             message, as an HTML table (Jinja2, escaped)            (db-fortunes)
    GET /updates?queries=20  20 random rows read, each given a new random number,
                             written back, and answered as a JSON list             (db-updates)

The harness gives every server the database in DATABASE_URL (`postgresql://user@host:port/name`,
or with porch's driver named for porch) and the pool size in DATABASE_POOL_SIZE; each
application connects as its framework's documentation shows.
"""

import os
import random
from urllib.parse import urlsplit

WORLD_ROWS = 10_000
# TechEmpower's bounds for ?queries=: at least 1, at most 500.
MAX_QUERIES = 500
QUERIES = 20
# Connections each application may hold (threads with one connection each, for the WSGI ones).
POOL_SIZE = 10

# TechEmpower's 12 fortunes, as toolset/databases/postgres/create-postgres.sql inserts them.
FORTUNES: tuple[tuple[int, str], ...] = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "フレームワークのベンチマーク"),
)
# Added to the page at each request, never stored; id 0.
ADDITIONAL_FORTUNE = "Additional fortune added at request time."


def query_count(text: str | None) -> int:
    """TechEmpower's reading of ?queries=: 1 when missing or not a number, else within 1..500."""
    try:
        count = int(text or "")
    except ValueError:
        return 1
    return min(max(count, 1), MAX_QUERIES)


def random_id() -> int:
    """The id of a random World row."""
    return random.randint(1, WORLD_ROWS)


def random_ids(count: int) -> list[int]:
    """`count` distinct random World ids, in ascending order."""
    # Ascending: every request that writes locks its rows in the same order, so two concurrent
    # updates never deadlock; distinct, so that each read is a query of its own.
    return sorted(random.sample(range(1, WORLD_ROWS + 1), count))


def random_number() -> int:
    """A new randomNumber: 1 to 10,000."""
    return random.randint(1, WORLD_ROWS)


def database_url(driver: str = "") -> str:
    """DATABASE_URL with `driver` named for SQLAlchemy (`postgresql+asyncpg://...`)."""
    url = os.environ["DATABASE_URL"]
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}+{driver}://{rest}" if driver else f"postgresql://{rest}"


def database_parts() -> dict[str, str]:
    """DATABASE_URL's host, port, user and database name (for Django's DATABASES)."""
    url = urlsplit(database_url())
    return {
        "HOST": url.hostname or "",
        "PORT": str(url.port or 5432),
        "USER": url.username or "",
        "PASSWORD": url.password or "",
        "NAME": url.path.lstrip("/"),
    }


def pool_size() -> int:
    """The pool size the harness asks for (DATABASE_POOL_SIZE), POOL_SIZE by default."""
    return int(os.environ.get("DATABASE_POOL_SIZE") or POOL_SIZE)
