"""What both 300-route applications share: 50 resources, their fields and their routes.

Each resource (`/shop/orders`, `/crm/customers`...) has two models of its own, the item and its
owner (nested), and six typed routes:

    GET    /<area>/<noun>                  limit, offset, q, sort              -> list of items
    POST   /<area>/<noun>                  the item as body; dry_run           -> the item (201)
    GET    /<area>/<noun>/<int:item_id>    expand, fields                      -> the item
    PUT    /<area>/<noun>/<int:item_id>    the item as body; notify            -> the item
    DELETE /<area>/<noun>/<int:item_id>    force, reason                       -> the item
    GET    /<area>/<noun>/search           min_price, max_price, active, tag   -> list of items

The models are distinct classes, as in a real application, so that no framework can build one
schema and reuse it 300 times.
"""

from typing import Literal

AREAS = ("shop", "billing", "crm", "support", "warehouse")
NOUNS = (
    "orders",
    "customers",
    "products",
    "invoices",
    "tickets",
    "suppliers",
    "shipments",
    "coupons",
    "reviews",
    "carts",
)
RESOURCES = [(area, noun) for area in AREAS for noun in NOUNS]
ROUTES_PER_RESOURCE = 6
ROUTE_COUNT = len(RESOURCES) * ROUTES_PER_RESOURCE
assert ROUTE_COUNT == 300

NAME_MAX = 100
LIMIT_MAX = 100
Sort = Literal["name", "price", "created"]


def model_name(area: str, noun: str) -> str:
    """The item model's class name: `ShopOrders`."""
    return f"{area.title()}{noun.title()}"
