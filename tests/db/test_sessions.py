"""Per-request sessions (porch/db/sessions.py) on SQLite and on a real PostgreSQL, through both
of the App's paths: lazy, committed before the answer, rolled back on error, closed after it."""

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from porch import App, Request, render
from porch.db import AsyncSession, Database, Model, Page, Session, get_or_404, paginate
from porch.testing import TestClient


class Club(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    members: Mapped[list["Member"]] = relationship(back_populates="club")


class Member(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    club_id: Mapped[int] = mapped_column(ForeignKey("club.id"))
    club: Mapped[Club] = relationship(back_populates="members")


class ClubIn(msgspec.Struct):
    name: str


class ClubOut(msgspec.Struct):
    id: int
    name: str


class MemberIn(msgspec.Struct):
    name: str
    club_id: int


def make_app(url: str, templates: str | None = None) -> tuple[App, Database]:
    app = App(__name__, static_folder=None, template_folder=templates or "templates")
    db = Database(app, url=url)

    @app.get("/clubs")
    async def clubs(session: AsyncSession, page: int = 1) -> Page[ClubOut]:
        return await paginate(session, select(Club).order_by(Club.name), page=page, per_page=2)

    @app.get("/sync-clubs")
    def sync_clubs(session: Session, page: int = 1) -> Page[ClubOut]:
        return paginate(session, select(Club).order_by(Club.name), page=page, per_page=2)

    @app.post("/clubs", status=201)
    def add_club(session: Session, body: ClubIn) -> ClubOut:
        club = Club(name=body.name)
        session.add(club)
        return club  # type: ignore[return-value]  # the response model reads its fields

    @app.post("/async-clubs", status=201)
    async def add_club_async(session: AsyncSession, body: ClubIn) -> ClubOut:
        club = Club(name=body.name)
        session.add(club)
        return club  # type: ignore[return-value]

    @app.get("/clubs/<int:club_id>")
    async def club(session: AsyncSession, club_id: int) -> ClubOut:
        return await get_or_404(session, Club, club_id)  # type: ignore[return-value]

    @app.post("/members", status=201)
    async def add_member(session: AsyncSession, body: MemberIn) -> dict[str, int]:
        member = Member(name=body.name, club_id=body.club_id)
        session.add(member)
        await session.flush()
        return {"id": member.id}

    @app.post("/clubs-then-fail")
    def add_then_fail(session: Session, body: ClubIn) -> str:
        session.add(Club(name=body.name))
        session.flush()  # written in the transaction...
        raise RuntimeError("...which the failure rolls back")

    @app.get("/roster/<int:club_id>")
    def roster(session: Session, club_id: int) -> Any:
        # The template reads a relationship not loaded yet: after the commit, before the close.
        return render("roster.html", club=get_or_404(session, Club, club_id))

    @app.get("/nothing")
    async def nothing(session: AsyncSession) -> str:
        return "no statement"

    return app, db


@pytest.fixture
def shop(
    database_url: str, client_for: Callable[..., TestClient], tmp_path: Any
) -> Iterator[tuple[TestClient, Database]]:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "roster.html").write_text(
        "{{ club.name }}:{% for member in club.members %} {{ member.name }}{% endfor %}"
    )
    app, db = make_app(database_url, str(templates))
    db.create_all()
    yield client_for(app), db
    db.drop_all()
    db.engine.dispose()


def count(db: Database, model: type[Model]) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_contract(shop: tuple[TestClient, Database]) -> None:
    client, _ = shop
    created = [client.post("/clubs", json={"name": name}) for name in ("Wrens", "Eagles")]
    created.append(client.post("/async-clubs", json={"name": "Owls"}))
    assert [response.status_code for response in created] == [201, 201, 201]
    # The commit gave each its key before the response model read it.
    assert sorted(response.json()["id"] for response in created) == [1, 2, 3]
    page = client.get("/clubs").json()
    assert page == {
        "items": [{"id": 2, "name": "Eagles"}, {"id": 3, "name": "Owls"}],
        "total": 3,
        "page": 1,
        "per_page": 2,
        "pages": 2,
        "next": 2,
        "prev": None,
    }
    assert client.get("/sync-clubs?page=2").json()["items"] == [{"id": 1, "name": "Wrens"}]
    assert client.get("/clubs?page=3").status_code == 404
    assert client.get("/clubs/3").json() == {"id": 3, "name": "Owls"}
    missing = client.get("/clubs/9")
    assert (missing.status_code, missing.json()["detail"]) == (404, "No Club 9")


def test_a_failed_handler_writes_nothing(shop: tuple[TestClient, Database]) -> None:
    client, db = shop
    assert client.post("/clubs-then-fail", json={"name": "Ghosts"}).status_code == 500
    assert count(db, Club) == 0


def test_a_failed_commit_is_the_answer(shop: tuple[TestClient, Database]) -> None:
    client, db = shop
    assert client.post("/clubs", json={"name": "Wrens"}).status_code == 201
    # The unique name fails at the commit, after the handler returned: the answer is the
    # 409, never a 201 for a write that was lost.
    response = client.post("/clubs", json={"name": "Wrens"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "uq_club_name" in response.json()["detail"] or "club.name" in response.json()["detail"]
    assert "INSERT" not in response.text and "Wrens" not in response.text
    assert count(db, Club) == 1
    # A foreign key that points nowhere.
    orphan = client.post("/members", json={"name": "Ann", "club_id": 99})
    assert orphan.status_code == 409
    assert count(db, Member) == 0


def test_a_template_reads_a_relationship_after_the_commit(
    shop: tuple[TestClient, Database],
) -> None:
    client, db = shop
    with db.session() as session:
        club = Club(name="Eagles", members=[Member(name="Ann"), Member(name="Bo")])
        session.add(club)
        session.commit()
    assert client.get("/roster/1").text == "Eagles: Ann Bo"


def test_a_session_takes_no_connection_until_it_queries(
    shop: tuple[TestClient, Database],
) -> None:
    client, db = shop
    pool = db.async_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    assert client.get("/nothing").text == "no statement"
    assert pool.checkedout() == before  # type: ignore[attr-defined]


def test_a_session_dependency_can_be_replaced(database_url: str) -> None:
    app, db = make_app(database_url)
    db.create_all()
    from porch.db.sessions import request_async_session

    seen: list[str] = []

    async def spy(request: Request) -> Any:
        session = db.async_session()
        seen.append("spy")
        try:
            yield session
            await session.commit()
        finally:
            await session.close()

    app.dependency_overrides[request_async_session] = spy
    with TestClient(app) as client:
        assert client.get("/clubs").json()["total"] == 0
    assert seen == ["spy"]
    db.drop_all()
    db.engine.dispose()


def test_mariadb(mariadb_url: str, tmp_path: Any) -> None:
    # The smaller suite: the contract and a violated constraint on a real MariaDB.
    app, db = make_app(mariadb_url, str(tmp_path))
    db.create_all()
    try:
        with TestClient(app) as client:
            assert client.post("/clubs", json={"name": "Wrens"}).json() == {
                "id": 1,
                "name": "Wrens",
            }
            assert client.post("/async-clubs", json={"name": "Owls"}).status_code == 201
            assert client.get("/clubs").json()["total"] == 2
            conflict = client.post("/clubs", json={"name": "Wrens"})
            assert conflict.status_code == 409
            assert "uq_club_name" in conflict.json()["detail"]
            assert client.post("/members", json={"name": "Ann", "club_id": 9}).status_code == 409
        assert count(db, Club) == 2
    finally:
        db.drop_all()
        db.engine.dispose()
