"""The battery's Flask application (WSGI), written the way Flask apps are."""

import hashlib
import os
import time
from collections.abc import Iterator

from flask import Flask, Response, abort, jsonify, redirect, request, send_file, url_for
from werkzeug.wrappers import Response as BaseResponse

from tests.apps import (
    COOKIE_EXPIRES,
    COOKIE_MAX_AGE,
    CUSTOM_REASON,
    DOWNLOAD_NAME,
    FILE_ENV,
    STREAM_CHUNKS,
    STREAM_DELAY,
    file_summary,
    large_body,
    stream_chunk,
)

app = Flask(__name__)
app.config["DEBUG"] = False
app.config["PROPAGATE_EXCEPTIONS"] = False
LARGE = large_body()


@app.get("/query")
def query() -> Response:
    args = request.args
    return jsonify(a=args.get("a"), b=args.getlist("b"), u=args.get("u"), n=len(args))


@app.get("/items/<int:item_id>/<name>")
def item(item_id: int, name: str) -> Response:
    return jsonify(id=item_id, name=name)


@app.post("/json")
def json_echo() -> Response:
    data = request.get_json()
    return jsonify(received=data, keys=sorted(data), total=data["price"] * data["quantity"])


@app.post("/form")
def form() -> Response:
    fields = request.form
    return jsonify(name=fields.get("name"), multi=fields.getlist("multi"), text=fields.get("text"))


@app.post("/upload")
def upload() -> Response:
    file = request.files["file"]
    digest = hashlib.sha256()
    size = 0
    while block := file.stream.read(65536):
        digest.update(block)
        size += len(block)
    summary = file_summary(file.filename, digest.hexdigest(), size)
    return jsonify({**summary, "note": request.form.get("note"), "content_type": file.mimetype})


@app.get("/cookie/set")
def cookie_set() -> Response:
    response = Response("cookies set", mimetype="text/plain")
    response.set_cookie(
        "session",
        "abc123",
        max_age=COOKIE_MAX_AGE,
        expires=COOKIE_EXPIRES,
        path="/",
        httponly=True,
        samesite="Lax",
    )
    response.set_cookie("theme", "dark", path="/cookie", secure=True, samesite="Strict")
    return response


@app.get("/cookie/read")
def cookie_read() -> Response:
    return jsonify(session=request.cookies.get("session"), theme=request.cookies.get("theme"))


@app.get("/redirect/<int:code>")
def redirect_to(code: int) -> BaseResponse:
    return redirect(url_for("query", a="1"), code=code)


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:
        for index in range(STREAM_CHUNKS):
            if index:
                time.sleep(STREAM_DELAY)
            yield stream_chunk(index)

    return Response(chunks(), mimetype="text/plain")


@app.get("/large")
def large() -> Response:
    return Response(LARGE, mimetype="application/octet-stream")


@app.get("/custom")
def custom() -> Response:
    headers = [("X-Custom", "custom value"), ("X-Multi", "one"), ("X-Multi", "two")]
    return Response("accepted", status=202, headers=headers, mimetype="text/plain")


@app.get("/reason")
def reason() -> Response:
    return Response("custom reason", status=f"299 {CUSTOM_REASON}", mimetype="text/plain")


@app.get("/error")
def error() -> Response:
    raise RuntimeError("boom")


@app.get("/forbidden")
def forbidden() -> Response:
    abort(403)


@app.get("/headers")
def headers() -> Response:
    echoed = {
        key: value
        for key, value in request.environ.items()
        if key.startswith("HTTP_X") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    }
    return jsonify(echoed)


@app.get("/café")
def cafe() -> Response:
    return Response("café", mimetype="text/plain")


@app.get("/p/<name>")
def path_segment(name: str) -> Response:
    return jsonify(name=name)


@app.get("/pathinfo/<path:rest>")
def path_info(rest: str) -> Response:
    return jsonify(path=request.path, rest=rest, raw=request.environ.get("RAW_URI"))


@app.get("/url")
def urls() -> Response:
    return jsonify(
        {
            "script_name": request.script_root,
            "path": request.path,
            "self": url_for("urls"),
            "item": url_for("item", item_id=7, name="x y"),
            "external": url_for("query", a="1", _external=True),
        }
    )


@app.get("/client")
def client() -> Response:
    return jsonify(host=request.remote_addr, scheme=request.scheme)


@app.get("/file")
def download() -> Response:
    return send_file(
        os.environ[FILE_ENV],
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=DOWNLOAD_NAME,
    )
