"""Where a handler's typed parameters come from: `Annotated[int, Query(ge=1)]`, and `Depends`.

A marker says where a value is read (query string, header, cookie, JSON body, form field,
uploaded file) under which name (`alias`), what it must satisfy (`ge`, `gt`, `le`, `lt`,
`min_length`, `max_length`, `pattern`: as msgspec.Meta), and what documents it (`title`,
`description`, `example`, `examples`, `deprecated`, `include_in_schema`). The default value
is the parameter's own: `limit: Annotated[int, Query(ge=1)] = 10`.
"""

from collections.abc import Callable, Sequence
from typing import Any

import msgspec

_CONSTRAINTS = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


class Param:
    """Where a parameter is read, its constraints and its documentation."""

    location = ""

    def __init__(
        self,
        *,
        alias: str | None = None,
        ge: float | None = None,
        gt: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        title: str | None = None,
        description: str | None = None,
        example: Any = None,
        examples: Sequence[Any] | None = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
    ) -> None:
        self.alias = alias
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.min_length, self.max_length, self.pattern = min_length, max_length, pattern
        self.title = title
        self.description = description
        self.examples = list(examples) if examples is not None else None
        if example is not None:
            self.examples = [example, *(self.examples or [])]
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema

    def meta(self) -> msgspec.Meta | None:
        """The constraints and documentation as msgspec.Meta (None if there is nothing)."""
        values = {name: getattr(self, name) for name in _CONSTRAINTS}
        values.update(title=self.title, description=self.description, examples=self.examples)
        given = {name: value for name, value in values.items() if value is not None}
        return msgspec.Meta(**given) if given else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r})"


class Path(Param):
    """A path parameter (the route's template names it; this adds constraints and docs)."""

    location = "path"


class Query(Param):
    """A query string parameter; a `list[...]` takes every value it is given."""

    location = "query"


class Header(Param):
    """A request header: `x_token` is read from `X-Token` (convert_underscores=False: as is)."""

    location = "header"

    def __init__(self, *, convert_underscores: bool = True, **options: Any) -> None:
        super().__init__(**options)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A cookie."""

    location = "cookie"


class Body(Param):
    """The JSON body, or with `embed=True` (or beside other Body parameters) one member of it,
    under the parameter's name."""

    location = "body"

    def __init__(
        self, *, embed: bool = False, media_type: str = "application/json", **options: Any
    ):
        super().__init__(**options)
        self.embed = embed
        self.media_type = media_type


class Form(Param):
    """A field of a form (urlencoded or multipart)."""

    location = "form"


class File(Param):
    """An uploaded file of a multipart form (UploadFile, or list[UploadFile] for several)."""

    location = "file"


class Depends:
    """A dependency: `Annotated[T, Depends(fn)]` is what `fn` gives (solved once per request;
    a generator's code after `yield` runs after the handler, before the response is sent)."""

    def __init__(
        self, dependency: Callable[..., Any] | None = None, *, use_cache: bool = True
    ) -> None:
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"
