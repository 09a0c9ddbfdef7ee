"""The shop's categories, items and images, kept in memory.

This is a stand-in until porch's data layer lands (a later issue): the routes reach it through
the `get_store` dependency, which a database session will replace. A restart brings back the
seeded data, and each worker process has its own. Every check that depends on the rest of the
data (a category that exists, a slug that is free) happens under the same lock as the change it
guards, so that two requests cannot both pass it.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from models import Category, Image, Item, ItemIn, ItemPage, ItemPatch, Sort, Variant

SEED_CATEGORIES = (Category("garden", "Garden"), Category("kitchen", "Kitchen"))
SEED_ITEMS = (
    ItemIn(
        name="Trowel",
        price=1299,
        category="garden",
        description="A steel trowel with an ash handle.",
        tags=["steel"],
        variants=[Variant("TRW-01", stock=12)],
    ),
    ItemIn(
        name="Gloves",
        price=1850,
        category="garden",
        description="Leather gardening gloves.",
        tags=["leather"],
        variants=[Variant("GLV-S", "S", 4), Variant("GLV-M", "M", 0), Variant("GLV-L", "L", 7)],
    ),
    ItemIn(
        name="Apron",
        price=2450,
        category="kitchen",
        description="Waxed cotton, with two pockets.",
        tags=["cotton"],
        variants=[Variant("APR-01", stock=0)],
    ),
)


class Conflict(Exception):
    """A change the rest of the data does not allow (a slug taken, a category in use)."""


class InvalidItem(Exception):
    """An item the rest of the data does not allow: its errors, located as porch's are."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(error["msg"] for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class ItemFilters:
    """What a search of the items asks for."""

    q: str | None = None
    category: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    tags: tuple[str, ...] = ()
    sort: Sort = "name"


@dataclass(frozen=True)
class Page:
    """Which page of the results, and how many results a page holds."""

    number: int
    size: int


class ShopStore:
    """The shop's data, safe to use from the event loop and from worker threads at once."""

    def __init__(
        self,
        categories: Iterable[Category] = SEED_CATEGORIES,
        items: Iterable[ItemIn] = SEED_ITEMS,
    ) -> None:
        self._lock = threading.Lock()
        self._categories: dict[str, Category] = {}
        self._items: dict[int, Item] = {}
        self._images: dict[int, bytes] = {}
        self._next_id = 1
        for category in categories:
            self.add_category(category)
        for item in items:
            self.add_item(item)

    # Categories.

    def categories(self) -> list[Category]:
        """Every category, by name."""
        with self._lock:
            categories = list(self._categories.values())
        return sorted(categories, key=lambda category: (category.name.casefold(), category.slug))

    def category(self, slug: str) -> Category | None:
        """The category with this slug, if there is one."""
        with self._lock:
            return self._categories.get(slug)

    def add_category(self, category: Category) -> Category:
        """Add a category; Conflict if its slug is taken."""
        with self._lock:
            if category.slug in self._categories:
                raise Conflict(f"A category with the slug {category.slug!r} already exists.")
            self._categories[category.slug] = category
        return category

    def remove_category(self, slug: str) -> bool:
        """Remove a category (False if there is none); Conflict while items are in it."""
        with self._lock:
            if slug not in self._categories:
                return False
            used = sum(1 for item in self._items.values() if item.category == slug)
            if used:
                raise Conflict(f"The category {slug!r} still holds {used} item(s).")
            del self._categories[slug]
        return True

    # Items.

    def search(self, filters: ItemFilters, page: Page) -> ItemPage:
        """The page of the items that match `filters`, in their order."""
        with self._lock:
            items = list(self._items.values())
        found = [item for item in items if _matches(item, filters)]
        found.sort(key=_SORT_KEYS[filters.sort])
        start = (page.number - 1) * page.size
        return ItemPage(found[start : start + page.size], len(found), page.number, page.size)

    def item(self, item_id: int) -> Item | None:
        """The item with this id, if there is one."""
        with self._lock:
            return self._items.get(item_id)

    def add_item(self, new: ItemIn) -> Item:
        """Add an item; InvalidItem if it names no category or repeats a SKU."""
        with self._lock:
            self._check(new.category, new.variants)
            item = Item(self._next_id, **msgspec.structs.asdict(new))
            self._items[item.id] = item
            self._next_id += 1
        return item

    def update_item(self, item_id: int, patch: ItemPatch) -> Item | None:
        """Change the fields `patch` sets (None if there is no such item); InvalidItem as
        add_item."""
        changes = {
            name: value
            for name, value in msgspec.structs.asdict(patch).items()
            if value is not msgspec.UNSET
        }
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return None
            item = msgspec.structs.replace(item, **changes)
            self._check(item.category, item.variants)
            self._items[item_id] = item
        return item

    def remove_item(self, item_id: int) -> bool:
        """Remove an item and its image (False if there is none)."""
        with self._lock:
            self._images.pop(item_id, None)
            return self._items.pop(item_id, None) is not None

    # Images.

    def set_image(self, item_id: int, data: bytes, content_type: str, alt: str) -> Item | None:
        """Give an item its image, replacing any it had (None if there is no such item)."""
        with self._lock:
            item = self._items.get(item_id)
            if item is None:
                return None
            item = msgspec.structs.replace(item, image=Image(content_type, len(data), alt))
            self._items[item_id] = item
            self._images[item_id] = data
        return item

    def image(self, item_id: int) -> tuple[bytes, str] | None:
        """An item's image and its content type, if it has one."""
        with self._lock:
            item = self._items.get(item_id)
            data = self._images.get(item_id)
        if item is None or item.image is None or data is None:
            return None
        return data, item.image.content_type

    def _check(self, category: str, variants: Iterable[Variant]) -> None:
        """InvalidItem unless the category exists and no SKU is repeated (lock held)."""
        errors = []
        if category not in self._categories:
            errors.append(_error(["category"], f"There is no category {category!r}."))
        seen: set[str] = set()
        for index, variant in enumerate(variants):
            if variant.sku in seen:
                errors.append(
                    _error(["variants", index, "sku"], f"The SKU {variant.sku} is repeated.")
                )
            seen.add(variant.sku)
        if errors:
            raise InvalidItem(errors)


def _error(where: list[str | int], message: str) -> dict[str, Any]:
    return {"loc": ["body", *where], "msg": message, "type": "invalid"}


def _matches(item: Item, filters: ItemFilters) -> bool:
    if filters.q is not None:
        words = filters.q.casefold()
        if words not in item.name.casefold() and words not in item.description.casefold():
            return False
    if filters.category is not None and item.category != filters.category:
        return False
    if filters.min_price is not None and item.price < filters.min_price:
        return False
    if filters.max_price is not None and item.price > filters.max_price:
        return False
    if filters.in_stock is not None:
        stocked = any(variant.stock > 0 for variant in item.variants)
        if stocked != filters.in_stock:
            return False
    return all(tag in item.tags for tag in filters.tags)


# Each order ends on the id, so that a page never depends on the dict's order.
_SORT_KEYS: dict[str, Any] = {
    "name": lambda item: (item.name.casefold(), item.id),
    "price": lambda item: (item.price, item.id),
    "-price": lambda item: (-item.price, item.id),
    "newest": lambda item: -item.id,
}
