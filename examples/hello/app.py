from porch import App

app = App(__name__)


@app.get("/")
def index() -> str:
    return "Hello, world!"
