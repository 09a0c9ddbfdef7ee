"""What the shop's routes depend on: the store, the API key of the writing routes, and the
search's filters and page, each an ordinary function that porch calls once per request."""

import hmac
from typing import Annotated

from models import MAX_PAGE_SIZE, MAX_PRICE, Slug, Sort, Tag
from settings import ShopSettings
from store import ItemFilters, Page, ShopStore

from porch import Depends, Header, Query, Request, abort
from porch.web.validation import RequestValidationError, error

# RFC 9110 wants a 401 to say how to authenticate.
CHALLENGE = [(b"www-authenticate", b'ApiKey header="X-Api-Key"')]


async def get_store(request: Request) -> ShopStore:
    """The application's store (a database session's place, once porch's data layer lands)."""
    app = request.app
    assert app is not None  # a request being answered has its application
    store: ShopStore = app.state.store
    return store


Store = Annotated[ShopStore, Depends(get_store)]


async def require_api_key(
    settings: ShopSettings,
    api_key: Annotated[
        str | None, Header(alias="X-Api-Key", description="The shop's API key, for changes")
    ] = None,
) -> None:
    """Refuse (401) a request without the shop's API key."""
    expected = settings.api_key.reveal()
    if not expected:
        # Else an empty header would match the empty key, and anyone could write.
        abort(401, "The shop has no API key set (SHOP_API_KEY): it takes no changes.", CHALLENGE)
    if api_key is None:
        abort(401, "Send the shop's API key in the X-Api-Key header.", CHALLENGE)
    # Compared in constant time, so that the time taken tells nothing of how much matched;
    # as bytes, as compare_digest only takes ASCII text and a header may hold Latin-1.
    if not hmac.compare_digest(api_key.encode(), expected.encode()):
        abort(401, "The API key is not valid.", CHALLENGE)


async def page_size(
    settings: ShopSettings,
    per_page: Annotated[
        int | None,
        Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (the shop's page size)"),
    ] = None,
) -> int:
    """How many items a page holds: as asked, else as the shop's settings say."""
    return per_page if per_page is not None else settings.page_size


async def pagination(
    size: Annotated[int, Depends(page_size)],
    page: Annotated[int, Query(ge=1, le=10_000, description="Which page, from 1")] = 1,
) -> Page:
    """The page of results a search asks for."""
    return Page(page, size)


async def item_filters(
    q: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Text the item holds")
    ] = None,
    category: Annotated[Slug | None, Query(description="A category's slug")] = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_PRICE, description="In cents")] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_PRICE, description="In cents")] = None,
    in_stock: Annotated[bool | None, Query(description="Whether some variant is in stock")] = None,
    # A tuple: its default cannot be changed in place (and porch reads `list[...] | None` with
    # a marker's constraints as one value, for now).
    tag: Annotated[
        tuple[Tag, ...], Query(max_length=10, description="Tags the item has, all of them")
    ] = (),
    sort: Annotated[Sort, Query(description="The order: name, price, -price or newest")] = "name",
) -> ItemFilters:
    """What a search asks for; 422 for a price range that is upside down."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise RequestValidationError(
            [error(["query", "min_price"], "min_price is above max_price", "constraint")]
        )
    return ItemFilters(q, category, min_price, max_price, in_stock, tag, sort)
