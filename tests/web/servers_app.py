"""The small application tests/web/test_servers.py serves with porch, uvicorn, hypercorn and
granian: the same App, unmodified, under each."""

from porch import App, Request, Response

app = App(__name__)


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
