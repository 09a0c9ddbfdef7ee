"""The small application tests/web/test_servers.py serves with porch, uvicorn, hypercorn and
granian: the same App, unmodified, under each."""

from typing import Annotated

import msgspec

from porch import App, Depends, Header, Query, Request, Response, WebSocket

# A smaller body limit than the default 10 MiB, so that the tests past it stay quick.
BODY_LIMIT = 2 * 1024 * 1024
app = App(__name__, max_body_size=BODY_LIMIT)


@app.on_startup
async def started() -> None:
    app.state.started = True


@app.get("/")
def index() -> str:
    return "<h1>Hello</h1>"


@app.get("/api/teams")
async def teams() -> list[dict[str, str]]:
    return [{"name": "Eagles", "level": "U10"}]


@app.get("/teams/<int:team_id>")
async def team(team_id: int) -> dict[str, object]:
    return {"id": team_id, "type": type(team_id).__name__}


@app.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    form = await request.form()
    file = form.files["file"]
    data = await file.read()
    return {
        "name": form.get("name"),
        "filename": file.filename,
        "content_type": file.content_type,
        "size": len(data),
    }


@app.post("/sync-upload")
def sync_upload(request: Request) -> dict[str, object]:
    form = request.sync.form()
    return {"name": form.get("name"), "size": form.files["file"].size}


@app.get("/login")
def login() -> Response:
    response = Response("logged in")
    response.set_cookie("session", "s-1")
    return response


@app.get("/whoami")
def whoami(request: Request) -> dict[str, str | None]:
    return {"session": request.cookies.get("session")}


@app.get("/state")
def state() -> dict[str, bool]:
    return {"started": getattr(app.state, "started", False)}


@app.get("/face")
async def face(request: Request) -> str:
    """Which of the App's faces the server called: ASGI, or porch's native path."""
    from porch.web.asgi import ASGIBody

    return "asgi" if isinstance(request._reader, ASGIBody) else "native"


@app.get("/base-url")
def base_url(request: Request) -> str:
    """The URL links are built from: a poisoned Host would show here."""
    return request.base_url


@app.post("/size")
async def size(request: Request) -> str:
    return str(len(await request.body()))


@app.post("/sync-size")
def sync_size(request: Request) -> str:
    """A blocking handler: its body is received before it takes a thread."""
    return str(len(request.sync.body()))


@app.post("/json")
async def json_body(request: Request) -> dict[str, object]:
    return {"type": type(await request.json()).__name__}


# A typed API: the same validation and answers under every server.


class Line(msgspec.Struct):
    sku: Annotated[str, msgspec.Meta(min_length=3)]
    quantity: Annotated[int, msgspec.Meta(gt=0)]


class Order(msgspec.Struct):
    customer: str
    lines: list[Line]


async def paging(page: Annotated[int, Query(ge=1)] = 1) -> int:
    return page


@app.post("/orders", status=201)
async def create_order(order: Order, x_shop: Annotated[str, Header()]) -> Order:
    return Order(f"{order.customer}@{x_shop}", order.lines)


@app.get("/orders")
def list_orders(
    page: Annotated[int, Depends(paging)], limit: Annotated[int, Query(le=50)] = 10
) -> dict[str, int]:
    return {"page": page, "limit": limit}


@app.websocket("/ws/rooms/<slug:room>")
async def room(ws: WebSocket, room: str, times: Annotated[int, Query(ge=1, le=5)] = 1) -> None:
    await ws.accept()
    async for message in ws.iter_json():
        await ws.send_json({"room": room, "said": message, "times": times})
