"""`get_or_404` and `paginate`, for a Session or an AsyncSession alike."""

import math
from collections.abc import Awaitable, Iterator
from typing import Any, Generic, TypeVar, overload

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from porch.http.errors import HTTPError

T = TypeVar("T")
MAX_PER_PAGE = 100


class Page(msgspec.Struct, Generic[T]):
    """One page of results: `Page[TeamOut]` as a return annotation sends it as JSON, and a
    template loops over it (`{% for team in page %}`)."""

    items: list[T]
    total: int  # rows on every page
    page: int  # this one's number, from 1
    per_page: int
    pages: int  # how many pages there are (0 for no rows)
    next: int | None  # the next page's number, or None on the last
    prev: int | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@overload
def paginate(
    session: AsyncSession, statement: Select[Any], page: int = 1, per_page: int = 20
) -> Awaitable[Page[Any]]: ...


@overload
def paginate(
    session: Session, statement: Select[Any], page: int = 1, per_page: int = 20
) -> Page[Any]: ...


def paginate(
    session: Session | AsyncSession, statement: Select[Any], page: int = 1, per_page: int = 20
) -> Page[Any] | Awaitable[Page[Any]]:
    """Page `page` (from 1) of `statement`'s rows, `per_page` to a page (at most 100): 404 for
    a page that is not there, as Flask-SQLAlchemy answers. Await it with an AsyncSession."""
    if page < 1 or per_page < 1:
        raise HTTPError(404, "No such page")
    per_page = min(per_page, MAX_PER_PAGE)
    counting = select(func.count()).select_from(statement.order_by(None).subquery())
    rows = statement.limit(per_page).offset((page - 1) * per_page)
    if isinstance(session, AsyncSession):
        return _paginate_async(session, counting, rows, page, per_page)
    total = session.scalar(counting) or 0
    items = list(session.scalars(rows)) if total else []
    return _page(items, total, page, per_page)


async def _paginate_async(
    session: AsyncSession, counting: Select[Any], rows: Select[Any], page: int, per_page: int
) -> Page[Any]:
    total = await session.scalar(counting) or 0
    items = list(await session.scalars(rows)) if total else []
    return _page(items, total, page, per_page)


def _page(items: list[Any], total: int, page: int, per_page: int) -> Page[Any]:
    pages = math.ceil(total / per_page)
    if page > max(pages, 1):
        raise HTTPError(404, f"No page {page}: there are {pages}")
    return Page(
        items=items,
        total=total,
        page=page,
        per_page=per_page,
        pages=pages,
        next=page + 1 if page < pages else None,
        prev=page - 1 if page > 1 else None,
    )


@overload
def get_or_404(session: AsyncSession, model: type[T], key: Any) -> Awaitable[T]: ...


@overload
def get_or_404(session: Session, model: type[T], key: Any) -> T: ...


def get_or_404(session: Session | AsyncSession, model: type[T], key: Any) -> T | Awaitable[T]:
    """The row of `model` with primary key `key`; 404 if there is none. Await it with an
    AsyncSession."""
    if isinstance(session, AsyncSession):
        return _get_or_404_async(session, model, key)
    return _found(session.get(model, key), model, key)


async def _get_or_404_async(session: AsyncSession, model: type[T], key: Any) -> T:
    return _found(await session.get(model, key), model, key)


def _found(row: T | None, model: type[T], key: Any) -> T:
    if row is None:
        raise HTTPError(404, f"No {model.__name__} {key}")
    return row
