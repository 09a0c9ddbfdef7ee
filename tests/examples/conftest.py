"""The examples' tests run through both of the App's paths, as the framework's own do."""

from tests.web.conftest import client_for, path

__all__ = ["client_for", "path"]
