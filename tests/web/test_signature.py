"""Signatures worked out once (porch/web/signature.py): where each parameter comes from, and
the errors for those nothing can give, raised when the route is added."""

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest

from porch import App, Body, Cookie, Depends, File, Form, Header, Path, Query, Request, Settings
from porch.web.forms import UploadFile
from porch.web.routing import RouteError
from porch.web.signature import compile_signature


class Item(msgspec.Struct):
    name: str


@dataclasses.dataclass
class Point:
    x: int


class Movie(TypedDict):
    title: str


class Colour(enum.Enum):
    RED = "red"


class Config(Settings):
    page_size: int = 20


def locations(call: Any, path: dict[str, Any] | None = None) -> dict[str, str]:
    signature = compile_signature(call, path or {})
    found = {field.name: field.location for field in [*signature.fields, *signature.body]}
    found.update({name: "path" for name, _ in signature.path})
    found.update({name: "settings" for name, _ in signature.settings})
    found.update({name: "depends" for name, _ in signature.dependencies if name})
    if signature.request:
        found[signature.request] = "request"
    return found


def test_scalars_and_their_lists_come_from_the_query_string() -> None:
    def handler(
        a: str,
        b: int,
        c: float,
        d: bool,
        e: decimal.Decimal,
        f: uuid.UUID,
        g: datetime.date,
        h: datetime.datetime,
        i: datetime.time,
        j: Colour,
        k: Literal["x", "y"],
        m: list[int],
        n: int | None = None,
        o: tuple[str, ...] = (),
    ) -> None: ...

    assert set(locations(handler).values()) == {"query"}
    signature = compile_signature(handler, {})
    many = {field.name for field in signature.fields if field.many}
    assert many == {"m", "o"}
    required = {field.name for field in signature.fields if field.required}
    assert "n" not in required and "a" in required


def test_markers_say_where() -> None:
    def handler(
        request: Request,
        team_id: int,
        q: Annotated[int, Query(ge=1, alias="page")],
        x_token: Annotated[str, Header()],
        raw_name: Annotated[str, Header(convert_underscores=False)],
        session: Annotated[str, Cookie()],
        note: Annotated[str, Form()],
        photo: UploadFile,
        more: Annotated[list[UploadFile], File()],
        item: Item,
        config: Config,
        dep: Annotated[int, Depends(lambda: 1)],
        extra: Annotated[int, Body(embed=True)] = 0,
    ) -> None: ...

    found = locations(handler, {"team_id": int})
    assert found == {
        "request": "request",
        "team_id": "path",
        "q": "query",
        "x_token": "header",
        "raw_name": "header",
        "session": "cookie",
        "note": "form",
        "photo": "file",
        "more": "file",
        "item": "body",
        "extra": "body",
        "config": "settings",
        "dep": "depends",
    }
    signature = compile_signature(handler, {"team_id": int})
    keys = {field.name: field.key for field in [*signature.fields, *signature.body]}
    assert keys["q"] == "page"
    assert keys["x_token"] == "x-token"
    assert keys["raw_name"] == "raw_name"
    # Two body fields: an object with both, not the whole body.
    assert signature.whole_body is None


def test_structs_dataclasses_typeddicts_and_containers_are_the_body() -> None:
    def handler(a: Item, b: Point | None, c: Movie, d: dict[str, int], e: list[Item]) -> None: ...

    assert set(locations(handler).values()) == {"body"}


def test_a_single_body_parameter_is_the_whole_body_unless_embedded() -> None:
    def whole(item: Item) -> None: ...

    def embedded(item: Annotated[Item, Body(embed=True)]) -> None: ...

    assert compile_signature(whole, {}).whole_body is not None
    assert compile_signature(embedded, {}).whole_body is None


def test_constraints_become_part_of_the_type() -> None:
    def handler(
        limit: Annotated[int, Query(ge=1, le=100, description="how many")] = 10,
    ) -> None: ...

    (field,) = compile_signature(handler, {}).fields
    assert msgspec.convert("5", field.annotation, strict=False) == 5
    with pytest.raises(msgspec.ValidationError, match="<= 100"):
        msgspec.convert("500", field.annotation, strict=False)
    assert field.default == 10 and not field.required


def test_unbindable_parameters_are_errors_when_the_route_is_added() -> None:
    app = App(__name__)

    class Unknown:
        pass

    def unannotated(thing) -> None:  # type: ignore[no-untyped-def]
        ...

    def unknown_type(thing: Unknown) -> None: ...

    def any_type(thing: Any) -> None: ...

    def stray_path(thing: Annotated[int, Path()]) -> None: ...

    for handler, message in [
        (unannotated, "'thing' is neither the request nor a path parameter"),
        (unknown_type, "'thing' is a Unknown, which porch cannot read"),
        (any_type, "'thing' is a "),
        (stray_path, "marked Path\\(\\) but the route has no path parameter"),
    ]:
        with pytest.raises(RouteError, match=message) as raised:
            app.get("/things")(handler)
        assert handler.__qualname__ in str(raised.value)
    # With a default, a type porch does not read is left to it (as an untyped one is).

    def defaulted(thing: Any = None, other: Unknown | None = None) -> str:
        return "ok"

    app.get("/defaulted")(defaulted)


def test_a_dependency_that_cannot_be_bound_names_both() -> None:
    app = App(__name__)

    def broken(thing) -> int:  # type: ignore[no-untyped-def]
        return 1

    def handler(value: Annotated[int, Depends(broken)]) -> None: ...

    with pytest.raises(RouteError, match=r"handler depends on .*broken: parameter 'thing'"):
        app.get("/")(handler)


def test_depends_as_a_default_and_by_type() -> None:
    class Service:
        def __init__(self) -> None:
            self.name = "service"

    def handler(a: int = Depends(lambda: 1), b: Annotated[Service, Depends()] = None) -> None:  # type: ignore[assignment, assignment]
        ...

    signature = compile_signature(handler, {})
    assert [name for name, _ in signature.dependencies] == ["a", "b"]
    assert signature.dependencies[1][1].call is Service


def test_path_parameters_typed_as_their_converter_need_no_checking() -> None:
    def handler(
        team_id: int, name: str, ratio: float, other: Annotated[int, Path(ge=1)]
    ) -> None: ...

    signature = compile_signature(
        handler, {"team_id": int, "name": str, "ratio": int, "other": int}
    )
    typed = dict(signature.path)
    assert typed["team_id"] is None and typed["name"] is None  # the converter checked them
    assert typed["ratio"] is float  # annotated otherwise than its converter gives: converted
    assert typed["other"] is not None  # a marker's constraints: checked
    assert compile_signature(lambda team_id: None, {"team_id": int}).plain
