"""`Session` and `AsyncSession`: a session for this request, as a handler parameter.

Each is a dependency (porch.web's Depends with yield): opened lazily (no connection is taken
until it runs a statement), committed after the handler succeeds and before the answer is made
(a commit that fails is the answer instead: never a 2xx for a lost write), rolled back when
the handler raises, and closed once the response is out (so that a template may still load a
relationship). `def` handlers take `Session` (the commit runs in a worker thread too),
`async def` handlers `AsyncSession`.
"""

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.orm import Session as SyncSession

from porch.db.database import database_of
from porch.web.params import Depends
from porch.web.request import Request


def request_session(request: Request) -> Iterator[SyncSession]:
    """The dependency behind `Session`."""
    database = database_of(request.app)
    session = database.session()
    request.on_sent(lambda: _close(session))
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()
    database.reachable()


async def request_async_session(request: Request) -> AsyncIterator[sqlalchemy_asyncio.AsyncSession]:
    """The dependency behind `AsyncSession`."""
    if _FIRST_STEP_WITHOUT_TASK:
        # On porch's server a handler's first step runs without a task of its own on Python
        # 3.11; SQLAlchemy's pool times its waits with asyncio timeouts, which cancel the
        # current task: step once, so that the session is used in the request's own task.
        await asyncio.sleep(0)
    database = database_of(request.app)
    session = database.async_session()
    request.on_sent(session.close)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    await session.commit()
    database.reachable()


def _close(session: SyncSession) -> object:
    if not session.in_transaction():
        session.close()  # PERF: no connection held: nothing to wait for
        return None
    # Something was loaded after the commit: closing it ends a transaction, a round trip
    # that is no work for the event loop.
    return asyncio.get_running_loop().run_in_executor(None, session.close)


_FIRST_STEP_WITHOUT_TASK = sys.version_info < (3, 12)  # see porch.server.adapters.EAGER_TASKS

Session = Annotated[SyncSession, Depends(request_session)]
AsyncSession = Annotated[sqlalchemy_asyncio.AsyncSession, Depends(request_async_session)]
