"""Testing porch applications in-process: `from porch.testing import TestClient`, and
`fresh_database(db)` for an application's database (porch.db)."""

from porch.db.testing import fresh_database
from porch.web.testing import TestClient, WebSocketDenied, WebSocketSession

__all__ = ["TestClient", "WebSocketDenied", "WebSocketSession", "fresh_database"]
