"""An application that records writes in SQLite (DATABASE_URL), for tests/db/test_concurrency.py:
`POST /entries` (AsyncSession) and `POST /sync-entries` (Session) add one row each."""

import msgspec
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from porch import App, Settings
from porch.db import AsyncSession, Database, Model, Session


class Entry(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)


class EntryIn(msgspec.Struct):
    key: str


app = App(__name__, settings=Settings)
db = Database(app)


@app.post("/entries", status=201)
async def add(session: AsyncSession, entry: EntryIn) -> dict[str, str]:
    session.add(Entry(key=entry.key))
    return {"key": entry.key}


@app.post("/sync-entries", status=201)
def add_sync(session: Session, entry: EntryIn) -> dict[str, str]:
    session.add(Entry(key=entry.key))
    return {"key": entry.key}
