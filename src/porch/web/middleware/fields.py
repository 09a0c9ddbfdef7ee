"""Response header helpers the built-in middleware share: Vary, and header sets derived once.

Most responses carry a HeaderBlock shared by every response of its kind (the Content-Type of
an HTML page, the headers of one static file). A middleware that adds the same fields to
each of them makes the new block once per block it meets (`Derived`), so the server still
copies pre-encoded bytes instead of checking and encoding each field of each response.
"""

from collections.abc import Callable, Iterable

from porch.http.headers import HeaderBlock
from porch.http.native import RawHeaders, ResponseHeaders

Fields = Iterable[tuple[bytes, bytes]]

# A bound on the blocks remembered: blocks are made per response kind and per static file,
# so a site has a few hundred at most; past this the memory is dropped and rebuilt.
DERIVED_BLOCKS = 512


def with_vary(headers: Fields, vary: tuple[bytes, bytes]) -> RawHeaders:
    """A copy of `headers` with the field `vary` (b"vary", b"Origin") unless their Vary fields
    already name its token, or are '*'."""
    fields = list(headers)
    if not vary_covers(fields, vary[1].lower()):
        fields.append(vary)
    return fields


def vary_covers(headers: Fields, token: bytes) -> bool:
    """Whether the Vary fields of `headers` already name `token` (lower case), or are '*'."""
    for name, value in headers:
        if name.lower() == b"vary":
            for member in value.split(b","):
                member = member.strip().lower()
                if member == token or member == b"*":
                    return True
    return False


class Derived:
    """`derived(headers)`: `make(headers)`, remembered as a HeaderBlock when `headers` is one.

    `make` must give the same fields for the same block and add no framing field
    (Content-Length, Transfer-Encoding…), which a HeaderBlock cannot hold.
    """

    __slots__ = ("_made", "make")

    def __init__(self, make: Callable[[Fields], RawHeaders]) -> None:
        self.make = make
        self._made: dict[HeaderBlock, HeaderBlock] = {}

    def __call__(self, headers: ResponseHeaders) -> ResponseHeaders:
        if headers.__class__ is not HeaderBlock:
            return self.make(headers)
        made = self._made.get(headers)
        if made is None:
            made = HeaderBlock(self.make(headers))
            if len(self._made) >= DERIVED_BLOCKS:
                self._made.clear()
            self._made[headers] = made
        return made
