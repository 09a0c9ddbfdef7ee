"""gunicorn's request corpus (tests/requests/{valid,invalid} of its sdist) against porch.

The files are not in this repository: the first run fetches gunicorn's source distribution
from PyPI (pip download) into tests/.cache and keeps the two folders. Without network the
tests skip, except in CI (CI set), where they fail.

Each `NAME.http` is a raw request written with escapes (gunicorn's tests/treq.py: line breaks
in the file are layout, `\\r\\n`, `\\n`, `\\t`, `\\0` and `\\xHH` are bytes); `NAME.py` says
what gunicorn makes of it: the request(s) it parses (valid/) or the error it raises (invalid/),
and sometimes a `cfg` with gunicorn options. Every file is sent on its own connection to a
live porch serving an echo application (ASGI, WSGI and native), the client's side shut after
it. Valid requests must reach the application exactly as gunicorn parses them; invalid ones
must get a 4xx (or a plain close) and never reach it. Where porch deliberately differs, the
file is listed below with porch's answer and the reason: nothing is skipped silently.

- HTTP/1.1 requests without Host (gunicorn does not insist): porch answers 400 (RFC 9112
  §3.2: MUST), which is checked; the file is then sent again with a Host line added, so that
  everything else in it is still tested.
- gunicorn drops header names with underscores (its default header_map): porch's ASGI and
  native paths pass them on as sent, and its WSGI environ drops them; compared accordingly.
- gunicorn keeps trailer fields apart; porch drops them (RFC 9110 §6.5.1). Not compared.
- Invalid files run with gunicorn's size limits mapped onto porch's: --limit-request-line
  4094, --limit-request-headers 100, --limit-request-header-size 8190 (gunicorn's per-field
  size is porch's bound on the whole head), with the file's own cfg applied.
"""

import contextlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest

from tests.server.hostile_apps import ECHO_APPS, Recorder, Seen, exchange
from tests.support import ROOT, serve

GUNICORN_VERSION = "27.0.1"
CACHE = ROOT / "tests" / ".cache" / f"gunicorn-{GUNICORN_VERSION}-requests"
ADDED_HOST = ("HOST", "gunicorn.test")

# Valid files porch answers otherwise, on purpose: name -> (statuses, reason).
VALID_DIFFERENT: dict[str, tuple[tuple[int, ...], str]] = {
    "005": ((400,), "a fragment in the target: RFC 9112 §3.2 has none (a client never sends one)"),
    "025": ((400,), "Transfer-Encoding gzip then chunked: porch decodes no coding but chunked"),
    "025_line": ((400,), "Transfer-Encoding gzip,chunked: porch decodes no coding but chunked"),
    "029": ((400,), "Transfer-Encoding identity: no such coding since RFC 7230; porch refuses it"),
    "030": ((400,), "Transfer-Encoding identity: no such coding since RFC 7230; porch refuses it"),
    "rfc9112_smuggle_gzip_chunked_01": ((400,), "porch decodes no coding but chunked"),
    "rfc9112_smuggle_te_identity_chunked_01": ((400,), "identity is no coding; refused"),
    "rfc9112_target_absolute_userinfo_01": ((400,), "userinfo in the target: RFC 9110 §4.2.4"),
    "rfc9112_target_authority_connect_01": ((400,), "CONNECT: porch makes no tunnels"),
    "rfc9112_target_authority_ipv6_01": ((400,), "CONNECT: porch makes no tunnels"),
    "031": ((400,), "'-BLARGH' is a token llhttp does not know: 400, like uvicorn"),
    "013": (
        (400,),
        "whitespace around ';' in chunk extensions (BWS, RFC 9112 §7.1.1): llhttp refuses it",
    ),
    "099": (
        (400,),
        "its Content-Length (17914) is more than its body (8599 bytes): gunicorn's harness ends "
        "the body with the data, porch waits for the rest and answers 400 at the client's EOF",
    ),
}
# Valid files that need a gunicorn option porch does not have: name -> (statuses, reason).
VALID_NEEDING_OPTIONS: dict[str, tuple[tuple[int, ...], str]] = {
    "028": ((400,), "strip_header_spaces: whitespace before ':' is refused (RFC 9112 §5.1 MUST)"),
    "031compat": ((400,), "permit_unconventional_http_method: a token llhttp does not know"),
    "031compat2": ((400,), "permit_unconventional_http_method: a token llhttp does not know"),
    "compat_obs_fold": ((400,), "permit_obsolete_folding: obs-fold is refused (RFC 9112 §5.2)"),
    "compat_obs_fold_huge": ((400,), "permit_obsolete_folding: obs-fold is refused"),
    "pp_01": ((400,), "proxy_protocol: porch does not speak the PROXY protocol"),
    "pp_02": ((400,), "proxy_protocol: porch does not speak the PROXY protocol"),
    "pp_04": ((400,), "proxy_protocol (v2, binary): not an HTTP request line"),
    "pp_05": ((400,), "proxy_protocol (v2, binary): not an HTTP request line"),
}
# Valid files whose gunicorn option changes nothing for porch: run as any valid file.
VALID_OPTIONS_MOOT = {
    "024": "limits raised above gunicorn's defaults: porch's defaults are higher still",
    "026": "limits raised above gunicorn's defaults: porch's defaults are higher still",
    "040_compat": "header_map=dangerous: porch's ASGI/native pass underscore names anyway",
    "pp_03": "proxy_protocol, but the request carries no PROXY line",
}
# Invalid files porch answers otherwise, on purpose: name -> (statuses, reason).
INVALID_DIFFERENT: dict[str, tuple[tuple[int, ...], str]] = {
    "003c": ((400,), "'-bl' is a token method llhttp does not know: 400, like uvicorn"),
    "019": (
        (200,),
        "conflicting X-Forwarded-Proto/X-Forwarded-Ssl is gunicorn's proxy policy; porch's "
        "proxy support reads X-Forwarded-Proto only",
    ),
    "040": ((200,), "header_map=refuse: underscore names are ordinary fields to the parser"),
    "chunked_07": ((200,), "header_map=refuse: Transfer_Encoding is not Transfer-Encoding"),
    "041": ((200,), "two Content-Type fields: not framing; passed on as received"),
    "rfc9112_leading_crlf_02": ((200,), "RFC 9112 §2.2: empty lines before a request ignored"),
}


# The corpus.


def fetch_corpus() -> Path | str:
    """The folder holding valid/ and invalid/, downloaded once; or why it could not be."""
    if (CACHE / "valid").is_dir() and (CACHE / "invalid").is_dir():
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE.parent) as scratch:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--disable-pip-version-check", "-q", f"gunicorn=={GUNICORN_VERSION}", "-d", scratch,
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            return f"cannot download gunicorn's sdist: {exc!r} {detail[-300:]!r}"
        (archive,) = Path(scratch).glob("gunicorn-*.tar.gz")
        staging = Path(scratch) / "requests"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                # gunicorn-X/tests/requests/{valid,invalid}/NAME: plain files only.
                if (
                    member.isfile()
                    and len(parts) == 5
                    and parts[1:3] == ("tests", "requests")
                    and parts[3] in ("valid", "invalid")
                ):
                    target = staging / parts[3] / Path(parts[4]).name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())
        with contextlib.suppress(OSError):  # another run may have won the race
            staging.rename(CACHE)
    return CACHE


def decode(raw: bytes) -> bytes:
    """The bytes a .http file stands for (the format of gunicorn's tests/treq.py)."""
    data = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\x00").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    data = re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda match: bytes([int(match[1], 16)]), data)
    assert b"\\" not in data, "an escape this reader does not know"
    return data


class _Config:
    """Stands for gunicorn.config.Config: records the options a file sets."""

    def __init__(self) -> None:
        self.options: dict[str, Any] = {}

    def set(self, name: str, value: Any) -> None:
        self.options[name] = value


def _uri(raw: str) -> dict[str, str]:
    # A path that starts with // is a path here, not an authority (as gunicorn reads it).
    parts = urlsplit("." + raw if raw.startswith("//") else raw)
    path = parts.path[1:] if raw.startswith("//") else parts.path
    return {"raw": raw, "path": path, "query": parts.query}


def load_expectation(path: Path) -> dict[str, Any]:
    """Run a NAME.py file (against stand-ins for the gunicorn modules it imports)."""
    config = types.ModuleType("gunicorn.config")
    config.Config = _Config  # type: ignore[attr-defined]
    errors = types.ModuleType("gunicorn.http.errors")
    errors.__getattr__ = lambda name: type(name, (Exception,), {})  # type: ignore[method-assign]
    stand_ins = {
        "gunicorn": types.ModuleType("gunicorn"),
        "gunicorn.config": config,
        "gunicorn.http": types.ModuleType("gunicorn.http"),
        "gunicorn.http.errors": errors,
    }
    namespace: dict[str, Any] = {"uri": _uri, "cfg": _Config()}
    with mock.patch.dict(sys.modules, stand_ins):
        exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus_file" not in metafunc.fixturenames:
        return
    kind = "invalid" if "invalid" in metafunc.function.__name__ else "valid"
    corpus = fetch_corpus()
    if isinstance(corpus, str):
        if os.environ.get("CI"):
            raise RuntimeError(corpus)
        metafunc.parametrize("corpus_file", [pytest.param(None, marks=pytest.mark.skip(corpus))])
        return
    names = sorted(path.stem for path in (corpus / kind).glob("*.http"))
    files = [corpus / kind / f"{name}.http" for name in names]
    metafunc.parametrize("corpus_file", files, ids=names)


# Servers: one per interface and limits, started on first use.


@pytest.fixture(scope="module")
def servers() -> Iterator[Any]:
    running: dict[tuple[Any, ...], tuple[int, Recorder]] = {}
    with contextlib.ExitStack() as stack:

        def get(interface: str, **settings: Any) -> tuple[int, Recorder]:
            key = (interface, *sorted(settings.items()))
            if key not in running:
                recorder = Recorder()
                server = stack.enter_context(serve(ECHO_APPS[interface](recorder), **settings))
                running[key] = (server.port, recorder)
            return running[key]

        yield get


@pytest.fixture(params=sorted(ECHO_APPS))
def interface(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# Helpers.


def expected_requests(spec: dict[str, Any]) -> list[dict[str, Any]]:
    request = spec["request"]
    return list(request) if isinstance(request, list) else [request]


def add_host(data: bytes, requests: list[dict[str, Any]]) -> tuple[bytes, list[bool]]:
    """A Host line added to each HTTP/1.1 request that lacks one; which ones got it."""
    added = []
    position = 0
    for request in requests:
        line = f"{request['method']} {request['uri']['raw']} HTTP/".encode("latin-1")
        start = data.lower().find(line.lower(), position)  # some files casefold the method
        end = data.find(b"\r\n", start) + 2
        assert start >= 0 and end > 1, "the request line of an expected request"
        names = {name.upper() for name, _ in request["headers"]}
        needs = request["version"] == (1, 1) and "HOST" not in names
        if needs:
            data = data[:end] + b"Host: gunicorn.test\r\n" + data[end:]
        added.append(needs)
        position = end
    return data, added


def target_of(uri: dict[str, str]) -> str:
    if uri["raw"] == "*":
        return "*"
    return uri["path"] + ("?" + uri["query"] if uri["query"] else "")


def check_seen(
    interface: str, seen: Seen, expected: dict[str, Any], host_added: bool, underscores: bool
) -> None:
    assert seen.method == expected["method"]
    assert seen.target == target_of(expected["uri"])
    body = expected["body"]
    assert seen.body == (body.encode("latin-1") if isinstance(body, str) else body)
    headers = [(name.upper(), value) for name, value in expected["headers"]]
    if host_added:
        headers.insert(0, ADDED_HOST)
    if interface == "wsgi":
        # The environ merges repeated fields and drops underscore names (PEP 3333, CGI).
        merged: dict[str, str] = {}
        for name, value in headers:
            if "_" not in name:
                key = name.lower()
                merged[key] = f"{merged[key]},{value}" if key in merged else value
        assert dict(seen.headers) == merged
    else:
        received = [(name.upper(), value) for name, value in seen.headers]
        if not underscores:
            received = [(name, value) for name, value in received if "_" not in name]
        assert received == headers


# The tests.


def test_valid_file(corpus_file: Path, interface: str, servers: Any) -> None:
    name = corpus_file.stem
    spec = load_expectation(corpus_file.with_suffix(".py"))
    options = spec["cfg"].options
    if options and name not in VALID_NEEDING_OPTIONS and name not in VALID_OPTIONS_MOOT:
        pytest.fail(f"{name} sets gunicorn options {options}: list it with porch's answer")
    port, recorder = servers(interface)
    recorder.take()
    data = decode(corpus_file.read_bytes())
    requests = expected_requests(spec)
    with_host, added = add_host(data, requests)
    different = VALID_DIFFERENT.get(name) or VALID_NEEDING_OPTIONS.get(name)
    if any(added) and different is None:
        # RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400; requests before it pass.
        first = added.index(True)
        result = exchange(port, data, half_close=True)
        assert result.closed
        assert result.statuses[first:] == [400], result.statuses
        assert len(recorder.take()) == first
    result = exchange(port, with_host, half_close=True)
    assert result.closed and result.leftover == b""
    if different is not None:
        statuses, _ = different
        assert result.statuses == list(statuses), [r.body[:100] for r in result.responses]
        assert recorder.take() == [], "the application saw a request porch refused"
        return
    assert result.statuses == [200] * len(requests), [r.body[:100] for r in result.responses]
    seen = recorder.take()
    assert len(seen) == len(requests)
    underscores = options.get("header_map") == "dangerous"
    for got, expected, host_added in zip(seen, requests, added, strict=True):
        check_seen(interface, got, expected, host_added, underscores)


def test_invalid_file(corpus_file: Path, interface: str, servers: Any) -> None:
    name = corpus_file.stem
    options = load_expectation(corpus_file.with_suffix(".py"))["cfg"].options
    limits = {
        "limit_request_line": options.get("limit_request_line") or 4094,
        "limit_request_headers": options.get("limit_request_fields") or 100,
        "limit_request_header_size": options.get("limit_request_field_size") or 8190,
    }
    port, recorder = servers(interface, **limits)
    recorder.take()
    data = decode(corpus_file.read_bytes())
    head = data.split(b"\r\n\r\n", 1)[0]
    first_line = head.split(b"\r\n", 1)[0]
    if first_line.endswith(b" HTTP/1.1") and not re.search(rb"\r\nhost:", head, re.IGNORECASE):
        # Refused for its own defect, not for the missing Host (RFC 9112 §3.2).
        data = data.replace(b"\r\n", b"\r\nHost: gunicorn.test\r\n", 1)
    result = exchange(port, data, half_close=True)
    assert result.closed and result.leftover == b""
    seen = recorder.take()
    if name in INVALID_DIFFERENT:
        statuses, _ = INVALID_DIFFERENT[name]
        assert result.statuses == list(statuses), [r.body[:100] for r in result.responses]
        assert len(seen) == statuses.count(200)
        return
    assert all(400 <= status < 500 for status in result.statuses), result.statuses
    assert len(result.statuses) <= 1
    assert seen == [], "an invalid request reached the application"


def test_every_listed_file_exists() -> None:
    corpus = fetch_corpus()
    if isinstance(corpus, str):
        if os.environ.get("CI"):
            pytest.fail(corpus)
        pytest.skip(corpus)
    for kind, listed in (
        ("valid", [*VALID_DIFFERENT, *VALID_NEEDING_OPTIONS, *VALID_OPTIONS_MOOT]),
        ("invalid", list(INVALID_DIFFERENT)),
    ):
        for name in listed:
            assert (corpus / kind / f"{name}.http").is_file(), f"{kind}/{name} is gone"
