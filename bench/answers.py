"""What a server must answer before (and after) it is measured.

Every scenario checks its request's answer: the expected status (200, or 201 for a POST that
creates) and a body that is right. For the server scenarios the body is known to the byte; the
frameworks of the framework scenarios each write JSON and HTML their own way (spacing, a trailing
newline), so those answers are checked for what they mean: the same JSON value, or a page
holding the same rows. Either way a wrong answer fails the check. A scenario may also name
requests that must be refused (invalid input): each must get 400 or 422.
"""

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Expected(Protocol):
    """An answer to check."""

    @property
    def status(self) -> int:
        """The status the answer must have."""
        ...

    @property
    def size(self) -> int:
        """The body's size in bytes (a typical one, or 0, when frameworks differ)."""
        ...

    def describe(self) -> str:
        """The body in a few words, for the docs."""
        ...

    def problem(self, body: bytes, content_type: str) -> str | None:
        """What is wrong with an answer, or None when it is right."""
        ...


# What a framework answers to input that fails validation: FastAPI and porch 422, others 400.
REFUSED = (400, 422)


def answer_problem(expected: Expected, status: int, body: bytes, content_type: str) -> str | None:
    """What is wrong with an answer, worded to follow "answered", or None when it is right."""
    if status != expected.status:
        return f"{status}, not {expected.status}: {body[:200]!r}"
    problem = expected.problem(body, content_type)
    return f"{status} with {problem}" if problem else None


def refusal_problem(status: int, body: bytes) -> str | None:
    """What is wrong with the answer to an invalid request (anything but 400 or 422), or None."""
    if status in REFUSED:
        return None
    wanted = " or ".join(str(code) for code in REFUSED)
    return f"{status}, not {wanted}: the invalid input was not refused: {body[:200]!r}"


def media_type(content_type: str) -> str:
    """`text/plain; charset=utf-8` -> `text/plain`."""
    return content_type.split(";", 1)[0].strip().lower()


def _wrong_type(content_type: str, wanted: str | None) -> str | None:
    if wanted is None or media_type(content_type) == wanted:
        return None
    return f"Content-Type {content_type or '(none)'!r}, not {wanted}"


@dataclass(frozen=True)
class Exact:
    """This body to the byte (and, if given, this media type)."""

    body: bytes
    media_type: str | None = None
    status: int = 200

    @property
    def size(self) -> int:
        return len(self.body)

    def describe(self) -> str:
        return f"{len(self.body):,} bytes of body"

    def problem(self, body: bytes, content_type: str) -> str | None:
        wrong = _wrong_type(content_type, self.media_type)
        if wrong:
            return wrong
        if body != self.body:
            return f"a different body ({len(body)} bytes, expected {len(self.body)}): {body[:80]!r}"
        return None


@dataclass(frozen=True)
class JSONValue:
    """application/json whose value is `value` (spacing and key order free; 1 is not 1.0)."""

    value: Any
    status: int = 200

    @property
    def size(self) -> int:
        return len(json.dumps(self.value, separators=(",", ":")))

    def describe(self) -> str:
        return f"the JSON `{json.dumps(self.value)}`"

    def problem(self, body: bytes, content_type: str) -> str | None:
        wrong = _wrong_type(content_type, "application/json")
        if wrong:
            return wrong
        try:
            value = json.loads(body)
        except ValueError:
            return f"a body that is not JSON: {body[:80]!r}"
        if not _same_json(value, self.value):
            return f"the JSON {body[:120]!r}, expected {json.dumps(self.value)}"
        return None


def _same_json(a: Any, b: Any) -> bool:
    """Equal values of the same JSON types (Python's 1 == 1.0 == True does not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_json(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


_BETWEEN_TAGS = re.compile(rb">\s+<")
_SPACES = re.compile(rb"\s+")


def squeeze(markup: bytes) -> bytes:
    """HTML with the whitespace between tags dropped and other runs of it made one space."""
    return _SPACES.sub(b" ", _BETWEEN_TAGS.sub(b"><", markup)).strip()


_ROW = re.compile(rb"<tr><td>.*?</td></tr>")
_CELL = re.compile(rb"<td>(.*?)</td>")
# A bare `&` (one that starts no character reference) shows the text went out unescaped.
_BARE_AMPERSAND = re.compile(rb"&(?!#[0-9]+;|#[xX][0-9a-fA-F]+;|[a-zA-Z]+;)")


def cell_problem(raw: bytes, text: str) -> str | None:
    """What is wrong with a table cell that should show `text`, escaped, or None."""
    if b"<" in raw or b">" in raw or _BARE_AMPERSAND.search(raw):
        return f"the cell {raw!r} is not escaped"
    if html.unescape(raw.decode("utf-8", "replace")) != text:
        return f"the cell {raw!r}, not {text!r}"
    return None


@dataclass(frozen=True)
class HTMLPage:
    """text/html holding every fragment, and exactly these table rows (of `<td>` cells), in order.

    A cell must show its text escaped (`&` as `&amp;`, `<` as `&lt;`...), in whichever of the
    equivalent ways a template engine writes it, so that a page rendered without autoescaping
    fails. Whitespace between tags does not count.
    """

    fragments: Sequence[str]
    rows: Sequence[Sequence[str]]
    status: int = 200

    @property
    def size(self) -> int:
        return 0  # each framework's page differs in whitespace

    def describe(self) -> str:
        return f"an HTML page with a table of {len(self.rows)} rows"

    def problem(self, body: bytes, content_type: str) -> str | None:
        wrong = _wrong_type(content_type, "text/html")
        if wrong:
            return wrong
        page = squeeze(body)
        for fragment in self.fragments:
            if squeeze(fragment.encode()) not in page:
                return f"a page without {fragment!r}: {body[:120]!r}"
        found = _ROW.findall(page)
        if len(found) != len(self.rows):
            return f"a page with {len(found)} table rows, not {len(self.rows)}"
        for row, cells in zip(found, self.rows, strict=True):
            raw_cells = _CELL.findall(row)
            if len(raw_cells) != len(cells):
                return f"the row {row!r}, not {len(cells)} cells"
            for raw, text in zip(raw_cells, cells, strict=True):
                wrong = cell_problem(raw, text)
                if wrong:
                    return wrong
        return None


# The database scenarios' World rows: ids and numbers both from 1 to 10,000.
WORLD_MAX = 10_000
WORLD_KEYS = {"id", "randomNumber"}


def world_row_problem(row: Any) -> str | None:
    """What is wrong with one World row of an answer, or None."""
    if not isinstance(row, dict) or row.keys() != WORLD_KEYS:
        return f"the row {json.dumps(row)[:80]}, not an object of id and randomNumber"
    for key in sorted(WORLD_KEYS):
        value = row[key]
        # bool is an int to Python, not to JSON.
        if type(value) is not int or not 1 <= value <= WORLD_MAX:
            return f"the row {json.dumps(row)}: {key} is not an integer from 1 to {WORLD_MAX:,}"
    return None


@dataclass(frozen=True)
class WorldRows:
    """application/json holding one World row (an object), or a list of exactly `count` of them:
    each `{"id": ..., "randomNumber": ...}`, both integers from 1 to 10,000, no other key."""

    count: int | None = None  # None: one row, as an object
    status: int = 200

    @property
    def size(self) -> int:
        row = len('{"id":1234,"randomNumber":5678}')
        return row if self.count is None else (row + 1) * self.count + 1

    def describe(self) -> str:
        if self.count is None:
            return "a JSON World row (`id` and `randomNumber`, integers from 1 to 10,000)"
        return f"a JSON list of {self.count} World rows"

    def problem(self, body: bytes, content_type: str) -> str | None:
        wrong = _wrong_type(content_type, "application/json")
        if wrong:
            return wrong
        try:
            value = json.loads(body)
        except ValueError:
            return f"a body that is not JSON: {body[:80]!r}"
        if self.count is None:
            return world_row_problem(value)
        if not isinstance(value, list) or len(value) != self.count:
            shown = f"{len(value)} items" if isinstance(value, list) else "no list"
            return f"{shown}, not a list of {self.count} rows: {body[:80]!r}"
        for row in value:
            wrong = world_row_problem(row)
            if wrong:
                return wrong
        return None
