"""FastAPI with pydantic models and typed parameters, on uvicorn."""

from typing import Annotated, Any

from fastapi import FastAPI, Header, Query
from pydantic import BaseModel, Field

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

app = FastAPI()


class LineItem(BaseModel):
    """One line of an order."""

    sku: str = Field(min_length=1, max_length=SKU_MAX)
    quantity: int = Field(gt=0)
    price: float = Field(gt=0)


class Order(BaseModel):
    """An order as the client posts it."""

    customer: str = Field(min_length=1, max_length=CUSTOMER_MAX)
    items: list[LineItem] = Field(min_length=1, max_length=ITEMS_MAX)
    note: str | None = Field(default=None, max_length=NOTE_MAX)


@app.post(ORDERS_PATH, status_code=201)
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
