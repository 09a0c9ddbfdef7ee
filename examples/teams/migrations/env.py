"""Alembic's environment for this application's migrations, run by `porch db` commands.

Porch connects to the application's Database and compares its models (porch.db.migrations):
nothing here needs editing.
"""

from porch.db.migrations import run_environment

run_environment()
