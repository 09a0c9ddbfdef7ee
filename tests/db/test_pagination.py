"""Pages and rows (porch/db/pagination.py): page arithmetic, 404s, a template looping over a
page, for a Session and an AsyncSession alike."""

import asyncio
from pathlib import Path

import jinja2
import pytest
from sqlalchemy import select

from porch.db import Database, Page, get_or_404, paginate
from porch.http.errors import HTTPError
from tests.db.test_sessions import Team


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(url=f"sqlite:///{tmp_path / 'pages.db'}")
    database.create_all()
    with database.session() as session:
        session.add_all(Team(name=f"team {number:02}") for number in range(1, 46))
        session.commit()
    return database


def test_page_arithmetic(db: Database) -> None:
    statement = select(Team).order_by(Team.name)
    with db.session() as session:
        first = paginate(session, statement, page=1, per_page=20)
        last = paginate(session, statement, page=3, per_page=20)
        capped = paginate(session, statement, page=1, per_page=1000)
    assert (first.total, first.pages, first.next, first.prev, len(first)) == (45, 3, 2, None, 20)
    assert [team.name for team in last] == [f"team {n}" for n in range(41, 46)]
    assert (last.next, last.prev) == (None, 2)
    assert capped.per_page == 100 and len(capped) == 45


def test_pages_that_are_not_there_are_404(db: Database) -> None:
    statement = select(Team).order_by(Team.name)
    with db.session() as session:
        for page, per_page in ((4, 20), (0, 20), (1, 0)):
            with pytest.raises(HTTPError) as raised:
                paginate(session, statement, page=page, per_page=per_page)
            assert raised.value.status == 404
        # No rows at all: page 1 is there, and empty.
        empty = paginate(session, statement.where(Team.name == "nobody"))
    assert (empty.total, empty.pages, empty.items, empty.next) == (0, 0, [], None)


def test_async_sessions_alike(db: Database) -> None:
    async def main() -> tuple[Page[Team], Team]:
        async with db.async_session() as session:
            page = await paginate(session, select(Team).order_by(Team.name), page=2, per_page=10)
            team = await get_or_404(session, Team, 3)
            with pytest.raises(HTTPError):
                await get_or_404(session, Team, 99)
        return page, team

    page, team = asyncio.run(main())
    assert page.items[0].name == "team 11" and team.name == "team 03"


def test_a_template_loops_over_a_page(db: Database) -> None:
    template = jinja2.Template(
        "{% for team in page %}{{ team.name }};{% endfor %}{% if page.next %}next={{ page.next }}{% endif %}"
    )
    with db.session() as session:
        page = paginate(session, select(Team).order_by(Team.name), page=1, per_page=3)
        assert template.render(page=page) == "team 01;team 02;team 03;next=2"
