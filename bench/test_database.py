"""Tests of the database scenarios' harness: the answers' checks, the rules, the data set-up."""

import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest

from bench import database as db
from bench import report
from bench.answers import WorldRows
from bench.apps.frameworks.techempower import (
    ADDITIONAL_FORTUNE,
    FORTUNES,
    POOL_SIZE,
    WORLD_ROWS,
    database_parts,
    database_url,
    query_count,
    random_ids,
)
from bench.runner import Outcome, Plan, database_for, display_command
from bench.scenarios import (
    ANSWERED_FORTUNES,
    DATABASE_PEERS,
    DATABASE_SCENARIOS,
    GROUPS,
    SCENARIOS,
)
from bench.wrk import WrkResult

TEMPLATES = Path(__file__).parent / "apps" / "frameworks" / "templates"
JSON = "application/json"


def rows_body(rows: Any) -> bytes:
    """An answer's body."""
    return json.dumps(rows).encode()


def test_world_rows_accepts_one_row_or_a_list_of_count() -> None:
    assert WorldRows().problem(b'{"randomNumber": 10000, "id": 1}', JSON) is None
    twenty = [{"id": n, "randomNumber": 10_001 - n} for n in range(1, 21)]
    assert WorldRows(20).problem(rows_body(twenty), "application/json; charset=utf-8") is None


@pytest.mark.parametrize(
    ("row", "complaint"),
    [
        ({"id": 1}, "not an object of id and randomNumber"),
        ({"id": 1, "randomNumber": 2, "extra": 3}, "not an object of id and randomNumber"),
        ({"id": 1, "randomnumber": 2}, "not an object of id and randomNumber"),
        ({"id": "1", "randomNumber": 2}, "id is not an integer"),
        ({"id": 1, "randomNumber": 2.0}, "randomNumber is not an integer"),
        ({"id": True, "randomNumber": 2}, "id is not an integer"),
        ({"id": 0, "randomNumber": 2}, "id is not an integer from 1 to 10,000"),
        ({"id": 1, "randomNumber": 10_001}, "randomNumber is not an integer from 1 to 10,000"),
        ([{"id": 1, "randomNumber": 2}], "not an object"),
    ],
)
def test_world_rows_refuses_a_wrong_row(row: Any, complaint: str) -> None:
    problem = WorldRows().problem(rows_body(row), JSON)
    assert problem is not None
    assert complaint in problem


def test_world_rows_wants_exactly_count_rows_as_json() -> None:
    row = {"id": 5, "randomNumber": 6}
    short = WorldRows(20).problem(rows_body([row] * 19), JSON)
    assert "19 items, not a list of 20" in (short or "")
    assert "no list" in (WorldRows(20).problem(rows_body(row), JSON) or "")
    assert "Content-Type" in (WorldRows().problem(rows_body(row), "text/plain") or "")
    assert "not JSON" in (WorldRows().problem(b"{id: 5}", JSON) or "")
    bad = [row] * 19 + [{"id": 5, "randomNumber": -1}]
    assert "randomNumber is not an integer" in (WorldRows(20).problem(rows_body(bad), JSON) or "")


def test_stored_problem_wants_the_rows_answered_to_be_the_rows_stored() -> None:
    stored = {1: 10, 2: 20, 3: 30}
    assert db.stored_problem([{"id": 1, "randomNumber": 10}], stored) is None
    assert db.stored_problem([{"id": 2, "randomNumber": 21}], stored) == (
        "row 2 with randomNumber 21, but the database holds 20"
    )
    # The same row twice in one answer: the database keeps one of the two numbers.
    twice = [{"id": 3, "randomNumber": 29}, {"id": 3, "randomNumber": 30}]
    assert db.stored_problem(twice, stored) is None


def test_stored_problem_of_an_update_wants_new_numbers_written() -> None:
    before = {row_id: row_id for row_id in range(1, 101)}
    answered = [{"id": row_id, "randomNumber": row_id + 1000} for row_id in range(1, 21)]
    written = {**before, **{row["id"]: row["randomNumber"] for row in answered}}
    assert db.stored_problem(answered, written, before) is None
    # Answered, not written: the database still holds the old numbers.
    problem = db.stored_problem(answered, before, before)
    assert problem == "row 1 with randomNumber 1001, but the database holds 1"
    # Answered with the old numbers and written back unchanged: no update happened.
    same = [{"id": row_id, "randomNumber": row_id} for row_id in range(1, 21)]
    assert db.stored_problem(same, before, before) == (
        "20 rows, 20 of which the database holds unchanged: the updates were not written"
    )
    # One new random number may equal the old one.
    one_kept = [{"id": 1, "randomNumber": 1}, *answered[1:]]
    assert db.stored_problem(one_kept, {**written, 1: 1}, before) is None
    # Other rows than those answered changed.
    elsewhere = {**written, 50: 5000}
    assert db.stored_problem(answered, elsewhere, before) == (
        "20 rows, but rows it did not answer changed too: [50]"
    )


@pytest.mark.parametrize(
    ("text", "count"),
    [(None, 1), ("", 1), ("foo", 1), ("0", 1), ("-3", 1), ("1", 1), ("20", 20), ("501", 500)],
)
def test_query_count_follows_techempower(text: str | None, count: int) -> None:
    assert query_count(text) == count


def test_random_ids_are_distinct_ascending_and_in_the_table() -> None:
    for _ in range(50):
        ids = random_ids(20)
        assert ids == sorted(set(ids))
        assert len(ids) == 20
        assert ids[0] >= 1
        assert ids[-1] <= WORLD_ROWS


def test_database_url_names_each_applications_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://porch@127.0.0.1:5433/hello_world")
    assert database_url() == "postgresql://porch@127.0.0.1:5433/hello_world"
    assert database_url("psycopg") == "postgresql+psycopg://porch@127.0.0.1:5433/hello_world"
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://porch@h:1/w")
    assert database_url() == "postgresql://porch@h:1/w"
    assert database_parts() == {
        "HOST": "h", "PORT": "1", "USER": "porch", "PASSWORD": "", "NAME": "w"
    }  # fmt: skip


def fortunes_page(autoescape: bool) -> bytes:
    """fortunes.html rendered as the applications render it."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=autoescape
    )
    rows = [{"id": row_id, "message": message} for row_id, message in ANSWERED_FORTUNES]
    return environment.get_template("fortunes.html").render(fortunes=rows).encode()


def test_the_fortunes_page_is_every_row_and_one_more_sorted_and_escaped() -> None:
    (fortunes,) = [s for s in DATABASE_SCENARIOS if s.name == "db-fortunes"]
    rows = fortunes.expect.rows  # type: ignore[attr-defined]
    assert len(rows) == len(FORTUNES) + 1 == 13
    assert rows[0] == ("11", FORTUNES[10][1])  # `<script>` sorts first
    assert ("0", ADDITIONAL_FORTUNE) in rows
    assert [message for _, message in rows] == sorted(message for _, message in rows)
    assert rows[-1][1] == "フレームワークのベンチマーク"
    assert fortunes.expect.problem(fortunes_page(autoescape=True), "text/html") is None
    unescaped = fortunes.expect.problem(fortunes_page(autoescape=False), "text/html")
    assert unescaped is not None
    assert "is not escaped" in unescaped


def test_the_database_scenarios_run_porch_against_the_orms() -> None:
    assert DATABASE_PEERS == ("fastapi-sqlalchemy", "django", "flask-sqlalchemy")
    assert [s.name for s in DATABASE_SCENARIOS] == [
        "db-single", "db-queries", "db-fortunes", "db-updates"
    ]  # fmt: skip
    assert [s.name for s in SCENARIOS if s.group == "database"] == [
        s.name for s in DATABASE_SCENARIOS
    ]
    assert "database" in GROUPS
    for scenario in DATABASE_SCENARIOS:
        assert scenario.database_check is not None
        assert scenario.target is not None
        assert scenario.target.describe() == "porch >= 1.3x fastapi-sqlalchemy"
        assert scenario.ahead_of == DATABASE_PEERS
        assert scenario.compared_with == ("fastapi-asyncpg",)
        assert [server.label for server in scenario.servers] == [
            "porch", *DATABASE_PEERS, "fastapi-asyncpg"
        ]  # fmt: skip
    single, queries, _, updates = DATABASE_SCENARIOS
    assert (single.path, queries.path, updates.path) == (
        "/db", "/queries?queries=20", "/updates?queries=20"
    )  # fmt: skip
    assert updates.database_check == db.StoredRows(updated=True)


def test_every_database_server_gets_the_database_and_the_same_pool() -> None:
    values = {"database": "porch@127.0.0.1:5433/hello_world"}
    for server in DATABASE_SCENARIOS[0].servers:
        env = server.environment(values)
        assert env["DATABASE_URL"].endswith("://porch@127.0.0.1:5433/hello_world"), server.label
        assert env["DATABASE_POOL_SIZE"] == str(POOL_SIZE)
        if "gunicorn" in server.command:
            # One connection per thread: as many threads as the others have connections.
            assert f"--threads {POOL_SIZE}" in server.command
    porch = DATABASE_SCENARIOS[0].server("porch").environment(values)
    assert porch["DATABASE_URL"].startswith("postgresql+asyncpg://")
    # porch's defaults otherwise: pre-ping stays on, as a user runs it.
    assert porch["DATABASE_MAX_OVERFLOW"] == "0"
    assert "DATABASE_POOL_PRE_PING" not in porch
    assert display_command(DATABASE_SCENARIOS[0].server("porch")).startswith(
        "DATABASE_URL=postgresql+asyncpg://USER@127.0.0.1:PORT/hello_world DATABASE_POOL_SIZE=10 "
    )


def outcomes_of(scenarios: Any, failure: str | None = None) -> dict[tuple[str, str], Outcome]:
    """An empty outcome for every server of `scenarios`."""
    return {
        (s.name, server.label): Outcome(s.name, server.label, "cmd", failure=failure)
        for s in scenarios
        for server in s.servers
    }


def test_without_postgresql_the_database_scenarios_are_skipped_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "missing", lambda: "PostgreSQL is not installed (apt-get ...)")
    found = outcomes_of(DATABASE_SCENARIOS[:1])
    said: list[str] = []
    with database_for(DATABASE_SCENARIOS[:1], found, 1, said.append) as database:
        assert database is None
    assert said == [
        "bench: the database scenarios are skipped: PostgreSQL is not installed (apt-get ...)"
    ]
    assert {outcome.failure for outcome in found.values()} == {
        "PostgreSQL is not installed (apt-get ...)"
    }


def test_no_database_is_started_when_no_database_scenario_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(db, "missing", lambda: pytest.fail("asked for PostgreSQL"))
    others = [s for s in SCENARIOS if s.database_check is None]
    with database_for(others, outcomes_of(others), 1, print) as database:
        assert database is None
    # Every database server already failed (say, not installed): nothing to start either.
    found = outcomes_of(DATABASE_SCENARIOS, failure="not installed")
    with database_for(DATABASE_SCENARIOS, found, 1, print) as database:
        assert database is None


def sample(rate: float) -> WrkResult:
    """A one-second run at `rate` requests per second, without errors."""
    latency = {"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1000.0, "max": 1.0}
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    return WrkResult(int(rate), 1.0, int(rate) * 100, errors, latency)


def test_the_report_has_a_database_section_saying_how_the_cores_were_shared() -> None:
    single = DATABASE_SCENARIOS[0]
    rates = {"porch": 1500, "fastapi-sqlalchemy": 1000, "django": 1200, "flask-sqlalchemy": 900,
             "fastapi-asyncpg": 3000}  # fmt: skip
    found = {
        (single.name, label): Outcome(single.name, label, "cmd", [sample(rate)])
        for label, rate in rates.items()
    }
    goals = dict(report.verdicts(single, found))
    assert goals["target porch >= 1.3x fastapi-sqlalchemy"].label == "PASS"
    ahead = goals["porch ahead of fastapi-sqlalchemy, django, flask-sqlalchemy"]
    assert (ahead.label, ahead.reason) == ("PASS", "1.25x the fastest other, django")
    versus = goals["porch vs fastapi-asyncpg"]
    assert (versus.label, versus.reason) == ("no target", "0.50x")
    machine = {
        "versions": {"porch": "0", "postgresql": "15.18"},
        "load_average": [0.0, 0.0, 0.0],
        "cpu": "cpu",
        "cpu_count": 2,
        "kernel": "k",
        "python": "p",
    }
    plan = Plan(rounds=1, duration=3, warmup=1, server_cpu=0, client_cpu=1)
    charts = report.chart_names([single])
    assert charts == {"database": "benchmarks-database.png"}
    text = report.markdown_report([single], found, plan, machine, "python -m bench", "now", charts)
    assert f"## {GROUPS['database']}\n\n![Requests per second" in text
    assert "(benchmarks-database.png)" in text
    assert "| db-single | porch vs fastapi-asyncpg | 0.50x | **no target** |" in text
    method = re.search(r"- The database scenarios .*", text)
    assert method is not None
    assert "PostgreSQL 15.18" in method.group()
    assert "the server alone on CPU 0; PostgreSQL and wrk together on CPU 1" in method.group()
    assert "synchronous_commit=off" in method.group()
    assert f"at most {POOL_SIZE} connections" in method.group()
    assert "each row answered is the one the database holds" in text


# With a real PostgreSQL (skipped where it is not installed; CI installs it).


def test_the_database_is_tuned_pinned_and_filled(bench_database: db.BenchDatabase) -> None:
    numbers = bench_database.numbers()
    assert sorted(numbers) == list(range(1, WORLD_ROWS + 1))
    assert all(1 <= number <= WORLD_ROWS for number in numbers.values())
    assert len(set(numbers.values())) > WORLD_ROWS // 2  # random, not one value
    with bench_database.connect() as connection:
        assert connection.execute("SELECT id, message FROM fortune ORDER BY id").fetchall() == (
            list(FORTUNES)
        )
        for name, value in db.TUNING.items():
            shown = connection.execute(f"SHOW {name}").fetchone()
            assert shown is not None
            assert shown[0] == value, name
    status = Path(f"/proc/{bench_database.pid}/status").read_text()
    cpu = max(os.sched_getaffinity(0))
    assert re.search(rf"Cpus_allowed_list:\s+{cpu}\n", status)


def read_rows(database: db.BenchDatabase, ids: list[int]) -> list[dict[str, int]]:
    """Rows as an application answers them, read from the database."""
    numbers = database.numbers()
    return [{"id": row_id, "randomNumber": numbers[row_id]} for row_id in ids]


def test_stored_rows_catches_made_up_and_unwritten_rows(bench_database: db.BenchDatabase) -> None:
    ids = random_ids(20)

    def honest() -> bytes:
        return rows_body(read_rows(bench_database, ids))

    def made_up() -> bytes:
        return rows_body([{**row, "randomNumber": row["randomNumber"] % WORLD_ROWS + 1}
                          for row in read_rows(bench_database, ids)])  # fmt: skip

    def updating() -> bytes:
        rows = [{**row, "randomNumber": row["randomNumber"] % WORLD_ROWS + 1}
                for row in read_rows(bench_database, ids)]  # fmt: skip
        with bench_database.connect() as connection, connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE world SET randomnumber = %(randomNumber)s WHERE id = %(id)s", rows
            )
        return rows_body(rows)

    assert db.StoredRows().problem(bench_database, honest) is None
    assert "but the database holds" in (db.StoredRows().problem(bench_database, made_up) or "")
    unwritten = db.StoredRows(updated=True).problem(bench_database, honest)
    assert unwritten == (
        "20 rows, 20 of which the database holds unchanged: the updates were not written"
    )
    assert db.StoredRows(updated=True).problem(bench_database, updating) is None


def test_fortunes_kept_catches_a_stored_additional_fortune(
    bench_database: db.BenchDatabase,
) -> None:
    assert db.FortunesKept().problem(bench_database, lambda: b"") is None

    def storing() -> bytes:
        with bench_database.connect() as connection:
            connection.execute(
                "INSERT INTO fortune (id, message) VALUES (0, %s)", (ADDITIONAL_FORTUNE,)
            )
        return b""

    try:
        assert db.FortunesKept().problem(bench_database, storing) == (
            "a page, and the Fortune table now holds 13 rows, not 12"
        )
    finally:
        with bench_database.connect() as connection:
            connection.execute("DELETE FROM fortune WHERE id = 0")
