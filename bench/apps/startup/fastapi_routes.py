"""300 typed routes on FastAPI (see common.py), validated by pydantic."""

from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import Field, create_model

from startup.common import LIMIT_MAX, NAME_MAX, RESOURCES, Sort, model_name

app = FastAPI(title="Startup bench", version="1.0")


def add_resource(area: str, noun: str) -> None:
    """The two models and six routes of one resource."""
    name = model_name(area, noun)
    owner = create_model(
        f"{name}Owner",
        id=(int, Field(ge=1)),
        name=(str, Field(min_length=1, max_length=NAME_MAX)),
    )
    item: Any = create_model(
        name,
        name=(str, Field(min_length=1, max_length=NAME_MAX)),
        price=(float, Field(gt=0)),
        owner=(owner, ...),
        quantity=(int, Field(default=0, ge=0)),
        tags=(list[str], Field(default_factory=list)),
        note=(str | None, None),
    )
    base = f"/{area}/{noun}"
    prefix = f"{area}_{noun}"

    @app.get(base, name=f"{prefix}_list")
    async def list_items(
        limit: Annotated[int, Query(ge=1, le=LIMIT_MAX)] = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
        q: str | None = None,
        sort: Sort = "name",
    ) -> list[item]:
        """List the items, a page at a time."""
        return []

    @app.post(base, name=f"{prefix}_create", status_code=201)
    async def create_item(body: item, dry_run: bool = False) -> item:
        """Create an item."""
        return body

    @app.get(f"{base}/{{item_id}}", name=f"{prefix}_read")
    async def read_item(item_id: int, expand: bool = False, fields: str | None = None) -> item:
        """One item."""
        raise NotImplementedError

    @app.put(f"{base}/{{item_id}}", name=f"{prefix}_replace")
    async def replace_item(item_id: int, body: item, notify: bool = False) -> item:
        """Replace an item."""
        return body

    @app.delete(f"{base}/{{item_id}}", name=f"{prefix}_delete")
    async def delete_item(item_id: int, force: bool = False, reason: str | None = None) -> item:
        """Delete an item; answers it as it was."""
        raise NotImplementedError

    @app.get(f"{base}/search", name=f"{prefix}_search")
    async def search_items(
        min_price: Annotated[float, Query(ge=0)] = 0.0,
        max_price: float | None = None,
        active: bool = True,
        tag: Annotated[list[str] | None, Query()] = None,
    ) -> list[item]:
        """Search the items."""
        return []


for area, noun in RESOURCES:
    add_resource(area, noun)
