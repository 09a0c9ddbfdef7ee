"""A callable's signature worked out once, when its route is added: where each parameter comes
from and as what type (the "kwargs model" that requests are then read with).

A parameter is, in this order:
- the request: named `request`, or annotated `Request`;
- a dependency: `Annotated[T, Depends(fn)]`, or a default of `Depends(fn)`;
- a path parameter: named like one of the route's;
- what a marker says: `Annotated[T, Query() | Header() | Cookie() | Body() | Form() | File()]`;
- the application's settings: annotated with a `Settings` class;
- uploaded files: annotated `UploadFile` or `list[UploadFile]`;
- the JSON body: a msgspec Struct, a dataclass, a TypedDict, or a dict or list of anything but
  scalars;
- a query parameter: a scalar (str, int, float, bool, Decimal, UUID, date, datetime, time, an
  Enum, a Literal), a list, tuple or set of them, or either `| None`;
- left to its default: a default, and no annotation or one porch does not read (Any...).
Anything else is a RouteError that names the callable and the parameter.
"""

import dataclasses
import datetime
import decimal
import enum
import inspect
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import msgspec

from porch.web.params import Body, Depends, Header, Param

# Where a parameter comes from (a marker's `location`).
PATH, QUERY, HEADER, COOKIE = "path", "query", "header", "cookie"
BODY, FORM, FILE = "body", "form", "file"
# datetime.datetime is a datetime.date.
SCALARS = (str, int, float, bool, decimal.Decimal, uuid.UUID, datetime.date, datetime.time)
_SEQUENCES = (list, tuple, set, frozenset)
MISSING: Any = inspect.Parameter.empty


class SignatureError(Exception):
    """A parameter nothing can give (a RouteError once the route is known)."""


class Field:
    """One value a callable takes from the request."""

    __slots__ = (
        "annotation",
        "as_text",
        "default",
        "key",
        "location",
        "many",
        "name",
        "param",
        "required",
    )

    def __init__(
        self,
        name: str,
        location: str,
        key: str,
        annotation: Any,
        default: Any,
        param: Param | None,
    ) -> None:
        self.name = name  # the parameter's
        self.location = location
        self.key = key  # the name in the request (a header's in lower case)
        self.annotation = annotation  # the type to validate with, constraints included
        self.default = default
        self.required = default is MISSING
        self.param = param  # the marker, with its documentation (or None)
        # A list of what the query string (or form, or headers) repeats.
        self.many = typing.get_origin(bare(strip_optional(bare(annotation)))) in _SEQUENCES
        # PERF: text taken as it is comes as it was sent: nothing to convert or check.
        self.as_text = strip_optional(annotation) in (str, list[str])

    def __repr__(self) -> str:
        return f"<Field {self.location} {self.key!r} {self.name}>"


class Dependency:
    """A `Depends(fn)`: fn's own signature, and how it is called."""

    __slots__ = ("call", "generator", "is_async", "signature", "use_cache")

    def __init__(self, call: Callable[..., Any], use_cache: bool) -> None:
        self.call = call
        self.use_cache = use_cache
        target = _unwrap(call)
        self.generator = inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)
        self.is_async = is_async_callable(call)
        self.signature = compile_signature(call, {})

    def __repr__(self) -> str:
        return f"<Dependency {self.signature.name}>"


class Signature:
    """What a callable takes, by kind: the request, fields by where they come from, the body,
    settings and dependencies."""

    __slots__ = (
        "body",
        "call",
        "dependencies",
        "fields",
        "fields_type",
        "name",
        "path",
        "request",
        "settings",
        "whole_body",
    )

    def __init__(self, call: Callable[..., Any]) -> None:
        self.call = call
        self.name = getattr(call, "__qualname__", None) or repr(call)
        self.request: str | None = None  # the parameter that takes the request
        self.path: list[tuple[str, Any]] = []  # (name, type to validate as, or None)
        self.fields: list[Field] = []  # query, header, cookie, form and file fields
        # A Struct of the fields to convert (not text, not files), by parameter name.
        self.fields_type: type[msgspec.Struct] | None = None
        self.body: list[Field] = []  # JSON body fields
        self.whole_body: Field | None = None  # the one field the whole body is (else embedded)
        self.settings: list[tuple[str, type]] = []
        self.dependencies: list[tuple[str | None, Dependency]] = []

    @property
    def plain(self) -> bool:
        """Whether the callable takes nothing but the request and unchecked path parameters."""
        return not (
            self.fields
            or self.body
            or self.settings
            or self.dependencies
            or any(kind is not None for _, kind in self.path)
        )

    def walk(self) -> typing.Iterator["Signature"]:
        """This signature and those of its dependencies, depth first (each once)."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            signature = stack.pop()
            if id(signature) in seen:
                continue
            seen.add(id(signature))
            yield signature
            stack.extend(dependency.signature for _, dependency in reversed(signature.dependencies))


def compile_signature(
    call: Callable[..., Any],
    path_params: Mapping[str, type | None],
    extra_dependencies: tuple[Any, ...] = (),
) -> Signature:
    """Work out what `call` takes; SignatureError for a parameter nothing can give."""
    from porch.web.request import Request

    signature = Signature(call)
    target = _unwrap(call)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        hints = {}
    for marker in extra_dependencies:
        signature.dependencies.append((None, _dependency(marker, None, signature.name, "")))
    for parameter in inspect.signature(call).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        name = parameter.name
        annotation = hints.get(name, MISSING)
        base, markers = _split(annotation)
        default = parameter.default
        depends = next((m for m in markers if isinstance(m, Depends)), None)
        if isinstance(default, Depends):
            depends, default = default, MISSING
        if (isinstance(base, type) and issubclass(base, Request)) or (
            name == "request" and annotation in (MISSING, Any, Request)
        ):  # the request, or a WebSocket route's connection (a Request too)
            signature.request = name
        elif depends is not None:
            signature.dependencies.append((name, _dependency(depends, base, signature.name, name)))
        elif name in path_params:
            marker = next((m for m in markers if isinstance(m, Param)), None)
            # The converter's own type needs no checking: it refused anything else (404).
            given = base in (MISSING, Any) or base is path_params[name]
            typed = None if given and marker is None else _typed(base, marker)
            signature.path.append((name, typed))
        else:
            field = _field(name, annotation, base, markers, default, signature)
            if field is not None:
                (signature.body if field.location == BODY else signature.fields).append(field)
    if len(signature.body) == 1 and not _embedded(signature.body[0]):
        signature.whole_body = signature.body[0]
    converted = [f for f in signature.fields if not f.as_text and f.location != FILE]
    if converted:
        # Defaults are never used: what was not sent is not converted.
        members = [(field.name, field.annotation, None) for field in converted]
        signature.fields_type = msgspec.defstruct("Fields", members, kw_only=True)
    return signature


def _field(
    name: str,
    annotation: Any,
    base: Any,
    markers: list[Any],
    default: Any,
    signature: Signature,
) -> Field | None:
    """The field a parameter is, None if it is left to its default or is the settings."""
    from porch.web.forms import UploadFile
    from porch.web.settings import Settings

    marker = next((m for m in markers if isinstance(m, Param)), None)
    if marker is not None:
        location = marker.location
        if location == "path":
            raise SignatureError(
                f"{signature.name}: parameter {name!r} is marked Path() but the route has no "
                f"path parameter of that name"
            )
    elif annotation is MISSING:
        if default is not MISSING:
            return None
        raise SignatureError(
            f"{signature.name}: parameter {name!r} is neither the request nor a path parameter, "
            "and has no annotation to say where it comes from; annotate it (q: str, "
            "Annotated[int, Query()], a Struct for the body...) or give it a default"
        )
    elif isinstance(base, type) and issubclass(base, Settings):
        signature.settings.append((name, base))
        return None
    elif _is_upload(base, UploadFile):
        location = FILE
    elif is_body_type(base):
        location = BODY
    elif is_query_type(base):
        location = QUERY
    elif default is not MISSING:
        return None  # a type porch does not read (Any, a class of the application's): as given
    else:
        raise SignatureError(
            f"{signature.name}: parameter {name!r} is a {_type_name(base)}, which porch cannot "
            "read from a request by itself; mark where it comes from (Annotated[..., Query()], "
            "Body(), Depends(...)) or give it a type porch knows"
        )
    key = marker.alias if marker is not None and marker.alias else name
    if location == HEADER and not (marker is not None and marker.alias):
        convert = not isinstance(marker, Header) or marker.convert_underscores
        key = name.replace("_", "-") if convert else name
    if location == HEADER:
        key = key.lower()
    typed = base if location == FILE else _typed(base, marker)
    return Field(name, location, key, typed, default, marker)


def _embedded(field: Field) -> bool:
    return isinstance(field.param, Body) and field.param.embed


def _dependency(marker: Any, base: Any, owner: str, name: str) -> Dependency:
    if not isinstance(marker, Depends):
        raise SignatureError(f"{owner}: a dependency is given as Depends(fn), not {marker!r}")
    call = marker.dependency
    if call is None:
        if base is MISSING or not callable(base):
            raise SignatureError(f"{owner}: Depends() for {name!r} needs a function, or a type")
        call = base
    try:
        return Dependency(call, marker.use_cache)
    except SignatureError as exc:
        raise SignatureError(f"{owner} depends on {exc}") from None


def _typed(base: Any, marker: Param | None) -> Any:
    """The type to validate a value as: the annotation, with the marker's constraints."""
    meta = marker.meta() if marker is not None else None
    if meta is None:
        return base
    inner = strip_optional(base)
    typed: Any = Annotated[inner, meta]
    return typed | None if inner is not base else typed


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """`Annotated[T, a, b]` -> (T, [a, b]); the markers of porch, the rest stays with T."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, []
    base, *extras = typing.get_args(annotation)
    ours = [extra for extra in extras if isinstance(extra, (Param, Depends))]
    theirs = [extra for extra in extras if not isinstance(extra, (Param, Depends))]
    if theirs:  # msgspec.Meta and the like belong to the type
        base = Annotated[(base, *theirs)]
    return base, ours


def bare(annotation: Any) -> Any:
    """An annotation without its Annotated extras."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def strip_optional(annotation: Any) -> Any:
    """`T | None` -> T (an annotation without None is itself)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def is_scalar(annotation: Any) -> bool:
    """Whether a value of this type is read from one string (a query value, a header)."""
    annotation = bare(strip_optional(bare(annotation)))
    if typing.get_origin(annotation) is Literal:
        return True
    return isinstance(annotation, type) and (
        issubclass(annotation, SCALARS) or issubclass(annotation, enum.Enum)
    )


def is_query_type(annotation: Any) -> bool:
    """A scalar, or a list, tuple or set of scalars (either optional)."""
    inner = bare(strip_optional(bare(annotation)))
    if typing.get_origin(inner) in _SEQUENCES:
        args = [arg for arg in typing.get_args(inner) if arg is not Ellipsis]
        return bool(args) and all(is_scalar(arg) for arg in args)
    return is_scalar(inner)


def is_body_type(annotation: Any) -> bool:
    """A Struct, dataclass or TypedDict, or a dict or list that is no list of scalars."""
    inner = bare(strip_optional(bare(annotation)))
    if isinstance(inner, type) and (
        issubclass(inner, msgspec.Struct)
        or dataclasses.is_dataclass(inner)
        or typing.is_typeddict(inner)
    ):
        return True
    origin = typing.get_origin(inner) or inner
    return origin in (dict, list) and not is_query_type(inner)


def _is_upload(annotation: Any, upload: type) -> bool:
    inner = bare(strip_optional(bare(annotation)))
    if typing.get_origin(inner) in _SEQUENCES:
        args = typing.get_args(inner)
        return len(args) == 1 and args[0] is upload
    return inner is upload


def is_async_callable(call: Callable[..., Any]) -> bool:
    """Whether calling `call` gives an awaitable (async functions, async callable objects,
    async generator functions)."""
    target = _unwrap(call)
    if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
        return True
    method = getattr(target, "__call__", None)  # noqa: B004 - callable objects count too
    return not inspect.isfunction(target) and (
        inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
    )


def _unwrap(call: Callable[..., Any]) -> Any:
    import functools

    while isinstance(call, functools.partial):
        call = call.func
    return call


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)
