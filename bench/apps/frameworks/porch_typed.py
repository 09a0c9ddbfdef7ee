"""Porch: typed handlers validated by msgspec; `porch run frameworks.porch_typed:app`."""

from typing import Annotated, Any

import msgspec

from frameworks.common import (
    CUSTOMER_MAX,
    ITEMS_MAX,
    LIMIT_MAX,
    NOTE_MAX,
    ORDERS_PATH,
    SKU_MAX,
    Sort,
    search_answer,
)
from porch import App, Header, Query

app = App(__name__)


class LineItem(msgspec.Struct):
    """One line of an order."""

    sku: Annotated[str, msgspec.Meta(min_length=1, max_length=SKU_MAX)]
    quantity: Annotated[int, msgspec.Meta(gt=0)]
    price: Annotated[float, msgspec.Meta(gt=0)]


class Order(msgspec.Struct):
    """An order as the client posts it."""

    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=CUSTOMER_MAX)]
    items: Annotated[list[LineItem], msgspec.Meta(min_length=1, max_length=ITEMS_MAX)]
    note: Annotated[str, msgspec.Meta(max_length=NOTE_MAX)] | None = None


@app.post(ORDERS_PATH, status=201)
async def create_order(order: Order) -> Order:
    """fw-typed-post: the validated order, returned."""
    return order


@app.get(ORDERS_PATH)
async def search_orders(
    x_client: Annotated[str, Header()],
    limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 10,
    shipped: bool = False,
    sort: Sort = "newest",
) -> dict[str, Any]:
    """fw-typed-get: JSON built from three typed query parameters and a header."""
    return search_answer(limit, shipped, sort, x_client)
