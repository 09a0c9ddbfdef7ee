"""/categories: the shop's shelves. Anyone may read them; changing them takes the API key."""

from dependencies import Store, require_api_key
from models import Category
from store import Conflict

from porch import Depends, Router, abort

categories = Router(name="categories", tags=["categories"])
# Every route of this router, and only those, wants the API key.
changes = Router(
    dependencies=[Depends(require_api_key)], responses={401: "No valid X-Api-Key header"}
)


@categories.get("/categories")
async def list_categories(store: Store) -> list[Category]:
    """List the categories, by name."""
    return store.categories()


@categories.get("/categories/<slug:slug>", responses={404: "Not found"})
async def get_category(slug: str, store: Store) -> Category:
    """Get one category."""
    category = store.category(slug)
    if category is None:
        abort(404, f"There is no category {slug!r}.")
    return category


@changes.post("/categories", status=201, responses={409: "Conflict"})
async def create_category(category: Category, store: Store) -> Category:
    """Add a category; its slug must be free."""
    try:
        return store.add_category(category)
    except Conflict as conflict:
        abort(409, str(conflict))


@changes.delete("/categories/<slug:slug>", responses={404: "Not found", 409: "Conflict"})
async def delete_category(slug: str, store: Store) -> None:
    """Remove a category that holds no item."""
    try:
        removed = store.remove_category(slug)
    except Conflict as conflict:
        abort(409, str(conflict))
    if not removed:
        abort(404, f"There is no category {slug!r}.")


categories.include(changes)
