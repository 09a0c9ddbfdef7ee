"""CORSMiddleware: Cross-Origin Resource Sharing, as the Fetch standard describes it.

`app.add_middleware(CORSMiddleware, allow_origins=["https://app.example.com"],
allow_methods=["GET", "POST"], allow_headers=["Authorization"], allow_credentials=True)`.

- A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here, never
  by the application: 200 with the Access-Control-Allow-* fields when the origin, the method
  and every requested header are allowed; 400 naming what is not, otherwise.
- Every other response gets the CORS fields for an allowed Origin, error responses (404,
  500…) included, so that a script can read why its request failed.
- `"*"` in allow_origins allows any origin. Without credentials, every response then says
  `Access-Control-Allow-Origin: *`, with an Origin or without, so a shared cache can hand any
  response to any client. With credentials `*` may not be sent (browsers refuse it), so the
  request's origin is echoed instead; `null` (sandboxed frames, file: pages) is only echoed
  with credentials when allow_origins names it.
- Whenever the answer depends on the Origin, every response says `Vary: Origin`, those to
  requests without one too, so that no cache serves one origin's answer to another.
- `"*"` in allow_methods or allow_headers allows any; the CORS-safelisted Accept,
  Accept-Language, Content-Language and Content-Type are always allowed.
- A response that already has Access-Control-Allow-Origin is the application's own CORS
  answer, and is left as it is.
"""

import re
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from porch.http.headers import is_token, split_comma_list
from porch.http.native import RawHeaders, ResponseHeaders
from porch.http.native import Response as NativeResponse
from porch.web.middleware.base import CallNext, Middleware
from porch.web.middleware.fields import Derived, Fields, with_vary

if TYPE_CHECKING:
    from porch.web.request import Request

SAFELISTED_HEADERS = frozenset(("accept", "accept-language", "content-language", "content-type"))
# An origin as browsers serialize it: scheme://host[:port], nothing after.
_ORIGIN = re.compile(r"[a-z][a-z0-9+.\-]*://[^/?#@\s]+")

_ALLOW_ORIGIN = b"access-control-allow-origin"
_VARY = (b"vary", b"Origin")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


def _strings(name: str, values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{name} is a list of strings, not one string: {name}=[{values!r}]")
    return [str(value).strip() for value in values]


class CORSMiddleware(Middleware):
    """Answer CORS preflights and add the CORS fields to responses, as configured."""

    def __init__(
        self,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
        allow_private_network: bool = False,
    ) -> None:
        origins = [origin.lower() for origin in _strings("allow_origins", allow_origins)]
        for origin in origins:
            if origin not in ("*", "null") and _ORIGIN.fullmatch(origin) is None:
                raise ValueError(
                    f"CORS origin {origin!r} is not an origin: browsers send scheme://host[:port]"
                    " with no path or trailing slash, e.g. 'https://example.com'"
                )
        methods = [method.upper() for method in _strings("allow_methods", allow_methods)]
        headers = [header.lower() for header in _strings("allow_headers", allow_headers)]
        exposed = _strings("expose_headers", expose_headers)
        for value in [*methods, *headers, *exposed]:
            if value != "*" and not is_token(value.encode("latin-1")):
                raise ValueError(f"CORS method or header {value!r} is not a valid name")
        if max_age < 0:
            raise ValueError("max_age cannot be negative")
        self.allow_all_origins = "*" in origins
        self.origins = frozenset(origins) - {"*"}
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_all_methods = "*" in methods
        self.methods = frozenset(methods) - {"*"}
        self.allow_all_headers = "*" in headers
        self.headers = (frozenset(headers) - {"*"}) | SAFELISTED_HEADERS
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        # With credentials, "*" would be refused by the browser: the origin is echoed instead.
        self.public = self.allow_all_origins and not allow_credentials

        # The fields of every allowed answer but Access-Control-Allow-Origin, encoded once.
        common: RawHeaders = []
        if allow_credentials:
            common.append((b"access-control-allow-credentials", b"true"))
        self._preflight_common: RawHeaders = [
            *common,
            (b"access-control-max-age", str(int(max_age)).encode()),
        ]
        self._allowed_methods = ", ".join(sorted(self.methods)).encode()
        if exposed:
            common.append((b"access-control-expose-headers", ", ".join(exposed).encode()))
        self._common = common
        self._allowed_headers = ", ".join(sorted(self.headers)).encode()
        # What a response gets when no origin is echoed: "*" for all, or Vary: Origin.
        # PERF: made once per HeaderBlock, not once per response.
        self._plain = Derived(self._add_public if self.public else partial(with_vary, vary=_VARY))

    def _add_public(self, headers: Fields) -> RawHeaders:
        fields = list(headers)
        if any(name.lower() == _ALLOW_ORIGIN for name, _ in fields):
            return fields
        return [*fields, (_ALLOW_ORIGIN, b"*"), *self._common]

    def allowed(self, origin: bytes) -> bool:
        """Whether `origin` (an Origin field's value) may read responses."""
        text = origin.decode("latin-1")
        if text.lower() in self.origins:
            return True
        if self.allow_all_origins and (self.public or text != "null"):
            return True
        regex = self.origin_regex
        return regex is not None and regex.fullmatch(text) is not None

    async def __call__(self, request: "Request", call_next: CallNext) -> NativeResponse:
        """A preflight answered; any other request's response with the CORS fields added."""
        head = request.head
        origin = None
        # PERF: the request's fields looked through here, without a method call per request.
        for name, value in head.headers:
            if name == b"origin":
                origin = value
                break
        if origin is None:
            response = await call_next(request)
            return NativeResponse(response.status, self._plain(response.headers), response.body)
        if head.method == "OPTIONS" and head.header(b"access-control-request-method") is not None:
            return self.preflight(request)
        response = await call_next(request)
        if self.public or not self.allowed(origin):
            return NativeResponse(response.status, self._plain(response.headers), response.body)
        return NativeResponse(response.status, self._echo(response.headers, origin), response.body)

    def _echo(self, headers: ResponseHeaders, origin: bytes) -> ResponseHeaders:
        """The response's fields with the origin echoed (and Vary: Origin)."""
        fields = list(headers)
        if any(name.lower() == _ALLOW_ORIGIN for name, _ in fields):
            return with_vary(fields, _VARY)
        fields.append((_ALLOW_ORIGIN, origin))
        fields += self._common
        return with_vary(fields, _VARY)

    def preflight(self, request: "Request") -> NativeResponse:
        """The answer to a preflight request: 200 if all it asks is allowed, 400 if not."""
        head = request.head
        origin = head.header(b"origin") or b""
        method = (head.header(b"access-control-request-method") or b"").strip()
        requested = split_comma_list(head.header(b"access-control-request-headers") or b"")
        requested = [name.lower() for name in requested]
        if not is_token(method) or not all(is_token(name.encode("latin-1")) for name in requested):
            return _refusal("Invalid CORS preflight: bad Access-Control-Request-* field")
        problems = []
        if not self.allowed(origin):
            problems.append("origin")
        text_method = method.decode("ascii")
        if not self.allow_all_methods and text_method not in self.methods:
            problems.append(f"method {text_method}")
        if not self.allow_all_headers:
            refused = [name for name in requested if name not in self.headers]
            if refused:
                problems.append(f"headers {', '.join(refused)}")
        private = (head.header(b"access-control-request-private-network") or b"").lower()
        if private == b"true" and not self.allow_private_network:
            problems.append("private network access")
        if problems:
            return _refusal(f"Disallowed CORS {'; '.join(problems)}")
        fields: RawHeaders = [_TEXT]
        if self.public:
            fields.append((_ALLOW_ORIGIN, b"*"))
        else:
            fields += [(_ALLOW_ORIGIN, origin), _VARY]
        fields += self._preflight_common
        # Any method at all: the one asked for is the one allowed.
        methods = method if self.allow_all_methods else self._allowed_methods
        fields.append((b"access-control-allow-methods", methods))
        if self.allow_all_headers:
            if requested:
                fields.append((b"access-control-allow-headers", ", ".join(requested).encode()))
        else:
            fields.append((b"access-control-allow-headers", self._allowed_headers))
        if private == b"true":
            fields.append((b"access-control-allow-private-network", b"true"))
        return NativeResponse(200, fields, b"OK")


def _refusal(message: str) -> NativeResponse:
    return NativeResponse(400, [_TEXT, _NOSNIFF, _VARY], message.encode("utf-8"))
