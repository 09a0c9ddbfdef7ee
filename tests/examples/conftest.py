"""The examples' tests run through both of the App's paths, as the framework's own do."""

from pathlib import Path

import pytest

from tests.examples import porch_db, sqlite_url
from tests.web.conftest import client_for, path

__all__ = ["client_for", "path"]


@pytest.fixture(scope="session")
def migrated_teams(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database that the real `porch db migrate` made for examples/teams, as `make run`
    makes its app.db: its tables and seeded teams. Tests take copies of it."""
    database = tmp_path_factory.mktemp("teams") / "migrated.db"
    porch_db("teams", "migrate", database_url=sqlite_url(database))
    return database
