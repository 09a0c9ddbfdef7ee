"""The shop: a typed JSON API of items and categories, with its OpenAPI document and a docs page.

Run it from the repository's root:

    SHOP_API_KEY=letmein porch run app:app --app-dir examples/shop

then open http://127.0.0.1:8000/docs. The data lives in memory (store.py) until porch's data
layer lands: a restart brings back the seeded items, and each worker process has its own.
"""

import logging

from categories import categories
from items import items
from problems import problem, shop_document
from settings import ShopSettings
from store import ShopStore

from porch import App, HTTPError, JSONResponse, Request

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
    # Every error, porch's 404s and 405s included, in the one format the 422s have.
    app.errorhandler(HTTPError)(problem)

    document: dict[str, object] | None = None

    # Takes the place of porch's own document, to add what porch cannot say yet (problems.py).
    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        nonlocal document
        if document is None:
            document = shop_document(app)
        if request.root_path:  # behind a proxy, "Try it out" goes through it too
            return JSONResponse({**document, "servers": [{"url": request.root_path}]})
        return JSONResponse(document)

    @app.on_startup
    def warn_read_only() -> None:
        shop_settings = app.settings
        if isinstance(shop_settings, ShopSettings) and not shop_settings.api_key.reveal():
            logger.warning("SHOP_API_KEY is not set: the shop refuses every change (401).")

    return app


app = create_app()
