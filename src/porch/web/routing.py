"""Routes: path templates, converters, the route table and URL building.

A template is literal segments and parameters, `<name>` (one segment) or `<converter:name>`.
The table keeps routes without parameters in a dict keyed by path, and the others in a tree of
segments, so that finding a route costs the depth of its path, not the number of routes. At
each level of the tree, literal segments are tried before parameters, and parameters in the
order their routes were added; a value a converter refuses is no match (404).
"""

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, quote_from_bytes, urlencode

# RFC 3986 §3.3-3.4: the characters a path (pchar and '/') and a query (also '?') hold as
# they are; quote_from_bytes keeps letters, digits and "_.-~" too. Anything else is encoded.
_PATH_SAFE = "/:@!$&'()*+,;=%"
_QUERY_SAFE = _PATH_SAFE + "?"
_LONE_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_PARAMETER = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*):)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


class Converter(Protocol):
    """One URL segment as a value and back (a PathConverter subclass: the rest of the path)."""

    regex: str

    def to_python(self, value: str) -> Any:
        """The value a matched segment stands for; ValueError to refuse it (404)."""
        ...

    def to_url(self, value: Any) -> str:
        """The segment for a value, unquoted."""
        ...


class StringConverter:
    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


class IntConverter:
    regex = r"[0-9]+"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


class FloatConverter:
    regex = r"[0-9]+(?:\.[0-9]+)?"

    def to_python(self, value: str) -> float:
        return float(value)

    def to_url(self, value: Any) -> str:
        return repr(float(value))


class PathConverter:
    # Spans segments: the rest of the path, not starting with an empty segment (as Flask's).
    regex = r"[^/].*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


class UUIDConverter:
    regex = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: Any) -> str:
        return str(value)


class SlugConverter:
    regex = r"[-a-zA-Z0-9_]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: Any) -> str:
        return str(value)


DEFAULT_CONVERTERS: dict[str, Converter] = {
    "str": StringConverter(),
    "int": IntConverter(),
    "float": FloatConverter(),
    "path": PathConverter(),
    "uuid": UUIDConverter(),
    "slug": SlugConverter(),
}


# Converters whose answer depends on the segment alone; matches through them may be memoized.
_PURE_CONVERTERS = {type(converter) for converter in DEFAULT_CONVERTERS.values()}
MEMO_SIZE = 1024  # paths remembered before the memo starts over
MEMO_PATH = 256  # longer paths are not remembered


class RouteError(Exception):
    """A route that cannot be added (bad template, clashing name) or a URL that cannot be built."""


def _option(default: Any) -> Any:
    """A field a route takes as a keyword of `@router.get(...)` (see Router.route)."""
    return field(default=default, metadata={"option": True})


# `response_model` not given: the endpoint's return annotation says it.
FROM_ANNOTATION: Any = type("FromAnnotation", (), {"__repr__": lambda self: "FROM_ANNOTATION"})()


@dataclass
class Route:
    """A path template, the methods it answers, the endpoint that answers them, and what the
    route says of itself (for OpenAPI, the admin, permission checks)."""

    path: str
    endpoint: Callable[..., Any]
    methods: frozenset[str]
    name: str
    status: int | None = _option(None)  # of a successful answer (201...), when not the usual
    tags: tuple[str, ...] = _option(())
    summary: str | None = _option(None)
    description: str | None = _option(None)
    response_model: Any = _option(FROM_ANNOTATION)  # noqa: RUF009 - a sentinel, shared
    dependencies: tuple[Any, ...] = _option(())  # run before the handler, values unused
    # Other answers it may give, for the document: {404: "No such item"}, or a model's type,
    # or {"description": ..., "model": T}; an error's content is problem details.
    responses: dict[int, Any] | None = _option(None)  # noqa: RUF009 - None, not a dict
    deprecated: bool = _option(False)
    include_in_schema: bool = _option(True)
    operation_id: str | None = _option(None)
    # Filled in when the route is added (handler) and served (the rest).
    handler: Any = field(default=None, repr=False)
    hooks: Any = field(default=None, repr=False)
    # PERF: no hook around the handler: the App awaits it directly.
    direct: bool = field(default=False, repr=False)
    segments: list[str | tuple[str, Converter]] = field(default_factory=list, repr=False)

    def url_path(self, params: dict[str, Any]) -> str:
        """The path of this route for `params` (each quoted); RouteError if one is missing."""
        parts = []
        for segment in self.segments:
            if isinstance(segment, str):
                parts.append(segment)
                continue
            name, converter = segment
            if name not in params:
                raise RouteError(f"url_for({self.name!r}): missing parameter {name!r}")
            safe = "/" if isinstance(converter, PathConverter) else ""
            parts.append(quote(converter.to_url(params[name]), safe=safe))
        return "/" + "/".join(parts) if parts else "/"


# What the built-in converters give, by name (a user's converter gives what it gives: None).
_CONVERTED_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "path": str,
    "uuid": uuid.UUID,
    "slug": str,
}


def template_parameters(path: str) -> dict[str, type | None]:
    """A template's parameters and the types their converters give, where porch knows them
    (`/teams/<int:team_id>` -> {"team_id": int})."""
    return {
        match.group("name"): _CONVERTED_TYPES.get(match.group("converter") or "str")
        for match in _PARAMETER.finditer(path)
    }


def parse_template(
    path: str, converters: dict[str, Converter]
) -> list[str | tuple[str, Converter]]:
    """The segments of a template: literal strings and (name, converter) parameters."""
    if not path.startswith("/"):
        raise RouteError(f"route path {path!r} must start with '/'")
    segments: list[str | tuple[str, Converter]] = []
    names: set[str] = set()
    pieces = [piece for piece in path.split("/") if piece]
    if path != "/" and path.endswith("/"):
        pieces.append("")  # a trailing slash is a last, empty segment: /teams/ is not /teams
    for index, piece in enumerate(pieces):
        match = _PARAMETER.fullmatch(piece)
        if match is None:
            if "<" in piece or ">" in piece:
                raise RouteError(f"route path {path!r}: parameters take a whole segment")
            segments.append(piece)
            continue
        kind = match.group("converter") or "str"
        converter = converters.get(kind)
        if converter is None:
            raise RouteError(f"route path {path!r}: unknown converter {kind!r}")
        name = match.group("name")
        if name in names:
            raise RouteError(f"route path {path!r}: parameter {name!r} twice")
        names.add(name)
        if isinstance(converter, PathConverter) and index != len(pieces) - 1 - (pieces[-1] == ""):
            raise RouteError(f"route path {path!r}: a path parameter must come last")
        segments.append((name, converter))
    return segments


class _Node:
    """A level of the tree: literal children, parameter children, and routes ending here."""

    __slots__ = ("literal", "methods", "parameters", "patterns", "rest")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.parameters: list[tuple[str, Converter, _Node]] = []
        self.patterns: dict[int, re.Pattern[str]] = {}
        # Path parameters: (name, converter, followed by a trailing slash, routes by method).
        self.rest: list[tuple[str, Converter, bool, dict[str, Route]]] = []
        self.methods: dict[str, Route] | None = None


class Match:
    """The route found for a request, with its converted parameters."""

    __slots__ = ("params", "route")

    def __init__(self, route: Route, params: dict[str, Any]) -> None:
        self.route = route
        self.params = params


class RouteTable:
    """All routes of an application, compiled for matching and URL building."""

    def __init__(self, hooks: Any = None) -> None:
        # The hooks of the paths no router prefix covers (the App's); see hooks_for.
        self.hooks = hooks
        self._prefixes: list[tuple[str, Any]] = []
        self.static: dict[str, dict[str, Route]] = {}
        self.root = _Node()
        self.by_name: dict[str, Route] = {}
        self.routes: list[Route] = []
        # Paths with parameters already matched, when every converter on the way is a pure
        # built-in one (a user's converter may look things up: it runs every time).
        self._memo: dict[str, tuple[dict[str, Route], dict[str, Any]]] = {}
        self._pure: set[int] = set()  # id() of the methods dicts whose routes may be memoized

    def add(self, route: Route, converters: dict[str, Converter], listed: bool = True) -> None:
        """Add a route (its template parsed with `converters`); one not `listed` is served but
        left out of `routes` (porch's own: the OpenAPI document and the docs page)."""
        if route.name in self.by_name and self.by_name[route.name].endpoint is not route.endpoint:
            raise RouteError(f"two routes are named {route.name!r}")
        route.segments = parse_template(route.path, converters)
        if listed:
            self.routes.append(route)
        self.by_name.setdefault(route.name, route)
        if all(isinstance(segment, str) for segment in route.segments):
            key = route.url_path({})
            self._bind(self.static.setdefault(key, {}), route)
            return
        node = self.root
        for segment in route.segments:
            if isinstance(segment, str):
                node = node.literal.setdefault(segment, _Node())
                continue
            name, converter = segment
            if isinstance(converter, PathConverter):
                slash = route.segments[-1] == ""  # `/<path:p>/`: the rest must end in '/'
                for rest_name, rest_converter, rest_slash, methods in node.rest:
                    if rest_name == name and rest_converter is converter and rest_slash == slash:
                        self._bind(methods, route)
                        break
                else:
                    methods = {}
                    self._bind(methods, route)
                    node.rest.append((name, converter, slash, methods))
                return
            for child_name, child_converter, child in node.parameters:
                if child_name == name and child_converter is converter:
                    node = child
                    break
            else:
                child = _Node()
                node.patterns[len(node.parameters)] = re.compile(converter.regex)
                node.parameters.append((name, converter, child))
                node = child
        if node.methods is None:
            node.methods = {}
            if all(
                isinstance(segment, str) or type(segment[1]) in _PURE_CONVERTERS
                for segment in route.segments
            ):
                self._pure.add(id(node.methods))
        self._bind(node.methods, route)

    @staticmethod
    def _bind(methods: dict[str, Route], route: Route) -> None:
        for method in route.methods:
            if method in methods and methods[method].endpoint is not route.endpoint:
                raise RouteError(f"{method} {route.path} has two routes")
            methods[method] = route

    def find(self, path: str) -> tuple[dict[str, Route], dict[str, Any]] | None:
        """The routes (by method) of the path, with their parameters; None if none match."""
        methods = self.static.get(path)
        if methods is not None:
            return methods, {}  # PERF: most requests are for a path without parameters
        known = self._memo.get(path)
        if known is not None:
            # PERF: a path seen before skips the walk; its parameters are copied, since the
            # request gets them as its own dict.
            return known[0], known[1].copy()
        if not path.startswith("/"):
            return None
        found = self._walk(self.root, path[1:].split("/"), 0, {})
        if found is not None and id(found[0]) in self._pure and len(path) <= MEMO_PATH:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[path] = (found[0], found[1].copy())
        return found

    def _walk(
        self, node: _Node, segments: list[str], index: int, params: dict[str, Any]
    ) -> tuple[dict[str, Route], dict[str, Any]] | None:
        if index == len(segments):
            return (node.methods, params) if node.methods else None
        segment = segments[index]
        child = node.literal.get(segment)
        if child is not None:
            found = self._walk(child, segments, index + 1, params)
            if found is not None:
                return found
        if segment:
            for position, (name, converter, child) in enumerate(node.parameters):
                if node.patterns[position].fullmatch(segment) is None:
                    continue
                try:
                    value = converter.to_python(segment)
                except (ValueError, TypeError):
                    continue
                found = self._walk(child, segments, index + 1, {**params, name: value})
                if found is not None:
                    return found
        if node.rest:
            rest = "/".join(segments[index:])
            for name, converter, slash, methods in node.rest:
                value = rest
                if slash:
                    if not rest.endswith("/"):
                        continue
                    value = rest[:-1]
                if re.fullmatch(converter.regex, value) is None:
                    continue
                try:
                    value = converter.to_python(value)
                except (ValueError, TypeError):
                    continue
                return methods, {**params, name: value}
        return None

    def add_prefix(self, prefix: str, hooks: Any) -> None:
        """Paths under `prefix` that match no route are answered with these hooks."""
        if prefix:
            self._prefixes.append((prefix, hooks))
            self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def hooks_for(self, path: str) -> Any:
        """The hooks of the innermost router whose prefix covers `path` (which matched no
        route): its 404, say, is that router's."""
        for prefix, hooks in self._prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return hooks
        return self.hooks

    def url_for(self, name: str, params: dict[str, Any]) -> str:
        """The path of the route `name` for `params`; parameters it does not take go to the
        query string (as Flask does)."""
        route = self.by_name.get(name)
        if route is None:
            raise RouteError(f"url_for: no route is named {name!r}")
        path = route.url_path(params)
        taken = {segment[0] for segment in route.segments if not isinstance(segment, str)}
        extra = [(key, value) for key, value in params.items() if key not in taken]
        if extra:
            path += "?" + urlencode(extra, doseq=True)
        return path


def join_paths(prefix: str, path: str) -> str:
    """`/api` + `/teams` -> `/api/teams` (a prefix of '' or '/' adds nothing)."""
    prefix = prefix.rstrip("/")
    if not path.startswith("/"):
        raise RouteError(f"route path {path!r} must start with '/'")
    return prefix + path if prefix else path


def allowed_methods(methods: Iterable[str]) -> list[str]:
    """The Allow header's methods for routes answering `methods` (HEAD with GET, OPTIONS)."""
    allowed = set(methods) - {"WEBSOCKET"}  # a WebSocket route answers no HTTP method
    if "GET" in allowed:
        allowed.add("HEAD")
    allowed.add("OPTIONS")
    return sorted(allowed)


def local_location(root_path: str, raw_path: bytes, query: bytes = b"") -> bytes:
    """A Location for a path of this site, encoded so that no client reads it as another's."""
    # Escapes already there stay as they are; a backslash, a control, a space or a byte past
    # ASCII is encoded (browsers read `/\host` as `//host`, another site).
    location = quote(root_path) + _encoded(raw_path, _PATH_SAFE)
    if location[:1] != "/":
        location = "/" + location
    if location[:2] == "//":
        location = "/%2F" + location[2:]  # `//host/...` names another host: keep it a path
    if query:
        location += "?" + _encoded(query, _QUERY_SAFE)
    return location.encode("ascii")


def _encoded(raw: bytes, safe: str) -> str:
    """`raw` percent-encoded but for `safe` and its own escapes (a lone '%' is encoded)."""
    return quote_from_bytes(_LONE_PERCENT.sub(b"%25", raw), safe)
