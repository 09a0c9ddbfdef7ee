"""The shop's settings, read from the environment (SHOP_PAGE_SIZE=50) and a .env file beside
app.py when the application starts."""

from typing import Annotated, ClassVar

from models import MAX_PAGE_SIZE
from msgspec import Meta

from porch import Secret, Settings


class ShopSettings(Settings):
    """What can change between one run of the shop and another, without changing its code."""

    env_prefix: ClassVar[str] = "SHOP_"

    # The key the writing routes want in X-Api-Key. Empty (the default), they refuse everyone:
    # an unconfigured shop is read-only rather than open.
    api_key: Secret[str] = Secret("")
    # Items per page when a search does not say (per_page).
    page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE)] = 20
    # The largest image an item may have, in bytes.
    max_image_size: Annotated[int, Meta(ge=1)] = 1024 * 1024
