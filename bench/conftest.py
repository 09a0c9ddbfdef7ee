"""Fixtures of the harness's tests: the PostgreSQL that a run of the database scenarios starts."""

import os
from collections.abc import Iterator

import pytest

from bench.database import BenchDatabase, running_database


@pytest.fixture(scope="session")
def bench_database() -> Iterator[BenchDatabase]:
    """The harness's PostgreSQL, started, pinned and filled as a run does it (skipped where
    PostgreSQL is not installed; CI installs it)."""
    from tests.databases import PostgreSQL, require

    require(PostgreSQL)
    with running_database(cpu=max(os.sched_getaffinity(0))) as database:
        yield database
