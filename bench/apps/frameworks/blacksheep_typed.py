"""BlackSheep with its own binding (dataclasses, FromJSON, FromQuery, FromHeader), on uvicorn."""

from dataclasses import dataclass
from typing import Any

from blacksheep import Application, FromHeader, FromJSON, FromQuery, Response, json
from blacksheep.exceptions import BadRequest

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

app = Application()


def check_length(name: str, value: str | list[Any], low: int, high: int) -> None:
    """Refuse a string or list whose length is outside [low, high]."""
    # BlackSheep's binder converts types but checks no constraint: a ValueError raised while
    # binding becomes its 400 "invalid request body".
    if not low <= len(value) <= high:
        raise ValueError(f"{name} must hold {low} to {high} items or characters")


@dataclass
class LineItem:
    """One line of an order."""

    sku: str
    quantity: int
    price: float

    def __post_init__(self) -> None:
        check_length("sku", self.sku, 1, SKU_MAX)
        if self.quantity <= 0:
            raise ValueError("quantity must be greater than 0")
        if self.price <= 0:
            raise ValueError("price must be greater than 0")


@dataclass
class Order:
    """An order as the client posts it."""

    customer: str
    items: list[LineItem]
    note: str | None = None

    def __post_init__(self) -> None:
        check_length("customer", self.customer, 1, CUSTOMER_MAX)
        check_length("items", self.items, 1, ITEMS_MAX)
        if self.note is not None:
            check_length("note", self.note, 0, NOTE_MAX)


class ClientHeader(FromHeader[str]):
    """The X-Client header (BlackSheep reads a header by the parameter's name otherwise)."""

    name = CLIENT_HEADER


@app.router.post(ORDERS_PATH)
async def create_order(order: FromJSON[Order]) -> Response:
    """fw-typed-post: the validated order, returned."""
    return json(order.value, status=201)


# Implicit binding (`sort: Sort = "newest"`) fails on a Literal at startup (BlackSheep 2.6.4's
# normalization calls issubclass on it): the Literal is bound explicitly, with FromQuery.
NEWEST = FromQuery[Sort]("newest")


@app.router.get(ORDERS_PATH)
async def search_orders(
    x_client: ClientHeader,
    limit: int = 10,
    shipped: bool = False,
    sort: FromQuery[Sort] = NEWEST,
) -> Response:
    """fw-typed-get: JSON built from three typed query parameters and a header."""
    if not 1 <= limit <= LIMIT_MAX:
        raise BadRequest(f"limit must be from 1 to {LIMIT_MAX}")
    return json(search_answer(limit, shipped, sort.value, x_client.value))
