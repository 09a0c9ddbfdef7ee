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


class Team(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    players: Mapped[list["Player"]] = relationship(back_populates="team")


class Player(Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    team_id: Mapped[int] = mapped_column(ForeignKey("team.id"))
    team: Mapped[Team] = relationship(back_populates="players")


class TeamIn(msgspec.Struct):
    name: str


class TeamOut(msgspec.Struct):
    id: int
    name: str


class PlayerIn(msgspec.Struct):
    name: str
    team_id: int


def make_app(url: str, templates: str | None = None) -> tuple[App, Database]:
    app = App(__name__, static_folder=None, template_folder=templates or "templates")
    db = Database(app, url=url)

    @app.get("/teams")
    async def teams(session: AsyncSession, page: int = 1) -> Page[TeamOut]:
        return await paginate(session, select(Team).order_by(Team.name), page=page, per_page=2)

    @app.get("/sync-teams")
    def sync_teams(session: Session, page: int = 1) -> Page[TeamOut]:
        return paginate(session, select(Team).order_by(Team.name), page=page, per_page=2)

    @app.post("/teams", status=201)
    def add_team(session: Session, body: TeamIn) -> TeamOut:
        team = Team(name=body.name)
        session.add(team)
        return team  # type: ignore[return-value]  # the response model reads its fields

    @app.post("/async-teams", status=201)
    async def add_team_async(session: AsyncSession, body: TeamIn) -> TeamOut:
        team = Team(name=body.name)
        session.add(team)
        return team  # type: ignore[return-value]

    @app.get("/teams/<int:team_id>")
    async def team(session: AsyncSession, team_id: int) -> TeamOut:
        return await get_or_404(session, Team, team_id)  # type: ignore[return-value]

    @app.post("/players", status=201)
    async def add_player(session: AsyncSession, body: PlayerIn) -> dict[str, int]:
        player = Player(name=body.name, team_id=body.team_id)
        session.add(player)
        await session.flush()
        return {"id": player.id}

    @app.post("/teams-then-fail")
    def add_then_fail(session: Session, body: TeamIn) -> str:
        session.add(Team(name=body.name))
        session.flush()  # written in the transaction...
        raise RuntimeError("...which the failure rolls back")

    @app.get("/roster/<int:team_id>")
    def roster(session: Session, team_id: int) -> Any:
        # The template reads a relationship not loaded yet: after the commit, before the close.
        return render("roster.html", team=get_or_404(session, Team, team_id))

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
        "{{ team.name }}:{% for player in team.players %} {{ player.name }}{% endfor %}"
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
    created = [client.post("/teams", json={"name": name}) for name in ("Wrens", "Eagles")]
    created.append(client.post("/async-teams", json={"name": "Owls"}))
    assert [response.status_code for response in created] == [201, 201, 201]
    # The commit gave each its key before the response model read it.
    assert sorted(response.json()["id"] for response in created) == [1, 2, 3]
    page = client.get("/teams").json()
    assert page == {
        "items": [{"id": 2, "name": "Eagles"}, {"id": 3, "name": "Owls"}],
        "total": 3,
        "page": 1,
        "per_page": 2,
        "pages": 2,
        "next": 2,
        "prev": None,
    }
    assert client.get("/sync-teams?page=2").json()["items"] == [{"id": 1, "name": "Wrens"}]
    assert client.get("/teams?page=3").status_code == 404
    assert client.get("/teams/3").json() == {"id": 3, "name": "Owls"}
    missing = client.get("/teams/9")
    assert (missing.status_code, missing.json()["detail"]) == (404, "No Team 9")


def test_a_failed_handler_writes_nothing(shop: tuple[TestClient, Database]) -> None:
    client, db = shop
    assert client.post("/teams-then-fail", json={"name": "Ghosts"}).status_code == 500
    assert count(db, Team) == 0


def test_a_failed_commit_is_the_answer(shop: tuple[TestClient, Database]) -> None:
    client, db = shop
    assert client.post("/teams", json={"name": "Wrens"}).status_code == 201
    # The unique name fails at the commit, after the handler returned: the answer is the
    # 409, never a 201 for a write that was lost.
    response = client.post("/teams", json={"name": "Wrens"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "uq_team_name" in response.json()["detail"] or "team.name" in response.json()["detail"]
    assert "INSERT" not in response.text and "Wrens" not in response.text
    assert count(db, Team) == 1
    # A foreign key that points nowhere.
    orphan = client.post("/players", json={"name": "Ann", "team_id": 99})
    assert orphan.status_code == 409
    assert count(db, Player) == 0


def test_a_template_reads_a_relationship_after_the_commit(
    shop: tuple[TestClient, Database],
) -> None:
    client, db = shop
    with db.session() as session:
        team = Team(name="Eagles", players=[Player(name="Ann"), Player(name="Bo")])
        session.add(team)
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
        assert client.get("/teams").json()["total"] == 0
    assert seen == ["spy"]
    db.drop_all()
    db.engine.dispose()


def test_mariadb(mariadb_url: str, tmp_path: Any) -> None:
    # The smaller suite: the contract and a violated constraint on a real MariaDB.
    app, db = make_app(mariadb_url, str(tmp_path))
    db.create_all()
    try:
        with TestClient(app) as client:
            assert client.post("/teams", json={"name": "Wrens"}).json() == {
                "id": 1,
                "name": "Wrens",
            }
            assert client.post("/async-teams", json={"name": "Owls"}).status_code == 201
            assert client.get("/teams").json()["total"] == 2
            conflict = client.post("/teams", json={"name": "Wrens"})
            assert conflict.status_code == 409
            assert "uq_team_name" in conflict.json()["detail"]
            assert client.post("/players", json={"name": "Ann", "team_id": 9}).status_code == 409
        assert count(db, Team) == 2
    finally:
        db.drop_all()
        db.engine.dispose()
