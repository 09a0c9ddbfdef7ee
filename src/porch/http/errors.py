"""The error vocabulary both sides share: an HTTP error carrying its status, and a disconnect."""

from porch.http.status import reason_phrase


class HTTPError(Exception):
    """An error that becomes a response with `status`; `detail` is safe to show the client."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.status = status
        # None when none was given: an error handler can tell "no detail" from a detail, and
        # whoever writes the answer falls back to the reason phrase.
        self.detail = detail
        self.headers = headers or []
        super().__init__(status, detail)

    def __str__(self) -> str:
        return f"{self.status} {self.detail or reason_phrase(self.status)}"


class ClientDisconnected(OSError):
    """The client closed the connection before the request or the response was done."""
