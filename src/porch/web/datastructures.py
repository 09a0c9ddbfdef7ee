"""The request's multi-valued maps: query strings and forms (MultiDict) and headers (Headers)."""

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar, overload

T = TypeVar("T")


class MultiDict(Mapping[str, str]):
    """An ordered map whose keys may repeat; `d[k]` and `d.get(k)` give the first value."""

    __slots__ = ("_items", "_map")

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        self._items = pairs
        first: dict[str, str] = {}
        for key, value in pairs:
            first.setdefault(key, value)
        self._map = first

    def __getitem__(self, key: str) -> str:
        return self._map[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def getlist(self, key: str) -> list[str]:
        """Every value of `key`, in order (an empty list if it is absent)."""
        return [value for name, value in self._items if name == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (key, value) pair, repeats included, in order."""
        return list(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._items == other._items
        return super().__eq__(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued view of a raw header list; values decoded as latin-1.

    `h["Content-Type"]` and `h.get(...)` give the first value; `getlist` gives them all.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]] | None = None) -> None:
        self.raw = raw if raw is not None else []  # (lower-case name, value) pairs

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str | T) -> str | T: ...

    def get(self, key: str, default: object = None) -> object:
        """The first value of the header `key` (any case), or `default`."""
        name = key.lower().encode("latin-1", "replace")  # '?' is in no header's name
        for item, value in self.raw:
            if item == name:
                return value.decode("latin-1")
        return default

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1", "replace")  # '?' is in no header's name
        return any(item == name for item, _ in self.raw)

    def getlist(self, key: str) -> list[str]:
        """Every value of the header `key`, in order."""
        name = key.lower().encode("latin-1", "replace")  # '?' is in no header's name
        return [value.decode("latin-1") for item, value in self.raw if item == name]

    def __iter__(self) -> Iterator[str]:
        seen: set[bytes] = set()
        for name, _ in self.raw:
            if name not in seen:
                seen.add(name)
                yield name.decode("latin-1")

    def __len__(self) -> int:
        return len({name for name, _ in self.raw})

    def multi_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, repeats included, in order."""
        return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw]

    def __repr__(self) -> str:
        return f"Headers({self.multi_items()!r})"


class MutableHeaders(Headers):
    """Response headers: the same view, and the means to change them."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        """Set `key` to one value, replacing every value it had."""
        name, encoded = _field(key, value)
        raw = self.raw
        for index, (item, _) in enumerate(raw):
            if item == name:
                raw[index] = (name, encoded)
                raw[index + 1 :] = [pair for pair in raw[index + 1 :] if pair[0] != name]
                return
        raw.append((name, encoded))

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1", "replace")  # '?' is in no header's name
        self.raw[:] = [pair for pair in self.raw if pair[0] != name]

    def append(self, key: str, value: str) -> None:
        """Add a value to `key`, keeping the ones it had (Set-Cookie, Vary…)."""
        self.raw.append(_field(key, value))

    def setdefault(self, key: str, value: str) -> str:
        """The first value of `key`, set to `value` first if it has none."""
        current = self.get(key)
        if current is None:
            self.append(key, value)
            return value
        return current

    def update(self, values: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        """Set each key to its value (as `h[key] = value` does)."""
        items = values.items() if isinstance(values, Mapping) else values
        for key, value in items:
            self[key] = value


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _field(key: str, value: str) -> tuple[bytes, bytes]:
    """A header field to send, encoded; ValueError where it would break the response head."""
    if _TOKEN.fullmatch(key) is None:
        raise ValueError(f"header name {key!r} is not a token")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {key!r}: a value may not hold CR, LF or NUL")
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(
            f"header {key!r}: a value is latin-1 text (percent-encode others, as RFC 8187 says)"
        ) from None
    return key.lower().encode("ascii"), encoded
