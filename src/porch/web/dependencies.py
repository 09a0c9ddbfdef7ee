"""Solving what a handler takes, for one request: fields read and validated, dependencies called
(once per request each, unless `use_cache=False`), and their clean-ups after the handler.

Every error in the request's parameters and body is collected (the handler's and its
dependencies'), and they are answered together: 422 with the list. A dependency whose own
parameters fail is not called. A `def` dependency runs in the worker threads, as a `def`
handler does; a generator's code after `yield` runs once the handler has answered, before the
response is sent, with the handler's exception thrown into it: a session can commit or roll
back there, and an exception it raises then (a failed commit) becomes the answer instead.
"""

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import msgspec

from porch.http.errors import HTTPError
from porch.http.headers import is_json
from porch.web.signature import (
    BODY,
    COOKIE,
    FILE,
    HEADER,
    QUERY,
    Dependency,
    Signature,
)
from porch.web.validation import (
    ProblemError,
    RequestValidationError,
    from_msgspec,
    missing,
)

if TYPE_CHECKING:
    from porch.web.request import Request


class Solver:
    """The arguments of one request's handler and dependencies, and their clean-ups."""

    __slots__ = ("cache", "cleanups", "errors", "executor", "request")

    def __init__(self, request: "Request", executor: Executor | None) -> None:
        self.request = request
        self.executor = executor
        self.cache: dict[Callable[..., Any], Any] = {}
        self.cleanups: list[Any] = []  # generators of dependencies, in the order they began
        self.errors: list[dict[str, Any]] = []

    async def arguments(self, signature: Signature) -> dict[str, Any]:
        """The keyword arguments of `signature`'s callable; RequestValidationError (422) with
        every error found, its dependencies' included."""
        kwargs = await self._solve(signature)
        if self.errors:
            raise RequestValidationError(self.errors)
        assert kwargs is not None
        return kwargs

    async def _solve(self, signature: Signature) -> dict[str, Any] | None:
        """The arguments, or None if some failed (their errors are noted)."""
        request = self.request
        kwargs: dict[str, Any] = {}
        before = len(self.errors)
        for name, dependency in signature.dependencies:
            value = await self._dependency(dependency)
            if name is not None:
                kwargs[name] = value
        if signature.request is not None:
            kwargs[signature.request] = request
        params = request.path_params
        for name, typed in signature.path:
            value = params[name]
            if typed is not None:
                value = self._convert(value, typed, ["path", name])
            kwargs[name] = value
        if signature.fields:
            await self._fields(signature, kwargs)
        if signature.body:
            await self._body(signature, kwargs)
        for name, kind in signature.settings:
            kwargs[name] = _settings(request, kind)
        return kwargs if len(self.errors) == before else None

    async def _fields(self, signature: Signature, kwargs: dict[str, Any]) -> None:
        """Query, header, cookie, form and file fields: read, then converted together."""
        request = self.request
        form = None
        found: dict[str, Any] = {}  # what was sent, to convert
        absent = False  # a required field was not sent
        for field in signature.fields:
            location = field.location
            if location == QUERY:
                source: Any = request.query
            elif location == HEADER:
                source = request.headers
            elif location == COOKIE:
                source = request.cookies
            else:
                if form is None:
                    try:
                        form = await request.form()
                    except HTTPError as error:  # not a form (415), a malformed one (400)
                        raise ProblemError(error.status, error.detail or "") from None
                source = form
            if location == FILE:
                value: Any = form.getfiles(field.key) if form is not None else []
                if not field.many:
                    value = value[0] if value else None
            elif field.many and location != COOKIE:
                value = source.getlist(field.key)
            else:
                value = source.get(field.key)
            if value is None or (field.many and not value):
                if field.required:
                    absent = True
                else:
                    kwargs[field.name] = field.default
            elif field.as_text or location == FILE:
                kwargs[field.name] = value
            else:
                found[field.name] = value
        if not absent:
            if not found:
                return
            try:
                # PERF: every value in one conversion, through a Struct msgspec compiled once
                # (a scalar type converted on its own is looked up afresh each time).
                converted = msgspec.convert(found, signature.fields_type, strict=False)
            except msgspec.ValidationError:
                pass
            else:
                for name in found:
                    kwargs[name] = getattr(converted, name)
                return
        # Something is wrong: field by field, so that every error is reported, in order.
        for field in signature.fields:
            where: list[str | int] = [field.location, field.key]
            if field.name in found:
                kwargs[field.name] = self._convert(found[field.name], field.annotation, where)
            elif field.required and field.name not in kwargs:
                self.errors.append(missing(where))

    async def _body(self, signature: Signature, kwargs: dict[str, Any]) -> None:
        """The JSON body: 415 if it is sent as something else, 400 if it is no JSON."""
        request = self.request
        content_type = request.head.header(b"content-type")
        body = await request.body()
        if not body:
            for field in signature.body:
                if field.required:
                    self.errors.append(
                        missing([BODY] if field is signature.whole_body else [BODY, field.key])
                    )
                else:
                    kwargs[field.name] = field.default
            return
        if content_type is None or not is_json(content_type):
            # A form on another site may post "JSON" as text/plain without a CORS preflight:
            # only a JSON media type is read as JSON (no CSRF through the body's type).
            raise ProblemError(
                415, "The request body must be JSON (Content-Type: application/json)"
            )
        whole = signature.whole_body
        if whole is not None:
            kwargs[whole.name] = self._decode(body, whole.annotation, [BODY])
            return
        document = self._decode(body, dict[str, Any], [BODY])
        if document is None:
            return
        for field in signature.body:
            if field.key not in document:
                if field.required:
                    self.errors.append(missing([BODY, field.key]))
                else:
                    kwargs[field.name] = field.default
                continue
            kwargs[field.name] = self._convert(
                document[field.key], field.annotation, [BODY, field.key], strict=True
            )

    def _decode(self, body: bytes, annotation: Any, location: list[str | int]) -> Any:
        try:
            return msgspec.json.decode(body, type=annotation)
        except msgspec.ValidationError as exc:
            self.errors.append(from_msgspec(exc, location))
        except msgspec.DecodeError as exc:
            raise ProblemError(400, f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ProblemError(
                400, "The request body is not valid JSON: nested too deeply"
            ) from None
        return None

    def _convert(
        self, value: Any, annotation: Any, location: list[str | int], strict: bool = False
    ) -> Any:
        try:
            # Query values, headers and cookies are text: "10" is read as the int it says.
            return msgspec.convert(value, annotation, strict=strict)
        except msgspec.ValidationError as exc:
            self.errors.append(from_msgspec(exc, location))
            return None

    async def _dependency(self, dependency: Dependency) -> Any:
        call = dependency.call
        app = self.request.app
        if app is not None and app.dependency_overrides:
            replacement = app.dependency_overrides.get(call)
            if replacement is not None:
                dependency = _override(replacement, dependency.use_cache)
        if dependency.use_cache and call in self.cache:
            return self.cache[call]
        kwargs = await self._solve(dependency.signature)
        if kwargs is None:
            return None  # its parameters failed: it is not called
        function = dependency.call
        if dependency.generator:
            generator = function(**kwargs)
            if dependency.is_async:
                value = await anext(generator, _NOTHING)
            else:
                value = await self._in_thread(next, generator, _NOTHING)
            if value is _NOTHING:
                raise RuntimeError(f"the dependency {function!r} did not yield a value")
            self.cleanups.append(generator)
        elif dependency.is_async:
            value = await function(**kwargs)
        else:
            value = await self._in_thread(function, **kwargs)
        if dependency.use_cache:
            self.cache[call] = value
        return value

    async def _in_thread(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        self.request.loop = loop
        context = contextvars.copy_context()
        return await loop.run_in_executor(
            self.executor, functools.partial(context.run, function, *args, **kwargs)
        )

    async def close(self, error: BaseException | None) -> None:
        """Run the code after each dependency's `yield`, the last begun first, with `error`
        (the handler's) thrown into it; raise what one of them raises instead."""
        raised: BaseException | None = None
        while self.cleanups:
            generator = self.cleanups.pop()
            current = raised or error
            try:
                if hasattr(generator, "__anext__"):
                    finished = await _finish_async(generator, current)
                else:
                    finished = await self._in_thread(_finish, generator, current)
            except BaseException as exc:
                if exc is not current:
                    raised = exc
                continue
            if not finished:
                raised = RuntimeError(f"the dependency {generator!r} yielded more than once")
        if raised is not None:
            raise raised


_NOTHING: Any = object()  # what a generator gave when it gave nothing


def _finish(generator: Any, error: BaseException | None) -> bool:
    """Run a generator's code after its `yield` (`error` thrown in); whether it ended there.
    (StopIteration may not cross from a worker thread into a future: it stops here.)"""
    try:
        if error is None:
            next(generator)
        else:
            generator.throw(error)
    except StopIteration:
        return True
    return False


async def _finish_async(generator: Any, error: BaseException | None) -> bool:
    """`_finish` for an async generator."""
    try:
        if error is None:
            await anext(generator)
        else:
            await generator.athrow(error)
    except StopAsyncIteration:
        return True
    return False


def _settings(request: "Request", kind: type) -> Any:
    settings = getattr(request.app, "settings", None)
    if not isinstance(settings, kind):
        raise RuntimeError(
            f"a handler takes {kind.__name__}, but the application's settings are "
            f"{type(settings).__name__}: give App(settings={kind.__name__})"
        )
    return settings


@functools.lru_cache(maxsize=256)
def _override(call: Callable[..., Any], use_cache: bool) -> Dependency:
    """A replacement from app.dependency_overrides, compiled once."""
    return Dependency(call, use_cache)
