"""The smallest Flask application: one route answering "Hello, world!"."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    """The greeting, as Flask serves a returned string (text/html)."""
    return "Hello, world!"
