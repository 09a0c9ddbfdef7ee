"""The club site: its teams and their players as pages, forms to add them, and the same data
as a JSON API, stored through porch.db (SQLite by default: app.db beside this file).

Run it from the repository's root (`make run` does both):

    porch db --app app:app --app-dir examples/teams migrate
    porch run app:app --app-dir examples/teams

then open http://127.0.0.1:8000. The first command makes the tables and adds the seeded teams
(migrations/); DATABASE_URL names another database.
"""

from api import api
from cross_site import refuse_cross_site
from pages import pages

from porch import App
from porch.db import Database


def create_app(database_url: str | None = None) -> App:
    """The site, on `database_url` (by default DATABASE_URL, else SQLite in app.db here)."""
    app = App(__name__)
    Database(app, url=database_url)
    app.before_request(refuse_cross_site)
    app.include(pages)
    app.include(api)
    return app


app = create_app()
