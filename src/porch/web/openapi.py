"""The OpenAPI 3.1 document of an application, read from its routes and their compiled signatures.

Every route with `include_in_schema` is an operation per method (HEAD and OPTIONS are implied);
its parameters are those of the handler and of every dependency it needs, each once; JSON
Schema comes from msgspec, in one call for the whole document, so that every Struct, dataclass,
TypedDict and Enum is one component however many routes use it. Where a route says nothing,
the document follows FastAPI: the summary is the docstring's first line (else the route's name
in words), the successful status is 200 (204 for a handler annotated `-> None`), and a route
that reads anything typed may answer 422, one that reads a JSON body 400 and 415 too, as
problem details.
"""

import copy
import dataclasses
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from porch.http.status import reason_phrase
from porch.web.params import Body, Param
from porch.web.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from porch.web.routing import (
    FloatConverter,
    IntConverter,
    Route,
    SlugConverter,
    UUIDConverter,
)
from porch.web.signature import (
    COOKIE,
    FILE,
    FORM,
    HEADER,
    MISSING,
    QUERY,
    Field,
    Signature,
    bare,
    strip_optional,
)
from porch.web.validation import PROBLEM_SCHEMA

if TYPE_CHECKING:
    from porch.web.app import App

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{name}"
# The operations a path item holds, in the order the specification lists them.
METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")
UNDOCUMENTED = frozenset({"HEAD", "OPTIONS"})  # answered for every GET route, and by porch itself
PROBLEM = "application/problem+json"
BINARY = {"type": "string", "format": "binary"}
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def openapi_document(app: "App") -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app` (made anew at each call; the served one is cached)."""
    return _Document(app).build()


class _Schemas:
    """The types the document needs a schema for, made together once all are known."""

    def __init__(self) -> None:
        self.types: list[Any] = []
        self.holes: list[tuple[dict[str, Any], str, int]] = []

    def put(self, into: dict[str, Any], key: str, annotation: Any) -> None:
        """Set `into[key]` to the schema of `annotation`, once it is made."""
        self.holes.append((into, key, len(self.types)))
        self.types.append(annotation)
        into[key] = {}

    def fill(self) -> dict[str, Any]:
        """Fill in every schema put; the components they refer to."""
        schemas, components = _schema_components(self.types)
        for into, key, index in self.holes:
            # What was set meanwhile (a default, a converter's bound) goes beside msgspec's
            # keywords, which win where both say something. Filled in place: the schema may
            # be referred to from elsewhere too (an allOf).
            schema = into[key]
            merged = {**schema, **schemas[index]}
            schema.clear()
            schema.update(merged)
        return components


class _Document:
    """One build of an application's document."""

    def __init__(self, app: "App") -> None:
        self.app = app
        self.schemas = _Schemas()
        self.problems = False  # whether some operation answers problem details

    def build(self) -> dict[str, Any]:
        app = self.app
        routes = [route for route in app.routes if route.include_in_schema]
        operation_ids = _operation_ids(routes)
        paths: dict[str, dict[str, Any]] = {}
        problem_refs: list[dict[str, Any]] = []
        for route in routes:
            template = openapi_path(route)
            item = paths.setdefault(template, {})
            for method in _methods(route):
                if method.lower() in item:
                    continue  # two templates read alike (<int:id>, <uuid:id>): the first one
                operation = self.operation(route, operation_ids[(id(route), method)], problem_refs)
                item[method.lower()] = operation
        for template, item in paths.items():  # methods in the specification's order
            paths[template] = {
                method.lower(): item[method.lower()] for method in METHODS if method.lower() in item
            }
        components = self.schemas.fill()
        if self.problems:
            name = "ProblemDetails"
            if name in components:  # the application's own type of that name keeps it
                name = "porch.ProblemDetails"
            components[name] = copy.deepcopy(PROBLEM_SCHEMA)  # the caller's to change
            for reference in problem_refs:
                reference["$ref"] = REF.format(name=name)
        info: dict[str, Any] = {"title": app.title, "version": app.version}
        if app.description:
            info["description"] = app.description
        document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info, "paths": paths}
        if components:
            document["components"] = {"schemas": dict(sorted(components.items()))}
        return document

    def operation(
        self, route: Route, operation_id: str, problem_refs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The operation object of one method of a route."""
        signature: Signature = route.handler.signature
        signatures = list(signature.walk())
        operation: dict[str, Any] = {}
        if route.tags:
            operation["tags"] = list(dict.fromkeys(route.tags))
        summary, description = _summary(route)
        operation["summary"] = summary
        if description:
            operation["description"] = description
        operation["operationId"] = operation_id
        parameters = self.path_parameters(route) + self.parameters(signatures)
        if parameters:
            operation["parameters"] = parameters
        body = self.request_body(signatures)
        if body is not None:
            operation["requestBody"] = body
        operation["responses"] = responses = self.responses(route)
        descriptions: dict[int, str | None] = {}
        typed = any(
            sig.fields or sig.body or any(kind is not None for _, kind in sig.path)
            for sig in signatures
        )
        errors = [422] if typed else []
        if any(sig.body for sig in signatures) or any(
            field.location in (FORM, FILE) for sig in signatures for field in sig.fields
        ):
            errors = [400, 415, *errors]  # malformed, or not JSON (not a form)
        for status, given in (route.responses or {}).items():
            if not isinstance(given, (str, dict)) and status < 400:
                given = {"model": given}
            if isinstance(given, dict) and "model" in given:
                media: dict[str, Any] = {}
                self.schemas.put(media, "schema", given["model"])
                description = given.get("description") or reason_phrase(status)
                responses[str(status)] = {
                    "description": description,
                    "content": {"application/json": media},
                }
            elif status < 400:
                responses[str(status)] = {"description": given or reason_phrase(status)}
            elif status not in errors:
                errors.append(status)
                descriptions[status] = given if isinstance(given, str) else None
        for status in sorted(errors):
            reference: dict[str, Any] = {}
            problem_refs.append(reference)
            responses[str(status)] = {
                "description": descriptions.get(status) or reason_phrase(status) or "Error",
                "content": {PROBLEM: {"schema": reference}},
            }
            self.problems = True
        if route.deprecated:
            operation["deprecated"] = True
        return operation

    def path_parameters(self, route: Route) -> list[dict[str, Any]]:
        typed = dict(route.handler.signature.path)
        parameters = []
        for segment in route.segments:
            if isinstance(segment, str):
                continue
            name, converter = segment
            parameter: dict[str, Any] = {"name": name, "in": "path", "required": True}
            annotation = typed.get(name)
            if annotation is None:
                parameter["schema"] = converter_schema(converter)
            else:
                _describe(parameter, _meta(annotation))
                self.schemas.put(parameter, "schema", annotation)
                if isinstance(converter, (IntConverter, FloatConverter)):
                    parameter["schema"]["minimum"] = 0  # the converter takes no sign
            parameters.append(parameter)
        return parameters

    def parameters(self, signatures: list[Signature]) -> list[dict[str, Any]]:
        """The query, header and cookie parameters of a handler and its dependencies."""
        parameters = []
        seen: set[tuple[str, str]] = set()
        for signature in signatures:
            for field in signature.fields:
                if field.location not in (QUERY, HEADER, COOKIE) or not _documented(field):
                    continue
                if (field.location, field.key) in seen:
                    continue  # asked for twice (a dependency's and the handler's): one value
                seen.add((field.location, field.key))
                parameter: dict[str, Any] = {
                    "name": _parameter_name(field),
                    "in": field.location,
                    "required": field.required,
                }
                _describe(parameter, field.param)
                default = _default(field)
                self.schemas.put(parameter, "schema", field.annotation)
                if default is not MISSING:
                    parameter["schema"]["default"] = default
                if field.param is not None and field.param.deprecated:
                    parameter["deprecated"] = True
                parameters.append(parameter)
        return parameters

    def request_body(self, signatures: list[Signature]) -> dict[str, Any] | None:
        """The JSON body (the one type it is, or an object of its embedded members) and the
        form (urlencoded, or multipart when it has files) that a handler and its dependencies
        read."""
        content: dict[str, Any] = {}
        required = False
        description = None
        parts: list[dict[str, Any]] = []  # what each signature asks of the JSON body
        media_type = "application/json"
        embedded: dict[str, Any] = {"type": "object", "properties": {}}
        form: dict[str, Any] = {"type": "object", "properties": {}}
        files = False
        wholes: list[Any] = []
        for signature in signatures:
            whole = signature.whole_body
            if whole is not None:
                if _documented(whole) and whole.annotation not in wholes:
                    wholes.append(whole.annotation)
                    part: dict[str, Any] = {}
                    self.schemas.put(part, "schema", whole.annotation)
                    parts.append(part)
                    required = required or whole.required
                    if isinstance(whole.param, Body):
                        media_type = whole.param.media_type
                        description = description or whole.param.description
            else:
                for field in signature.body:
                    if _documented(field):
                        self.member(embedded, field)
                        required = required or field.required
            for field in signature.fields:
                if field.location in (FORM, FILE) and _documented(field):
                    self.member(form, field)
                    required = required or field.required
                    files = files or field.location == FILE
        if embedded["properties"]:
            parts.append({"schema": embedded})
        if parts:
            if len(parts) == 1:
                content[media_type] = parts[0]
            else:  # the handler and a dependency each read the body: it must suit both
                content[media_type] = {"schema": {"allOf": [part["schema"] for part in parts]}}
        if form["properties"]:
            kind = "multipart/form-data" if files else "application/x-www-form-urlencoded"
            content[kind] = {"schema": form}
        if not content:
            return None
        body: dict[str, Any] = {"content": content, "required": required}
        if description:
            body["description"] = description
        return body

    def member(self, schema: dict[str, Any], field: Field) -> None:
        """Add a field as a property of an object schema (the body's members, a form's)."""
        properties = schema["properties"]
        if field.key in properties:
            return
        if field.location == FILE:
            upload: dict[str, Any] = {**BINARY}
            if field.many:
                upload = {"type": "array", "items": upload}
            if field.param is not None and field.param.description:
                upload["description"] = field.param.description
            properties[field.key] = upload
        else:
            self.schemas.put(properties, field.key, field.annotation)
            default = _default(field)
            if default is not MISSING:
                properties[field.key] = {"default": default}  # merged into the schema (fill)
        if field.required:
            schema.setdefault("required", []).append(field.key)

    def responses(self, route: Route) -> dict[str, Any]:
        """The successful answer: its status and, when the handler says, its content."""
        handler = route.handler
        annotation = _return_annotation(handler.endpoint)
        nothing = annotation is type(None)
        status = route.status or (204 if nothing else 200)
        response: dict[str, Any] = {"description": reason_phrase(status) or "Success"}
        content: dict[str, Any] | None = None
        if handler.response_model is not None:
            content = {"application/json": {}}
            self.schemas.put(content["application/json"], "schema", handler.response_model)
        elif not nothing:
            content = self.content(annotation)
        if content and status != 204:
            response["content"] = content
        return {str(status): response}

    def content(self, annotation: Any) -> dict[str, Any] | None:
        """What a return annotation without a response model says of the answer."""
        inner = bare(annotation)
        if inner is MISSING or inner is Any:
            return None
        if inner is str:
            return {"text/html": {"schema": {"type": "string"}}}
        if inner is bytes:
            return {"application/octet-stream": {"schema": {**BINARY}}}
        if isinstance(inner, type) and issubclass(inner, Response):
            for kind, media_type in (
                (JSONResponse, "application/json"),
                (HTMLResponse, "text/html"),
                (PlainTextResponse, "text/plain"),
            ):
                if issubclass(inner, kind):
                    return {media_type: {"schema": {}}}
            return None
        if not _json_answer(inner):
            return None  # (body, status), a Response of its own kind, a type porch refuses
        media: dict[str, Any] = {}
        self.schemas.put(media, "schema", annotation)
        return {"application/json": media}


def openapi_path(route: Route) -> str:
    """A route's path as an OpenAPI template: `/teams/<int:team_id>` -> `/teams/{team_id}`."""
    parts = [part if isinstance(part, str) else "{" + part[0] + "}" for part in route.segments]
    return "/" + "/".join(parts)


def converter_schema(converter: Any) -> dict[str, Any]:
    """The JSON Schema of what a path converter accepts."""
    if isinstance(converter, IntConverter):
        return {"type": "integer", "minimum": 0}  # digits only: no sign
    if isinstance(converter, FloatConverter):
        return {"type": "number", "minimum": 0}
    if isinstance(converter, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(converter, SlugConverter):
        return {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}
    return {"type": "string"}  # str, path, and the application's own converters


def _methods(route: Route) -> list[str]:
    return [method for method in METHODS if method in route.methods and method not in UNDOCUMENTED]


def _operation_ids(routes: list[Route]) -> dict[tuple[int, str], str]:
    """A unique id per operation: the route's operation_id, else its name (with the method
    when it answers several); a repeated id gets `_2`, `_3`..."""
    wanted: list[tuple[tuple[int, str], str, bool]] = []
    for route in routes:
        methods = _methods(route)
        for method in methods:
            if route.operation_id:
                base = route.operation_id
                explicit = True
            else:
                base = _NOT_IDENTIFIER.sub("_", route.name).strip("_") or "operation"
                explicit = False
            if len(methods) > 1:
                base = f"{base}_{method.lower()}"
            wanted.append(((id(route), method), base, explicit))
    # The ids the application chose keep them; derived ones make way.
    taken: set[str] = set()
    ids: dict[tuple[int, str], str] = {}
    for key, base, _explicit in sorted(wanted, key=lambda item: not item[2]):
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}_{number}"
        taken.add(candidate)
        ids[key] = candidate
    return ids


def _summary(route: Route) -> tuple[str, str | None]:
    """The summary and description: the route's, else from the docstring (first line / the
    rest), else the route's name in words."""
    doc = _docstring(route.endpoint)
    first, _, rest = doc.partition("\n")
    summary = route.summary
    description = route.description
    if summary is None:
        if first:
            summary = first.strip()
            description = description or rest.strip() or None
        else:
            words = route.name.rsplit(".", 1)[-1].replace("_", " ").strip()
            summary = words[:1].upper() + words[1:]
    elif description is None:
        description = doc or None
    return summary, description


def _docstring(endpoint: Callable[..., Any]) -> str:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    # Not inspect.getdoc: it would give an undocumented callable object its class's parents'.
    doc = getattr(endpoint, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _return_annotation(endpoint: Callable[..., Any]) -> Any:
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    try:
        hints = typing.get_type_hints(endpoint, include_extras=True)
    except Exception:
        return MISSING
    annotation = hints.get("return", MISSING)
    return type(None) if annotation is None else annotation


def _json_answer(annotation: Any) -> bool:
    """Whether porch answers a value of this type as JSON (see handlers.make_response): a
    dict, a list, a Struct, dataclass or TypedDict, or a union of them (None aside)."""
    annotation = bare(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(members) and all(_json_answer(member) for member in members)
    kind = origin or annotation
    return isinstance(kind, type) and (
        issubclass(kind, (dict, list, msgspec.Struct))
        or dataclasses.is_dataclass(kind)
        or typing.is_typeddict(kind)
    )


def _parameter_name(field: Field) -> str:
    """A parameter's name as the client sends it: a header's alias as it is spelled, not in
    the lower case porch looks it up in."""
    if field.param is not None and field.param.alias:
        return field.param.alias
    return field.key


def _documented(field: Field) -> bool:
    return field.param is None or field.param.include_in_schema


def _default(field: Field) -> Any:
    """A field's default as JSON, MISSING when it has none to show (None is "not sent")."""
    if field.required or field.default is None:
        return MISSING
    try:
        return msgspec.to_builtins(field.default)
    except (TypeError, ValueError):
        return MISSING


def _meta(annotation: Any) -> msgspec.Meta | None:
    """The msgspec.Meta an annotation carries (the documentation of a path parameter)."""
    for candidate in (annotation, strip_optional(annotation)):
        if typing.get_origin(candidate) is typing.Annotated:
            for extra in reversed(typing.get_args(candidate)[1:]):
                if isinstance(extra, msgspec.Meta):
                    return extra
    return None


def _describe(parameter: dict[str, Any], source: Param | msgspec.Meta | None) -> None:
    """A parameter's description and example, where Swagger UI shows them."""
    if source is None:
        return
    if source.description:
        parameter["description"] = source.description
    if source.examples:
        try:
            parameter["example"] = msgspec.to_builtins(source.examples[0])
        except (TypeError, ValueError):
            pass  # an example JSON cannot show


def _schema_components(annotations: list[Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """msgspec's schemas for `annotations` and the components they refer to; a type msgspec
    cannot describe (a class of the application's) is any value, rather than no document."""
    try:
        schemas, components = msgspec.json.schema_components(annotations, ref_template=REF)
        return list(schemas), components
    except (TypeError, ValueError):
        pass
    usable = [_describable(kind) for kind in annotations]
    schemas, components = msgspec.json.schema_components(
        [kind for kind, ok in zip(annotations, usable, strict=True) if ok], ref_template=REF
    )
    made = iter(schemas)
    return [next(made) if ok else {} for ok in usable], components


def _describable(kind: Any) -> bool:
    try:
        msgspec.json.schema(kind)
    except (TypeError, ValueError):
        return False
    return True
