"""Testing a database application: `fresh_database(db)` gives its Database an empty database of
its own for a test, its tables made from the models, and removes it afterwards.

```python
@pytest.fixture
def client():
    with fresh_database(db), TestClient(app) as client:   # a new SQLite file by default
        yield client
```
"""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from porch.db.database import Database


@contextlib.contextmanager
def fresh_database(database: Database, url: str | None = None) -> Iterator[Database]:
    """`database` switched to `url` (a new SQLite file by default; a PostgreSQL test database's
    URL to test on it) with the models' tables created, then dropped and switched back."""
    folder = None
    if url is None:
        # A file rather than memory: the sync and async engines then share one database.
        folder = tempfile.mkdtemp(prefix="porch-test-db-")
        url = "sqlite:///" + os.path.join(folder, "test.db")
    previous = database.url
    database.url = url
    database._pid = 0  # engines for the new URL, made on first use
    try:
        database.create_all()
        yield database
    finally:
        try:
            database.drop_all()
        finally:
            database.engine.dispose()
            database._pid = 0
            database.url = previous
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
