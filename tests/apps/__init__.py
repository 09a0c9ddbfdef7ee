"""Real third-party applications (Flask, Django, Starlette, FastAPI) that the server tests run
under porch and under their usual servers; each answers the same URLs the same way.

What the apps share lives here, so that every app produces the same bytes.
"""

import random
from datetime import UTC, datetime

LARGE_BODY_SIZE = 2 * 1024 * 1024
STREAM_CHUNKS = 5
STREAM_DELAY = 0.08  # seconds between streamed chunks
# A fixed Expires, so that Set-Cookie does not depend on the second a response is made.
COOKIE_EXPIRES = datetime(2037, 1, 2, 3, 4, 5, tzinfo=UTC)
COOKIE_MAX_AGE = 3600
CUSTOM_REASON = "Porch Custom"
# The file /file serves: its path comes from the test, which writes it once for both servers.
FILE_ENV = "PORCH_THIRDPARTY_FILE"
DOWNLOAD_NAME = "report café.bin"


def large_body() -> bytes:
    """LARGE_BODY_SIZE deterministic bytes (every byte value, not one repeated)."""
    return random.Random(1234).randbytes(LARGE_BODY_SIZE)


def stream_chunk(index: int) -> bytes:
    """The `index`th chunk of the streamed response."""
    return f"chunk {index}: {'x' * (10 + index)}\n".encode()


def file_summary(filename: str | None, sha256: str, size: int) -> dict[str, object]:
    """What /upload answers about a file."""
    return {"filename": filename, "size": size, "sha256": sha256}
