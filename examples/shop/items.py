"""/items: search the items, read one, and (with the API key) add, change and remove them and
give them an image."""

from typing import Annotated

from dependencies import Store, item_filters, pagination, require_api_key
from models import Item, ItemIn, ItemPage, ItemPatch
from settings import ShopSettings
from store import InvalidItem, ItemFilters, Page

from porch import Depends, File, Form, Response, Router, UploadFile, abort
from porch.web.validation import RequestValidationError

items = Router(name="items", tags=["items"])
# Every route of this router, and only those, wants the API key.
changes = Router(
    dependencies=[Depends(require_api_key)], responses={401: "No valid X-Api-Key header"}
)

# The images the shop takes, by content type, with how each kind of file starts. No SVG: it is
# served back from the shop's own origin, where a script in it would run.
IMAGE_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
}


@items.get("/items")
async def list_items(
    store: Store,
    filters: Annotated[ItemFilters, Depends(item_filters)],
    page: Annotated[Page, Depends(pagination)],
) -> ItemPage:
    """Search the items, a page at a time."""
    return store.search(filters, page)


@items.get("/items/<int:item_id>", responses={404: "Not found"})
async def get_item(item_id: int, store: Store) -> Item:
    """Get one item."""
    item = store.item(item_id)
    if item is None:
        abort(404, f"There is no item {item_id}.")
    return item


@changes.post("/items", status=201)
async def create_item(item: ItemIn, store: Store) -> Item:
    """Add an item to a category that exists, each of its SKUs once."""
    try:
        return store.add_item(item)
    except InvalidItem as invalid:
        raise RequestValidationError(invalid.errors) from None


@changes.patch("/items/<int:item_id>", responses={404: "Not found"})
async def update_item(item_id: int, patch: ItemPatch, store: Store) -> Item:
    """Change the fields the body holds; the others keep their values."""
    try:
        item = store.update_item(item_id, patch)
    except InvalidItem as invalid:
        raise RequestValidationError(invalid.errors) from None
    if item is None:
        abort(404, f"There is no item {item_id}.")
    return item


@changes.delete("/items/<int:item_id>", responses={404: "Not found"})
async def delete_item(item_id: int, store: Store) -> None:
    """Remove an item and its image."""
    if not store.remove_item(item_id):
        abort(404, f"There is no item {item_id}.")


@changes.put(
    "/items/<int:item_id>/image",
    responses={
        400: "Malformed form",
        404: "Not found",
        413: "Image too large",
        415: "Not an image, or not a form",
    },
)
async def put_image(
    item_id: int,
    image: Annotated[UploadFile, File(description="A PNG, JPEG or GIF image")],
    alt: Annotated[str, Form(min_length=1, max_length=200, description="What it shows")],
    store: Store,
    settings: ShopSettings,
) -> Item:
    """Give an item its image, replacing any it had."""
    if store.item(item_id) is None:
        abort(404, f"There is no item {item_id}.")
    limit = settings.max_image_size
    # Checked before the file is read: what is too large never reaches the shop's memory.
    if image.size > limit:
        abort(413, f"The image is {image.size} bytes; the most the shop takes is {limit}.")
    content_type = image.content_type.partition(";")[0].strip().lower()
    signatures = IMAGE_TYPES.get(content_type)
    if signatures is None:
        abort(415, f"The image must be PNG, JPEG or GIF, not {content_type!r}.")
    data = await image.read()
    # The bytes must be what the type says: the image is served back with that type.
    if not data.startswith(signatures):
        abort(415, f"The file is not the {content_type} image it says it is.")
    item = store.set_image(item_id, data, content_type, alt)
    if item is None:  # removed meanwhile
        abort(404, f"There is no item {item_id}.")
    return item


@items.get("/items/<int:item_id>/image", responses={404: "Not found"})
async def get_image(item_id: int, store: Store) -> Response:
    """Get an item's image."""
    found = store.image(item_id)
    if found is None:
        abort(404, f"Item {item_id} has no image.")
    data, content_type = found
    return Response(data, media_type=content_type, headers={"X-Content-Type-Options": "nosniff"})


items.include(changes)
