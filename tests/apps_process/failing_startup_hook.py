"""A porch App whose startup hook fails (its database is down), and one whose shutdown does."""

from porch import App

app = App(__name__)


@app.on_startup
def connect_database() -> None:
    raise RuntimeError("no database")


failing_shutdown = App(__name__)


@failing_shutdown.on_shutdown
async def flush_queue() -> None:
    raise RuntimeError("could not flush")
