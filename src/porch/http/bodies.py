"""Request bodies received whole before code that blocks a thread runs (WSGI applications and
`def` handlers), as nginx's request buffering does: a slow client then costs a connection,
never a thread. In memory up to SPOOL_SIZE, in a temporary file past it."""

import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from typing import IO

SPOOL_SIZE = 1024 * 1024
READ_SIZE = 65536


async def receive_whole(chunks: AsyncIterable[bytes]) -> IO[bytes]:
    """Every chunk of a body, in a file positioned at its start (the caller closes it)."""
    file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)  # noqa: SIM115
    try:
        async for chunk in chunks:
            # Past SPOOL_SIZE this writes to the page cache from the event loop: short, and
            # bounded by the body limit.
            file.write(chunk)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return file


class SpooledBody:
    """A BodyReader over a body already received whole into `file`."""

    __slots__ = ("file",)

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    async def read(self) -> bytes:
        """The rest of the body, whole."""
        return self.file.read()

    async def stream(self) -> AsyncIterator[bytes]:
        """The rest of the body, in pieces."""
        while chunk := self.file.read(READ_SIZE):
            yield chunk

    def close(self) -> None:
        """Let the memory or the temporary file go."""
        self.file.close()
