"""Django's ORM (psycopg 3), configured in this module, on gunicorn (gthread).

No middleware and no installed apps, as in django_app.py; persistent connections
(CONN_MAX_AGE=None), so each of gunicorn's threads keeps one connection; Jinja2 templates.
"""

from operator import attrgetter
from typing import Any

import django
from django.conf import settings

from frameworks.common import TEMPLATES
from frameworks.techempower import (
    ADDITIONAL_FORTUNE,
    database_parts,
    query_count,
    random_id,
    random_ids,
    random_number,
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="porch-bench-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            **database_parts(),
            "CONN_MAX_AGE": None,
        }
    },
    TEMPLATES=[{"BACKEND": "django.template.backends.jinja2.Jinja2", "DIRS": [TEMPLATES]}],
)
# Before the models: the app registry must be ready.
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import models  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path  # noqa: E402


class World(models.Model):
    """A row of TechEmpower's World table."""

    randomNumber = models.IntegerField(db_column="randomnumber")

    class Meta:
        app_label = "bench"
        db_table = "world"
        managed = False

    def to_json(self) -> dict[str, int]:
        """The row as JSON."""
        return {"id": self.id, "randomNumber": self.randomNumber}


class Fortune(models.Model):
    """A row of TechEmpower's Fortune table."""

    message = models.CharField(max_length=2048)

    class Meta:
        app_label = "bench"
        db_table = "fortune"
        managed = False


def requested_worlds(request: HttpRequest) -> list[World]:
    """The rows ?queries= asks for, one query each."""
    count = query_count(request.GET.get("queries"))
    return [World.objects.get(id=id) for id in random_ids(count)]


def single_query(request: HttpRequest) -> HttpResponse:
    """db-single."""
    return JsonResponse(World.objects.get(id=random_id()).to_json())


def queries(request: HttpRequest) -> HttpResponse:
    """db-queries."""
    return JsonResponse([world.to_json() for world in requested_worlds(request)], safe=False)


def fortunes(request: HttpRequest) -> HttpResponse:
    """db-fortunes."""
    rows = list(Fortune.objects.all())
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    context: dict[str, Any] = {"fortunes": rows}
    return render(request, "fortunes.html", context)


def updates(request: HttpRequest) -> HttpResponse:
    """db-updates: one UPDATE for every row (bulk_update runs in a transaction of its own)."""
    worlds = requested_worlds(request)
    for world in worlds:
        world.randomNumber = random_number()
    World.objects.bulk_update(worlds, ["randomNumber"])
    return JsonResponse([world.to_json() for world in worlds], safe=False)


urlpatterns = [
    path("db", single_query),
    path("queries", queries),
    path("fortunes", fortunes),
    path("updates", updates),
]

application = get_wsgi_application()
