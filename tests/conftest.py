"""Fixtures every test may use: fresh databases on SQLite and on throwaway servers."""

from tests.databases import (
    database_url,
    mariadb_server,
    mariadb_url,
    postgresql_server,
    postgresql_url,
)

__all__ = [
    "database_url",
    "mariadb_server",
    "mariadb_url",
    "postgresql_server",
    "postgresql_url",
]
