"""Four workers writing to one SQLite file at once, for 10 s, under a real `porch run`: they wait
for each other (WAL, a busy timeout), lose no write, and answer no 5xx."""

import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select

from tests.apps_process.sqlite_writes import Entry, Model
from tests.support import ROOT, PorchProcess

SECONDS = 10.0
CLIENTS = 8


def test_four_workers_writing_to_sqlite_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'writes.db'}"
    engine = create_engine(url)
    Model.metadata.create_all(engine)
    args = ["run", "tests.apps_process.sqlite_writes:app", "--workers", "4", "--no-access-log"]
    accepted: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    with PorchProcess(args, cwd=ROOT, env={"DATABASE_URL": url}) as porch:
        porch.wait_ready(timeout=30)
        porch.wait_output("serving", count=4)
        deadline = time.monotonic() + SECONDS

        def write(client_number: int) -> None:
            with httpx.Client(base_url=porch.url, timeout=30) as client:
                sequence = 0
                while time.monotonic() < deadline:
                    sequence += 1
                    key = f"{client_number}-{sequence}"
                    path = "/entries" if sequence % 2 else "/sync-entries"
                    response = client.post(path, json={"key": key})
                    with lock:
                        (accepted if response.status_code == 201 else refused).append(
                            f"{key} {response.status_code}"
                        )

        threads = [threading.Thread(target=write, args=(n,)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(SECONDS + 30)
        assert porch.stop() == 0
    assert refused == []
    assert len(accepted) > 200, "the workers hardly wrote at all"
    with engine.connect() as connection:
        stored = set(connection.scalars(select(Entry.key)))
    assert stored == {entry.split()[0] for entry in accepted}
    engine.dispose()
