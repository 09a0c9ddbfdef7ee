"""Django, configured in this module, with its Jinja2 template backend; on gunicorn (gthread).

No middleware, no database, no installed apps: a view per route and the URL resolver, the
fastest Django there is.
"""

from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path

from frameworks.common import (
    FILLER_ROUTES,
    HELLO,
    MESSAGE,
    ROUTE,
    TEAMS,
    TEMPLATES,
    route_answer,
    translate,
)

settings.configure(
    DEBUG=False,
    SECRET_KEY="porch-bench-only",
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.jinja2.Jinja2",
            "DIRS": [TEMPLATES],
        }
    ],
)


def plaintext(request: HttpRequest) -> HttpResponse:
    """fw-plaintext."""
    return HttpResponse(HELLO, content_type="text/plain")


def json(request: HttpRequest) -> HttpResponse:
    """fw-json."""
    return JsonResponse(MESSAGE)


def teams(request: HttpRequest) -> HttpResponse:
    """fw-template."""
    return render(request, "teams.html", {"teams": TEAMS})


def filler(request: HttpRequest, **params: Any) -> HttpResponse:
    """The 96 routes that are never requested."""
    return HttpResponse("filler", content_type="text/plain")


def user_post(request: HttpRequest, user_id: int, post: str) -> HttpResponse:
    """fw-route: the last of 100 routes."""
    return JsonResponse(route_answer(user_id, post))


urlpatterns = [
    path("", plaintext),
    path("json", json),
    path("teams", teams),
    *(path(translate(route, "django"), filler) for route in FILLER_ROUTES),
    path(translate(ROUTE, "django"), user_post),
]

application = get_wsgi_application()
