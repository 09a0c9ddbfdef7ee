"""TrustedHostMiddleware: answer only requests for the host names the application serves.

`app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])`.

An application that builds links from the Host header (url_for with a full URL, password
reset mails, redirects) would otherwise build them for whatever host an attacker names.
- A name matches exactly, case aside, without the port (`example.com` allows
  `Example.COM:8443`) or a trailing dot; `*.example.com` matches any subdomain (`a.example.com`,
  `a.b.example.com`) but not `example.com` itself; `*` alone matches everything.
- The Host value is parsed whole (RFC 9110 §7.2): `example.com:@evil.example` names no allowed
  host even though it starts with one. A percent-encoded name matches no pattern.
- Any other Host gets 400 "Invalid host header" (JSON or HTML, as the client prefers), and so
  does a request with no Host at all (HTTP/1.0 allows that), unless `*` is allowed.
- With `www_redirect` (the default), a request for `example.com` when only `www.example.com`
  is allowed is redirected there (307, path and query kept) instead.
"""

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from porch.http.headers import parse_host
from porch.http.native import Response as NativeResponse
from porch.web.errors import error_page
from porch.web.middleware.base import CallNext, Middleware

if TYPE_CHECKING:
    from porch.web.request import Request

# The most Host values whose verdict is remembered (they come from clients: bounded).
KNOWN_HOSTS = 256


def host_name(host: bytes) -> str | None:
    """The name in a Host value: lower case, without the port or a trailing dot; None if the
    value is no valid Host."""
    parsed = parse_host(host)
    if parsed is None:
        return None
    name = parsed[0]
    return name[:-1] if name.endswith(".") else name


class TrustedHostMiddleware(Middleware):
    """Refuse (400) requests whose Host is not one of `allowed_hosts`."""

    def __init__(self, allowed_hosts: Sequence[str] = ("*",), www_redirect: bool = True) -> None:
        if isinstance(allowed_hosts, str):
            raise TypeError(
                f"allowed_hosts is a list of names, not one string: [{allowed_hosts!r}]"
            )
        exact: set[str] = set()
        suffixes: list[str] = []
        self.allow_any = False
        for pattern in allowed_hosts:
            pattern = pattern.strip().lower()
            if pattern == "*":
                self.allow_any = True
            elif pattern.startswith("*."):
                if "*" in pattern[2:] or len(pattern) < 3:
                    raise ValueError(f"host pattern {pattern!r}: a wildcard is '*.example.com'")
                suffixes.append(pattern[1:])  # "*.example.com" -> ".example.com"
            elif "*" in pattern:
                raise ValueError(
                    f"host pattern {pattern!r}: '*' stands alone or as in '*.example.com'"
                )
            elif (name := host_name(pattern.encode())) is None:
                raise ValueError(
                    f"host pattern {pattern!r} is not a host name (an international name is "
                    "written in its xn-- form)"
                )
            elif name != pattern.rstrip("."):
                raise ValueError(
                    f"host pattern {pattern!r}: hosts are matched without a port; write {name!r}"
                )
            else:
                exact.add(pattern.rstrip("."))
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self.www_redirect = www_redirect
        self._known: dict[bytes, bool] = {}

    def allowed(self, host: bytes) -> bool:
        """Whether a Host field's value names an allowed host."""
        known = self._known.get(host)
        if known is None:
            name = host_name(host)
            known = name is not None and (
                name in self.exact
                # Subdomains are DNS names: a percent-encoded one could decode to anything.
                or (bool(name) and "%" not in name and name.endswith(self.suffixes))
            )
            if len(self._known) < KNOWN_HOSTS:
                self._known[host] = known
        return known

    def __call__(self, request: "Request", call_next: CallNext) -> Awaitable[NativeResponse]:
        """Pass on a request for an allowed host; refuse any other."""
        if self.allow_any:
            return call_next(request)
        host = None
        # PERF: no method calls for a Host seen before; and the next step's own awaitable is
        # handed back, with no coroutine of this middleware's.
        for name, value in request.head.headers:
            if name == b"host":
                host = value
                known = self._known.get(value)
                if known or (known is None and self.allowed(value)):
                    return call_next(request)
                break
        return _ready(self.refusal(request, host))

    def refusal(self, request: "Request", host: bytes | None) -> NativeResponse:
        """The answer to a request for a host that is not allowed: 400, or the www redirect."""
        head = request.head
        if host is None:
            return error_page(head, 400, "Invalid host header: the request has none")
        name = host_name(host)
        if (
            self.www_redirect
            and name is not None
            and not name.startswith("www.")
            and "www." + name in self.exact
        ):
            location = f"{head.scheme}://www.{host.decode('latin-1').strip()}{head.root_path}"
            location += head.raw_path.decode("latin-1")
            if head.query:
                location += "?" + head.query.decode("latin-1")
            return NativeResponse(307, [(b"location", location.encode("latin-1"))], b"")
        return error_page(head, 400, "Invalid host header")


async def _ready(response: NativeResponse) -> NativeResponse:
    return response
