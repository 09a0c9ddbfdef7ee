"""What the shop's API reads and answers, as msgspec Structs: their constraints are checked
before a handler runs, and they are the schemas of the OpenAPI document."""

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

# Prices are in cents: sums and comparisons stay exact, as floats would not.
MAX_PRICE = 10_000_000
MAX_PAGE_SIZE = 100

Slug = Annotated[
    str, Meta(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40, examples=["garden-tools"])
]
Name = Annotated[str, Meta(min_length=1, max_length=80, examples=["Trowel"])]
Price = Annotated[int, Meta(ge=1, le=MAX_PRICE, description="In cents", examples=[1299])]
Description = Annotated[str, Meta(max_length=1000)]
Tag = Annotated[str, Meta(pattern=r"^[a-z0-9-]{1,20}$", examples=["steel"])]
Tags = Annotated[list[Tag], Meta(max_length=10)]
Sku = Annotated[str, Meta(pattern=r"^[A-Z0-9-]{3,20}$", examples=["TRW-01"])]
Size = Literal["XS", "S", "M", "L", "XL"]
Stock = Annotated[int, Meta(ge=0, le=100_000)]
Sort = Literal["name", "price", "-price", "newest"]


class Category(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A shelf of the shop, known by its slug."""

    slug: Slug
    name: Name


class Variant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One way an item is sold (a size), with its own SKU and stock."""

    sku: Sku
    size: Size | None = None
    stock: Stock = 0


Variants = Annotated[list[Variant], Meta(min_length=1, max_length=20)]


class ItemIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An item as a client sends it to create one."""

    name: Name
    price: Price
    category: Slug
    variants: Variants
    description: Description = ""
    tags: Tags = []


class ItemPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The fields of an item to change; the others keep their values."""

    name: Name | UnsetType = UNSET
    price: Price | UnsetType = UNSET
    category: Slug | UnsetType = UNSET
    variants: Variants | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET


class Image(msgspec.Struct, frozen=True):
    """What the shop says of an item's image (GET /items/{item_id}/image gives its bytes)."""

    content_type: str
    size: int
    alt: str


class Item(msgspec.Struct, frozen=True):
    """An item of the shop."""

    id: int
    name: str
    price: int
    category: str
    variants: list[Variant]
    description: str = ""
    tags: list[str] = []
    image: Image | None = None


class ItemPage(msgspec.Struct, frozen=True):
    """One page of the items a search found."""

    items: list[Item]
    total: int
    page: int
    per_page: int
