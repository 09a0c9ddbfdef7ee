"""`fresh_database` (porch/db/testing.py): a test gets an empty database of its own, with the
models' tables, usable with TestClient on both paths."""

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from porch.db import Database
from porch.testing import TestClient, fresh_database
from tests.db.test_sessions import Club, make_app


def test_each_test_gets_an_empty_database(
    client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    app, db = make_app(f"sqlite:///{tmp_path / 'real.db'}")
    for _ in range(2):  # a second "test" starts empty again
        with fresh_database(db):
            client = client_for(app)
            assert client.get("/clubs").json()["total"] == 0
            assert client.post("/clubs", json={"name": "Wrens"}).status_code == 201
            assert client.post("/async-clubs", json={"name": "Owls"}).status_code == 201
            with db.session() as session:
                assert set(session.scalars(select(Club.name))) == {"Wrens", "Owls"}
    # The application's own database was never touched, nor made.
    assert db.url == f"sqlite:///{tmp_path / 'real.db'}"
    assert not (tmp_path / "real.db").exists()


def test_on_a_server_database(postgresql_url: str) -> None:
    app, db = make_app("sqlite:///unused.db")
    with fresh_database(db, postgresql_url), TestClient(app) as client:
        assert client.post("/clubs", json={"name": "Wrens"}).json()["id"] == 1
    with fresh_database(db, postgresql_url), TestClient(app) as client:
        assert client.get("/clubs").json()["total"] == 0  # dropped after the first
    assert isinstance(db, Database)
