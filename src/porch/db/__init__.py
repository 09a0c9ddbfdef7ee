"""The data layer: SQLAlchemy 2 models, per-request sessions and migrations (`porch db`).

```python
from porch.db import Database, Model, Session, AsyncSession, get_or_404, paginate, Page
```
"""

from porch.db.database import Database, database_of
from porch.db.model import Model
from porch.db.pagination import Page, get_or_404, paginate
from porch.db.sessions import AsyncSession, Session

__all__ = [
    "AsyncSession",
    "Database",
    "Model",
    "Page",
    "Session",
    "database_of",
    "get_or_404",
    "paginate",
]
