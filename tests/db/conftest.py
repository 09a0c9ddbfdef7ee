"""The database tests run through both of the App's paths, as the framework's own do, on each
database (tests/databases.py)."""

from tests.web.conftest import client_for, path

__all__ = ["client_for", "path"]
