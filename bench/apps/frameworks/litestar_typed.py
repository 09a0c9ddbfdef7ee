"""Litestar with msgspec structs and typed parameters, on uvicorn."""

from typing import Annotated, Any

import msgspec
from litestar import Litestar, get, post
from litestar.params import FromQuery, HeaderParameter, JSONBody, QueryParameter

from frameworks.common import (
    CLIENT_HEADER,
    CUSTOMER_MAX,
    ITEMS_MAX,
    LIMIT_MAX,
    NOTE_MAX,
    ORDERS_PATH,
    SKU_MAX,
    Sort,
    search_answer,
)


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


# Litestar answers a POST with 201 by default; the body is the parameter named `data`.
@post(ORDERS_PATH)
async def create_order(data: JSONBody[Order]) -> Order:
    """fw-typed-post: the validated order, returned."""
    return data


@get(ORDERS_PATH)
async def search_orders(
    x_client: Annotated[str, HeaderParameter(name=CLIENT_HEADER)],
    limit: Annotated[int, QueryParameter(ge=1, le=LIMIT_MAX)] = 10,
    shipped: FromQuery[bool] = False,
    sort: FromQuery[Sort] = "newest",
) -> dict[str, Any]:
    """fw-typed-get: JSON built from three typed query parameters and a header."""
    return search_answer(limit, shipped, sort, x_client)


app = Litestar(route_handlers=[create_order, search_orders])
