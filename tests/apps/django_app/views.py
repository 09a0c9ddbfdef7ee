"""The battery's views, written the way Django views are."""

import hashlib
import json
import os
import time
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from tests.apps import (
    COOKIE_EXPIRES,
    CUSTOM_REASON,
    DOWNLOAD_NAME,
    FILE_ENV,
    STREAM_CHUNKS,
    STREAM_DELAY,
    file_summary,
    large_body,
    stream_chunk,
)

LARGE = large_body()


@require_safe
def query(request: HttpRequest) -> HttpResponse:
    params = request.GET
    return JsonResponse(
        {"a": params.get("a"), "b": params.getlist("b"), "u": params.get("u"), "n": len(params)}
    )


def item(request: HttpRequest, item_id: int, name: str) -> HttpResponse:
    return JsonResponse({"id": item_id, "name": name})


@csrf_exempt
@require_POST
def json_echo(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body)
    return JsonResponse(
        {"received": data, "keys": sorted(data), "total": data["price"] * data["quantity"]}
    )


@csrf_exempt
@require_POST
def form(request: HttpRequest) -> HttpResponse:
    fields = request.POST
    return JsonResponse(
        {"name": fields.get("name"), "multi": fields.getlist("multi"), "text": fields.get("text")}
    )


@csrf_exempt
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    file = request.FILES["file"]
    digest = hashlib.sha256()
    size = 0
    for block in file.chunks():
        digest.update(block)
        size += len(block)
    summary = file_summary(file.name, digest.hexdigest(), size)
    return JsonResponse(
        {**summary, "note": request.POST.get("note"), "content_type": file.content_type}
    )


def cookie_set(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("cookies set", content_type="text/plain")
    response.set_cookie(
        "session",
        "abc123",
        # As a string: from a datetime (or a max_age) Django derives the other attribute
        # from the clock, and two servers asked a second apart would answer differently.
        expires=http_date(COOKIE_EXPIRES.timestamp()),
        path="/",
        httponly=True,
        samesite="Lax",
    )
    response.set_cookie("theme", "dark", path="/cookie", secure=True, samesite="Strict")
    return response


def cookie_read(request: HttpRequest) -> HttpResponse:
    cookies = request.COOKIES
    return JsonResponse({"session": cookies.get("session"), "theme": cookies.get("theme")})


def redirect_to(request: HttpRequest, code: int) -> HttpResponseBase:
    target = reverse("query") + "?a=1"
    return redirect(target, permanent=code in (301, 308), preserve_request=code in (307, 308))


def stream(request: HttpRequest) -> HttpResponseBase:
    def chunks() -> Iterator[bytes]:
        for index in range(STREAM_CHUNKS):
            if index:
                time.sleep(STREAM_DELAY)
            yield stream_chunk(index)

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def large(request: HttpRequest) -> HttpResponse:
    return HttpResponse(LARGE, content_type="application/octet-stream")


def custom(request: HttpRequest) -> HttpResponse:
    headers = {"X-Custom": "custom value", "X-Multi": "one, two"}
    return HttpResponse("accepted", status=202, headers=headers, content_type="text/plain")


def reason(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        "custom reason", status=299, reason=CUSTOM_REASON, content_type="text/plain"
    )


def error(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def headers(request: HttpRequest) -> HttpResponse:
    echoed = {
        key: value
        for key, value in request.META.items()
        if key.startswith("HTTP_X") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    return JsonResponse(echoed)


def cafe(request: HttpRequest) -> HttpResponse:
    return HttpResponse("café", content_type="text/plain; charset=utf-8")


def path_segment(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse({"name": name})


def path_info(request: HttpRequest, rest: str) -> HttpResponse:
    return JsonResponse({"path": request.path, "rest": rest, "raw": request.META.get("RAW_URI")})


def urls(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "script_name": request.META.get("SCRIPT_NAME"),
            "path": request.path,
            "self": reverse("url"),
            "item": reverse("item", args=[7, "x y"]),
            "external": request.build_absolute_uri(reverse("query") + "?a=1"),
        }
    )


def client(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"host": request.META.get("REMOTE_ADDR"), "scheme": request.scheme})


def download(request: HttpRequest) -> HttpResponseBase:
    return FileResponse(
        open(os.environ[FILE_ENV], "rb"),
        as_attachment=True,
        filename=DOWNLOAD_NAME,
        content_type="application/octet-stream",
    )
