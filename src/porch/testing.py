"""Testing porch applications in-process: `from porch.testing import TestClient`."""

from porch.web.testing import TestClient

__all__ = ["TestClient"]
