"""300 typed routes on porch.App (see common.py), validated by msgspec."""

from typing import Annotated, Any

import msgspec

from porch import App, Query
from startup.common import LIMIT_MAX, NAME_MAX, RESOURCES, Sort, model_name

app = App(__name__, title="Startup bench", version="1.0")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]


def add_resource(area: str, noun: str) -> None:
    """The two models and six routes of one resource."""
    name = model_name(area, noun)
    owner = msgspec.defstruct(
        f"{name}Owner", [("id", Annotated[int, msgspec.Meta(ge=1)]), ("name", Name)]
    )
    item: Any = msgspec.defstruct(
        name,
        [
            ("name", Name),
            ("price", Annotated[float, msgspec.Meta(gt=0)]),
            ("owner", owner),
            ("quantity", Annotated[int, msgspec.Meta(ge=0)], 0),
            ("tags", list[str], msgspec.field(default_factory=list)),
            ("note", str | None, None),
        ],
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

    @app.post(base, name=f"{prefix}_create", status=201)
    async def create_item(body: item, dry_run: bool = False) -> item:
        """Create an item."""
        return body

    @app.get(f"{base}/<int:item_id>", name=f"{prefix}_read")
    async def read_item(item_id: int, expand: bool = False, fields: str | None = None) -> item:
        """One item."""
        raise NotImplementedError

    @app.put(f"{base}/<int:item_id>", name=f"{prefix}_replace")
    async def replace_item(item_id: int, body: item, notify: bool = False) -> item:
        """Replace an item."""
        return body

    @app.delete(f"{base}/<int:item_id>", name=f"{prefix}_delete")
    async def delete_item(item_id: int, force: bool = False, reason: str | None = None) -> item:
        """Delete an item; answers it as it was."""
        raise NotImplementedError

    @app.get(f"{base}/search", name=f"{prefix}_search")
    async def search_items(
        min_price: Annotated[float, Query(ge=0)] = 0.0,
        max_price: float | None = None,
        active: bool = True,
        tag: list[str] | None = None,
    ) -> list[item]:
        """Search the items."""
        return []


for area, noun in RESOURCES:
    add_resource(area, noun)
