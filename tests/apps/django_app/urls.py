"""The battery's URLs."""

from django.urls import path

from tests.apps.django_app import views

urlpatterns = [
    path("query", views.query, name="query"),
    path("items/<int:item_id>/<str:name>", views.item, name="item"),
    path("json", views.json_echo),
    path("form", views.form),
    path("upload", views.upload),
    path("cookie/set", views.cookie_set),
    path("cookie/read", views.cookie_read),
    path("redirect/<int:code>", views.redirect_to),
    path("stream", views.stream),
    path("large", views.large),
    path("custom", views.custom),
    path("reason", views.reason),
    path("error", views.error),
    path("forbidden", views.forbidden),
    path("headers", views.headers),
    path("café", views.cafe),
    path("p/<str:name>", views.path_segment),
    path("pathinfo/<path:rest>", views.path_info),
    path("url", views.urls, name="url"),
    path("client", views.client),
    path("file", views.download),
]
