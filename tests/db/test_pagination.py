"""Pages and rows (porch/db/pagination.py): page arithmetic, 404s, a template looping over a
page, for a Session and an AsyncSession alike."""

import asyncio
from pathlib import Path

import jinja2
import pytest
from sqlalchemy import select

from porch.db import Database, Page, get_or_404, paginate
from porch.http.errors import HTTPError
from tests.db.test_sessions import Club


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(url=f"sqlite:///{tmp_path / 'pages.db'}")
    database.create_all()
    with database.session() as session:
        session.add_all(Club(name=f"club {number:02}") for number in range(1, 46))
        session.commit()
    return database


def test_page_arithmetic(db: Database) -> None:
    statement = select(Club).order_by(Club.name)
    with db.session() as session:
        first = paginate(session, statement, page=1, per_page=20)
        last = paginate(session, statement, page=3, per_page=20)
        capped = paginate(session, statement, page=1, per_page=1000)
    assert (first.total, first.pages, first.next, first.prev, len(first)) == (45, 3, 2, None, 20)
    assert [club.name for club in last] == [f"club {n}" for n in range(41, 46)]
    assert (last.next, last.prev) == (None, 2)
    assert capped.per_page == 100 and len(capped) == 45


def test_pages_that_are_not_there_are_404(db: Database) -> None:
    statement = select(Club).order_by(Club.name)
    with db.session() as session:
        for page, per_page in ((4, 20), (0, 20), (1, 0)):
            with pytest.raises(HTTPError) as raised:
                paginate(session, statement, page=page, per_page=per_page)
            assert raised.value.status == 404
        # No rows at all: page 1 is there, and empty.
        empty = paginate(session, statement.where(Club.name == "nobody"))
    assert (empty.total, empty.pages, empty.items, empty.next) == (0, 0, [], None)


def test_async_sessions_alike(db: Database) -> None:
    async def main() -> tuple[Page[Club], Club]:
        async with db.async_session() as session:
            page = await paginate(session, select(Club).order_by(Club.name), page=2, per_page=10)
            club = await get_or_404(session, Club, 3)
            with pytest.raises(HTTPError):
                await get_or_404(session, Club, 99)
        return page, club

    page, club = asyncio.run(main())
    assert page.items[0].name == "club 11" and club.name == "club 03"


def test_a_template_loops_over_a_page(db: Database) -> None:
    template = jinja2.Template(
        "{% for club in page %}{{ club.name }};{% endfor %}{% if page.next %}next={{ page.next }}{% endif %}"
    )
    with db.session() as session:
        page = paginate(session, select(Club).order_by(Club.name), page=1, per_page=3)
        assert template.render(page=page) == "club 01;club 02;club 03;next=2"
