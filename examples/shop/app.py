"""The shop: a typed JSON API of items and categories, with its OpenAPI document and a docs page.

Run it from the repository's root:

    SHOP_API_KEY=letmein porch run app:app --app-dir examples/shop

then open http://127.0.0.1:8000/docs. The data lives in memory (store.py) until porch's data
layer lands: a restart brings back the seeded items, and each worker process has its own.
"""

import logging

from categories import categories
from items import items
from settings import ShopSettings
from store import ShopStore

from porch import App, HTTPError, Request
from porch.http.native import Response as NativeResponse
from porch.http.status import reason_phrase
from porch.web.validation import ProblemError, problem_response

logger = logging.getLogger("shop")


def create_app(store: ShopStore | None = None, settings: ShopSettings | None = None) -> App:
    """The shop, serving `store` (the seeded data by default) with `settings` (by default read
    from the environment and examples/shop/.env)."""
    app = App(
        __name__,
        settings=settings if settings is not None else ShopSettings,
        title="Shop",
        version="1.0",
        description="Items and the categories they are in. Changes take the X-Api-Key header.",
    )
    app.state.store = store if store is not None else ShopStore()
    app.include(categories)
    app.include(items)
    # Every error, porch's 404s and 405s for unknown paths included, as problem details (an
    # API's routes answer theirs so already; this makes the rest of the site agree).
    app.errorhandler(HTTPError)(problem)

    @app.on_startup
    def warn_read_only() -> None:
        shop_settings = app.settings
        if isinstance(shop_settings, ShopSettings) and not shop_settings.api_key.reveal():
            logger.warning("SHOP_API_KEY is not set: the shop refuses every change (401).")

    return app


def problem(request: Request, exc: HTTPError) -> NativeResponse:
    """An HTTP error as problem details, as porch answers a 422."""
    if not isinstance(exc, ProblemError):
        exc = ProblemError(exc.status, exc.detail or reason_phrase(exc.status))
    return problem_response(exc)


app = create_app()
