"""Testing porch applications in-process: `from porch.testing import TestClient`, and
`fresh_database(db)` for an application's database (porch.db)."""

from porch.db.testing import fresh_database
from porch.web.testing import TestClient

__all__ = ["TestClient", "fresh_database"]
