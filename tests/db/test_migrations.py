"""`porch db` (porch/db/migrations.py, porch/cli/db.py) end to end: a small application in a
temporary folder, the real command in subprocesses, on SQLite and on PostgreSQL."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from porch.db.migrations import WAITING, migration_lock
from tests.databases import driver_url
from tests.support import ROOT, PorchProcess, porch_db, porch_db_command

HEADER = """
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from porch import App, Settings
from porch.db import Database, Model

app = App(__name__, settings=Settings)
db = Database(app)
"""

TEAMS = (
    HEADER
    + """
class Team(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    city: Mapped[str] = mapped_column(String(80), index=True)


class Player(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
"""
)

# A new column with a server default, the index on city renamed, a new foreign key, and a
# longer name (a type change: on SQLite, the table is copied).
TEAMS_CHANGED = (
    HEADER
    + """
class Team(Model):
    __table_args__ = (Index("ix_team_town", "city"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    city: Mapped[str] = mapped_column(String(80))
    level: Mapped[str] = mapped_column(String(20), server_default="beginner")


class Player(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
"""
)

REVISION = re.compile(r"^Created (migrations/versions/\S+-([0-9a-f]{12})_\w+\.py)$", re.M)


class Project:
    """An application in a folder of its own, and `porch db` run on it."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder = folder
        self.url = url
        self.engine = sa.create_engine(driver_url(url), poolclass=NullPool)

    def write(self, source: str) -> None:
        (self.folder / "app.py").write_text(source)

    def command(self, *args: str) -> dict[str, Any]:
        """Popen's arguments for `python -m porch db --app app:app ARGS`."""
        return porch_db_command(
            "--app", "app:app", *args, cwd=self.folder, database_url=self.url, path=(self.folder,)
        )

    def db(self, *args: str, status: int = 0) -> str:
        """`python -m porch db --app app:app ARGS`: its output, once it exits with `status`."""
        return porch_db(
            "--app", "app:app", *args,
            cwd=self.folder, database_url=self.url, path=(self.folder,), status=status,
        )  # fmt: skip

    def make(self, message: str) -> str:
        """`makemigrations -m MESSAGE`: the new revision's id."""
        output = self.db("makemigrations", "-m", message)
        match = REVISION.search(output)
        assert match, output
        assert (self.folder / match.group(1)).is_file()
        return match.group(2)

    def revision_files(self) -> list[Path]:
        return sorted((self.folder / "migrations" / "versions").glob("*.py"))

    def tables(self) -> set[str]:
        return set(sa.inspect(self.engine).get_table_names())

    def columns(self, table: str) -> set[str]:
        return {column["name"] for column in sa.inspect(self.engine).get_columns(table)}

    def column_type(self, table: str, column: str) -> sa.types.TypeEngine:
        (found,) = [c for c in sa.inspect(self.engine).get_columns(table) if c["name"] == column]
        return found["type"]

    def indexes(self, table: str) -> set[str]:
        # Not unique: PostgreSQL and MariaDB list the index behind a unique constraint too.
        indexes = sa.inspect(self.engine).get_indexes(table)
        return {str(index["name"]) for index in indexes if not index["unique"]}

    def foreign_keys(self, table: str) -> set[str]:
        return {str(fk["name"]) for fk in sa.inspect(self.engine).get_foreign_keys(table)}

    def rows(self, query: str) -> list[tuple[object, ...]]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(query))]

    def execute(self, statement: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.text(statement))


@pytest.fixture
def project(tmp_path: Path, database_url: str) -> Iterator[Project]:
    """The teams application in tmp_path, with `porch db init` done, on a fresh database."""
    yield from initialised(tmp_path, database_url)


@pytest.fixture
def mariadb_project(tmp_path: Path, mariadb_url: str) -> Iterator[Project]:
    """The same on MariaDB (a smaller suite: what differs there)."""
    yield from initialised(tmp_path, mariadb_url)


def initialised(folder: Path, url: str) -> Iterator[Project]:
    project = Project(folder, url)
    project.write(TEAMS)
    output = project.db("init")
    assert "Created migrations" in output
    yield project
    project.engine.dispose()


def test_init_makes_a_folder_whose_env_py_is_porchs(project):
    folder = project.folder / "migrations"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README",
        "env.py",
        "script.py.mako",
        "versions",
    ]
    assert "run_environment()" in (folder / "env.py").read_text()
    # A second init would overwrite the user's folder: refused.
    output = project.db("init", status=1)
    assert output.startswith("Error: ") and "already exists" in output


def test_from_an_empty_database_makemigrations_and_migrate_create_the_tables(project):
    assert project.tables() == set()
    output = project.db("makemigrations", "-m", "create tables")
    assert "  - create table team" in output and "  - create table player" in output
    (path,) = project.revision_files()
    revision = REVISION.search(output)
    assert revision and path.name.endswith(f"-{revision.group(2)}_create_tables.py")
    assert project.tables() == set()  # making a migration changes no database

    output = project.db("migrate")
    assert f"Applied  {revision.group(2)}  create tables" in output
    assert project.tables() == {"alembic_version", "team", "player"}
    assert project.indexes("team") == {"ix_team_city"}
    assert project.rows("SELECT version_num FROM alembic_version") == [(revision.group(2),)]

    assert project.db("makemigrations", "-m", "again").strip() == "No changes detected."
    assert len(project.revision_files()) == 1
    assert project.db("migrate").startswith("No migrations to apply.")


def test_a_model_change_upgrades_existing_data_and_downgrades_again(project):
    upgrade_and_downgrade(project)


def test_the_same_change_on_mariadb(mariadb_project):
    # MySQL and MariaDB commit DDL as it runs; the revisions themselves work there too.
    upgrade_and_downgrade(mariadb_project)


def upgrade_and_downgrade(project: Project) -> None:
    """Data in, a model change made and applied, then reverted: no row lost on the way."""
    first = project.make("create tables")
    project.db("migrate")
    project.execute("INSERT INTO team (name, city) VALUES ('Owls', 'Leeds'), ('Bats', 'York')")
    project.execute("INSERT INTO player (name) VALUES ('Ann'), ('Bob')")

    project.write(TEAMS_CHANGED)
    output = project.db("makemigrations", "-m", "add team level")
    for change in (
        "alter column team.name (type)",
        "add column team.level",
        "drop index ix_team_city on team",
        "add index ix_team_town on team",
        "add column player.team_id",
        "add foreign key fk_player_team_id_team on player",
    ):
        assert f"  - {change}\n" in output
    second = REVISION.search(output)
    assert second
    # Batch mode, so that the same file alters tables on SQLite and PostgreSQL alike.
    assert "batch_alter_table" in (project.folder / second.group(1)).read_text()

    output = project.db("migrate")
    assert f"Applied  {second.group(2)}  add team level" in output
    assert f"Applied  {first}" not in output
    assert project.rows("SELECT name, city, level FROM team ORDER BY name") == [
        ("Bats", "York", "beginner"),
        ("Owls", "Leeds", "beginner"),
    ]
    assert project.rows("SELECT name, team_id FROM player ORDER BY name") == [
        ("Ann", None),
        ("Bob", None),
    ]
    assert project.indexes("team") == {"ix_team_town"}
    assert project.foreign_keys("player") == {"fk_player_team_id_team"}
    assert project.column_type("team", "name").length == 120
    project.execute("UPDATE player SET team_id = (SELECT id FROM team WHERE name = 'Owls')")
    assert "OK" in project.db("check")  # the server default compares equal on both

    output = project.db("downgrade", "-1")
    assert f"Reverted {second.group(2)}  add team level" in output
    assert f"At {first}  create tables" in output
    assert project.columns("team") == {"id", "name", "city"}
    assert project.columns("player") == {"id", "name"}
    assert project.indexes("team") == {"ix_team_city"}
    assert project.foreign_keys("player") == set()
    assert project.column_type("team", "name").length == 80
    assert project.rows("SELECT name, city FROM team ORDER BY name") == [
        ("Bats", "York"),
        ("Owls", "Leeds"),
    ]
    assert project.rows("SELECT name FROM player ORDER BY name") == [("Ann",), ("Bob",)]

    project.db("migrate")  # and up again, from the downgraded data
    assert project.rows("SELECT count(*) FROM team WHERE level = 'beginner'") == [(2,)]
    project.db("downgrade", "base")
    assert project.tables() == {"alembic_version"}


def test_check_fails_while_a_change_is_unmigrated_and_passes_after(project):
    output = project.db("check", status=1)
    assert "Error: The models differ from the migrations (3 changes)" in output
    assert "  - create table team" in output

    project.make("create tables")
    output = project.db("check", status=1)
    assert "Error: The database lacks 1 migration" in output and "porch db migrate" in output
    project.db("migrate")
    assert project.db("check").startswith("OK: the database is at ")

    project.write(TEAMS_CHANGED)
    output = project.db("check", status=1)
    assert "  - add column team.level" in output
    assert "Error: The models differ from the migrations (6 changes)" in output
    project.make("add team level")
    project.db("check", status=1)  # made, not applied yet
    project.db("migrate")
    assert project.db("check").startswith("OK")


def test_history_and_current_say_what_is_applied(project):
    assert "No migrations yet" in project.db("history")
    assert project.db("current").strip() == "At base: no migrations applied"
    first = project.make("create tables")
    project.db("migrate")
    project.write(TEAMS_CHANGED)
    second = project.make("add team level")
    project.db("downgrade", "base")

    assert project.db("history").splitlines() == [
        f"[ ] {first}  create tables",
        f"[ ] {second}  add team level (head)",
    ]
    output = project.db("migrate", first)
    assert output.splitlines()[0] == f"Applied  {first}  create tables"
    assert project.db("history").splitlines() == [
        f"[X] {first}  create tables",
        f"[ ] {second}  add team level (head)",
    ]
    assert project.db("current").splitlines() == [
        f"At {first}  create tables",
        f"1 migration to apply ({second}): porch db migrate",
    ]
    project.db("migrate")
    assert project.db("current").splitlines() == [f"At {second}  add team level (head)"]
    assert project.db("history").splitlines()[1] == f"[X] {second}  add team level (head)"


def test_a_failed_revision_is_rolled_back_whole_and_named_in_one_line(project):
    first = project.make("create tables")
    project.db("migrate")
    project.execute("INSERT INTO team (name, city) VALUES ('Owls', 'Leeds')")
    # A new table, then a NOT NULL column with no default on a table that has rows: the
    # second step fails once the first is done.
    project.write(
        TEAMS.replace(
            "    city: Mapped[str] = mapped_column(String(80), index=True)\n",
            "    city: Mapped[str] = mapped_column(String(80), index=True)\n"
            "    rank: Mapped[int]\n",
        )
        + """

class League(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
"""
    )
    failing = project.make("add rank")
    output = project.db("migrate", status=1)
    (line,) = output.splitlines()
    assert line.startswith(f"Error: {failing} (add rank) failed: ")
    assert re.search(r"\(migrations/versions/\S+_add_rank\.py:\d+\)$", line)
    # The new table went with the failed step: the revision is applied whole or not at all.
    assert project.tables() == {"alembic_version", "team", "player"}
    assert not any(name.startswith("_alembic_tmp") for name in project.tables())
    assert project.rows("SELECT name FROM team") == [("Owls",)]
    assert project.db("current").startswith(f"At {first}  create tables")


def test_a_revision_that_breaks_a_foreign_key_is_rolled_back(project):
    project.write(TEAMS_CHANGED)
    project.make("create tables")
    output = project.db("makemigrations", "--empty", "-m", "orphan player")
    (path,) = [p for p in project.revision_files() if p.name.endswith("_orphan_player.py")]
    assert "Created" in output
    source = path.read_text()
    # With foreign keys off while SQLite copies tables, porch checks them before the commit.
    path.write_text(
        source.replace(
            "def upgrade() -> None:\n    pass",
            "def upgrade() -> None:\n"
            "    op.execute(\"INSERT INTO player (name, team_id) VALUES ('Ghost', 999)\")",
        )
    )
    output = project.db("migrate", status=1)
    assert "Applied " in output.splitlines()[0]  # the first revision
    assert output.splitlines()[-1].startswith("Error: ")
    assert project.rows("SELECT count(*) FROM player") == [(0,)]
    assert "1 migration to apply" in project.db("current")


def test_unnamed_revisions_are_named_for_what_they_do(project):
    output = project.db("makemigrations")
    assert re.search(r"-[0-9a-f]{12}_initial\.py$", output.splitlines()[0])
    project.db("migrate")
    project.write(TEAMS_CHANGED)
    project.db("makemigrations")
    assert (
        project.db("history")
        .splitlines()[1]
        .endswith(
            "  add column player.team_id, add foreign key fk_player_team_id_team on player "
            "and 4 more (head)"
        )
    )


def test_alembics_own_command_line_runs_the_same_env_py(project):
    revision = project.make("create tables")
    (project.folder / "alembic.ini").write_text(
        "[alembic]\nscript_location = migrations\npath_separator = os\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project.folder), str(ROOT / "src")]),
        "PORCH_APP": "app:app",
        "DATABASE_URL": project.url,
    }
    alembic = [sys.executable, "-m", "alembic"]
    done = subprocess.run(
        [*alembic, "upgrade", "head"], cwd=project.folder, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert project.tables() == {"alembic_version", "team", "player"}
    assert project.db("current").strip() == f"At {revision}  create tables (head)"


def test_merge_joins_two_branches(project):
    first = project.make("create tables")
    project.db("makemigrations", "--empty", "-m", "one branch")
    # A second branch from the same parent, as a colleague's would arrive through git.
    (project.folder / "migrations" / "versions" / "other_branch.py").write_text(
        f'"""other branch"""\n\nrevision = "0b0b0b0b0b0b"\ndown_revision = "{first}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n"
    )
    project.db("migrate", "heads")
    output = project.db("check", status=1)
    assert "The migrations have 2 heads" in output and "porch db merge" in output
    assert "Created migrations/versions/" in project.db("merge")
    output = project.db("migrate")
    assert "Applied " in output and output.strip().endswith("(head)")
    assert project.db("check").startswith("OK")
    project.db("merge", status=1)  # one head now: nothing to merge


def test_tables_made_without_migrations_are_adopted_with_stamp(project):
    # The quick start: db.create_all(), then migrations wanted.
    subprocess.run(
        [sys.executable, "-c", "import app; app.db.create_all()"],
        cwd=project.folder,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": project.url},
        check=True,
    )
    output = project.db("makemigrations", status=1)
    assert "there are no migrations yet" in output and "porch db stamp head" in output
    empty = Project(project.folder, f"sqlite:///{project.folder / 'empty.db'}")
    revision = empty.make("create tables")
    assert f"Stamped  {revision}" in project.db("stamp", "head")
    assert project.db("check").startswith("OK")


def test_stamp_records_a_revision_without_running_it(project):
    revision = project.make("create tables")
    output = project.db("stamp", "head")
    assert f"Stamped  {revision}" in output
    assert project.tables() == {"alembic_version"}  # nothing ran
    assert project.db("current").strip() == f"At {revision}  create tables (head)"


def test_migrate_sql_prints_the_statements_and_runs_nothing(project):
    project.make("create tables")
    output = project.db("migrate", "--sql")
    assert "CREATE TABLE team" in output
    assert project.tables() == set()


def test_porch_run_warns_of_unapplied_migrations_and_never_applies_them(project):
    first = project.make("create tables")
    env = {"DATABASE_URL": project.url, "PYTHONDONTWRITEBYTECODE": "1"}
    with PorchProcess(["run", "app:app"], cwd=project.folder, env=env) as server:
        server.wait_ready()
        assert f"WARNING The database lacks 1 migration: {first} (create tables)" in server.output
        assert "porch db migrate" in server.output
    assert project.tables() == set()  # porch run never migrates

    project.db("migrate")
    with PorchProcess(["run", "app:app"], cwd=project.folder, env=env) as server:
        server.wait_ready()  # the check runs before the server listens
        assert "migration" not in server.output


# Two commands at once (two deploys that migrate): they take turns.


def test_a_command_waits_while_another_holds_the_lock(project):
    waits_for_the_lock(project)


def test_a_command_waits_for_the_lock_on_mariadb(mariadb_project):
    waits_for_the_lock(mariadb_project)


def waits_for_the_lock(project: Project) -> None:
    """`porch db migrate` waits, applying nothing, while the test holds the lock."""
    revision = project.make("create tables")
    said: list[str] = []
    with project.engine.connect() as connection, migration_lock(connection, said.append):
        assert said == []  # nobody held it
        waiting = subprocess.Popen(
            **project.command("migrate"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert waiting.stdout is not None
        assert waiting.stdout.readline().strip() == WAITING
        # It read nothing yet, so it applies nothing while the lock is held.
        time.sleep(0.5)
        assert waiting.poll() is None
        # (MariaDB commits DDL as it runs: makemigrations left Alembic's version table.)
        assert project.tables() <= {"alembic_version"}
    output = waiting.communicate(timeout=60)[0]
    assert waiting.returncode == 0, output
    assert f"Applied  {revision}  create tables" in output
    assert project.tables() == {"alembic_version", "team", "player"}


def test_two_migrations_at_once_apply_each_revision_once(project):
    revisions = [project.make("create tables")]
    project.db("migrate")
    project.write(TEAMS_CHANGED)
    revisions.append(project.make("add team level"))
    project.db("downgrade", "base")
    # The first revision lasts long enough that both commands have started before it commits.
    (first, _) = project.revision_files()
    source = first.read_text()
    assert "def upgrade() -> None:\n" in source
    first.write_text(
        source.replace(
            "def upgrade() -> None:\n", "def upgrade() -> None:\n    __import__('time').sleep(3)\n"
        )
    )
    both = [
        subprocess.Popen(
            **project.command("migrate"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in both]
    assert [process.returncode for process in both] == [0, 0], outputs
    applied = re.findall(r"^Applied  ([0-9a-f]{12}) ", "".join(outputs), re.M)
    assert sorted(applied) == sorted(revisions), outputs
    assert project.rows("SELECT version_num FROM alembic_version") == [(revisions[1],)]
