"""`porch serve`: the files of one folder over HTTP, safely and fast.

From URL to file: the raw path is split on '/' before it is percent-decoded, so `%2f` never
makes a separator; a segment that decodes to '.' or '..', or holds '/', '\\' or NUL, is
refused, and so is one that starts with '.' unless `show_hidden`. Empty segments (`//`) are
merged, and a redirect is built from the merged path, so it never becomes `//host`. Unless
`follow_symlinks`, the real path (every link resolved) must lie inside the folder, and the
file is opened with O_NOFOLLOW. Only regular files are opened: FIFOs, sockets and devices are
refused on their stat.

The segment rule (`refused_segment`) and the inside check (`locate`, `inside`) are shared with
the framework's `FileResponse.from_directory`, which sends a file named by the client.

Every refusal is a 404, the answer for a missing file: a prober learns nothing of what is
there. That includes a folder without index.html when listing is off (nginx says 403, which
tells that the folder exists). A file the server may not read is a 403, which helps its owner.

Each file goes through `FileCache.respond` (files.py): validators, conditional requests,
ranges, the small-file cache. Precompressed siblings (`name.br`, `name.gz`) are served when
Accept-Encoding allows, with the original's Content-Type and `Vary: Accept-Encoding`.
"""

import os
import stat
import time
from urllib.parse import quote, unquote_to_bytes

from porch.http.errors import HTTPError
from porch.http.headers import parse_quality_list
from porch.http.native import BodyReader, RawHeaders, RequestHead, Response
from porch.server.files import RACY_NS, FileCache, error_response
from porch.server.listing import list_directory, render_listing
from porch.server.mediatypes import content_type_for

INDEX = "index.html"
_INDEX_TYPE = content_type_for(INDEX)
# Remembered URL paths; a crawl of more distinct paths than this starts the memo over.
MAX_TARGETS = 8192
_ALLOW = (b"allow", b"GET, HEAD")
_HTML = (b"content-type", b"text/html; charset=utf-8")
# The listing page runs no script and loads nothing, whatever the file names say.
_LISTING_CSP = (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'")
_NO_CACHE = (b"cache-control", b"no-cache")
# Precompressed siblings, best first, and the Content-Encoding each one stands for.
_ENCODINGS = ((".br", b"br"), (".gz", b"gzip"))
_ENCODINGS_BY_SUFFIX = dict(_ENCODINGS)
_SUFFIXES = tuple(suffix for suffix, _ in _ENCODINGS)
# How often a folder is looked at again for precompressed siblings that came or went.
FOLDER_RECHECK_NS = 1_000_000_000


def refused_segment(segment: bytes, show_hidden: bool = False) -> bool:
    """Whether a path segment (percent-decoded) may name nothing in a served folder."""
    # '.' and '..' walk the tree; '/' and '\' would be separators once decoded (Windows and
    # some proxies take '\' for one); NUL ends a name for the OS; a dotfile (.env, .git) is
    # rarely meant for the public.
    return (
        segment == b"."
        or segment == b".."
        or b"/" in segment
        or b"\\" in segment
        or b"\0" in segment
        or (segment[:1] == b"." and not show_hidden)
    )


def inside(real: str, folder: str) -> bool:
    """Whether a real path (links resolved) is `folder` (a real path) or lies in it."""
    return real == folder or real.startswith(os.path.join(folder, ""))


def locate(
    folder: str, candidate: str, follow_symlinks: bool = False
) -> tuple[str, os.stat_result] | None:
    """The path to open for `candidate` (`folder`, a real path, joined with checked segments)
    and its stat; None if links lead it out of the folder. Raises OSError as os.stat does."""
    if follow_symlinks:
        return candidate, os.stat(candidate)
    real = os.path.realpath(candidate)
    if not inside(real, folder):
        return None
    return real, os.stat(real)


class _Target:
    """What a URL path names: a file system path, and where it was last found to lead."""

    __slots__ = (
        "candidate",
        "content_type",
        "dev",
        "folder_url",
        "ino",
        "location",
        "name",
        "real",
        "url_path",
    )

    def __init__(
        self, candidate: str, name: str, folder_url: bool, location: bytes, url_path: str
    ) -> None:
        self.candidate = candidate  # the folder joined with the decoded segments
        self.name = name  # the last segment: its extension gives the Content-Type
        self.content_type = content_type_for(name)
        self.folder_url = folder_url  # the URL ends in '/'
        self.location = location  # the URL of the folder form (for the redirect), encoded
        self.url_path = url_path  # decoded, for the listing's title
        self.real: str | None = None  # the checked path, if no link is on its way
        self.dev = -1
        self.ino = -1


class _Folder:
    """The names of a folder's precompressed files, as of its ctime."""

    __slots__ = ("checked", "ctime_ns", "ino", "names")

    def __init__(self, ctime_ns: int, ino: int, names: frozenset[str], checked: int) -> None:
        self.ctime_ns = ctime_ns
        self.ino = ino
        self.names = names
        self.checked = checked  # time.monotonic_ns() of the last look


class StaticFiles:
    """A native application that serves the files under `directory` (GET and HEAD)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        list_directories: bool = False,
        follow_symlinks: bool = False,
        show_hidden: bool = False,
        precompressed: bool = True,
        cache: FileCache | None = None,
    ) -> None:
        self.directory = os.path.realpath(directory)
        if not os.path.isdir(self.directory):
            raise ValueError(f"{os.fspath(directory)!r} is not a directory")
        self.list_directories = list_directories
        self.follow_symlinks = follow_symlinks
        self.show_hidden = show_hidden
        self.precompressed = precompressed
        self.cache = cache if cache is not None else FileCache()
        self._targets: dict[bytes, _Target] = {}
        self._weights: dict[bytes, dict[str, float]] = {}
        self._folders: dict[str, _Folder] = {}

    def __repr__(self) -> str:
        return f"<StaticFiles {self.directory!r}>"

    def __porch_http__(self, head: RequestHead, body: BodyReader) -> Response:
        """Answer one request."""
        method = head.method
        if method != "GET" and method != "HEAD":
            return error_response(405, extra=[_ALLOW])
        raw_path = head.raw_path
        # PERF: a path seen before skips the parsing and checks of the URL.
        target = known = self._targets.get(raw_path)
        if target is None:
            target = self._parse(raw_path)
            if target is None:
                return error_response(404)
        try:
            located = self._locate(target)
        except PermissionError:
            return error_response(403)
        except (OSError, ValueError):
            return error_response(404)
        if located is None:
            return error_response(404)
        path, st = located
        if known is None:
            # Only paths that exist are remembered: a scan of missing ones costs no memory.
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            self._targets[raw_path] = target
        mode = st.st_mode
        try:
            if stat.S_ISREG(mode):
                if target.folder_url:
                    return error_response(404)  # /file.txt/ names no folder
                return self._file(head, path, st, target.content_type)
            if stat.S_ISDIR(mode):
                return self._folder(head, path, target)
        except HTTPError as error:
            return error_response(error.status)
        return error_response(404)  # a FIFO, socket or device: never opened

    def _parse(self, raw_path: bytes) -> _Target | None:
        """The target a raw URL path names, or None if it is refused."""
        if raw_path[:1] != b"/":
            return None  # `*`, or nothing at all
        raw_segments = [segment for segment in raw_path.split(b"/") if segment]
        names = []
        for raw in raw_segments:
            segment = unquote_to_bytes(raw) if b"%" in raw else raw
            if refused_segment(segment, self.show_hidden):
                return None
            names.append(os.fsdecode(segment))
        location = b"/" + b"".join(segment + b"/" for segment in raw_segments)
        return _Target(
            os.path.join(self.directory, *names),
            names[-1] if names else "",
            raw_path.endswith(b"/"),
            location,
            "/" + "".join(name + "/" for name in names),
        )

    def _locate(self, target: _Target) -> tuple[str, os.stat_result] | None:
        """The real path of a target and its stat; None if it leads outside the folder."""
        if self.follow_symlinks:
            return target.candidate, os.stat(target.candidate)
        real = target.real
        if real is not None:
            # PERF: one stat. The same inode at a path that had no link on its way is the
            # file that was checked; a link swapped in anywhere on the way shows another.
            st = os.stat(real)
            if st.st_ino == target.ino and st.st_dev == target.dev:
                return real, st
        located = locate(self.directory, target.candidate)
        if located is None:
            return None
        real, st = located
        # A path through a link is resolved every time: the link may be pointed elsewhere.
        target.real = real if real == target.candidate else None
        target.ino, target.dev = st.st_ino, st.st_dev
        return real, st

    def _inside(self, real: str) -> bool:
        """Whether a real path (links resolved) lies in the served folder."""
        return inside(real, self.directory)

    def _stat_inside(self, path: str) -> tuple[str, os.stat_result] | None:
        """The real path and stat of a name in a checked folder, if it may be served."""
        try:
            if self.follow_symlinks:
                return path, os.stat(path)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                return path, st
            real = os.path.realpath(path)
            return (real, os.stat(real)) if self._inside(real) else None
        except (OSError, ValueError):
            return None

    def _file(
        self, head: RequestHead, path: str, st: os.stat_result, content_type: bytes
    ) -> Response:
        """A regular file, or its precompressed sibling when the client accepts it."""
        nofollow = not self.follow_symlinks
        vary = False
        if self.precompressed:
            present = self._siblings(path)
            if present:
                vary = True  # on every answer for this file, the uncompressed one too
                accept = head.header(b"accept-encoding")
                if accept is not None:
                    for suffix, encoding in self._acceptable(accept, present):
                        sibling = self._stat_inside(path + suffix)
                        if sibling is not None and stat.S_ISREG(sibling[1].st_mode):
                            return self.cache.respond(
                                sibling[0],
                                sibling[1],
                                head,
                                content_type=content_type,
                                encoding=encoding,
                                vary=True,
                                nofollow=nofollow,
                            )
        return self.cache.respond(
            path, st, head, content_type=content_type, vary=vary, nofollow=nofollow
        )

    def _siblings(self, path: str) -> list[str]:
        """The suffixes of the precompressed siblings next to `path`, best first."""
        folder, _, base = path.rpartition(os.sep)
        folder = folder or os.sep
        known = self._folders.get(folder)
        now = time.monotonic_ns()
        # PERF: a folder's names are looked at again at most every FOLDER_RECHECK_NS, not
        # with a stat per request. The file itself is still stat-ed on every request, and a
        # chosen sibling too: the delay only applies to noticing that a sibling came or went.
        if known is None or now - known.checked > FOLDER_RECHECK_NS:
            known = self._look_at_folder(folder, known, now)
            if known is None:
                return [suffix for suffix, _ in _ENCODINGS if os.path.lexists(path + suffix)]
        names = known.names
        return [suffix for suffix, _ in _ENCODINGS if base + suffix in names] if names else []

    def _look_at_folder(self, folder: str, known: "_Folder | None", now: int) -> "_Folder | None":
        """The names of the precompressed files in `folder`; None if it changed just now."""
        try:
            st = os.stat(folder)
        except OSError:
            return _Folder(-1, -1, frozenset(), now)
        # A folder's ctime moves whenever a name in it comes or goes, and cannot be set back
        # (its mtime can: rsync, tar).
        if known is not None and known.ctime_ns == st.st_ctime_ns and known.ino == st.st_ino:
            known.checked = now
            return known
        if time.time_ns() - st.st_ctime_ns < RACY_NS:
            # Changed just now, and may change again within one tick of its clock unseen:
            # look for each sibling until the folder has been still for a while.
            return None
        try:
            names = frozenset(name for name in os.listdir(folder) if name.endswith(_SUFFIXES))
        except OSError:
            names = frozenset()
        if len(self._folders) >= MAX_TARGETS:
            self._folders.clear()
        known = self._folders[folder] = _Folder(st.st_ctime_ns, st.st_ino, names, now)
        return known

    def _acceptable(self, accept: bytes, present: list[str]) -> list[tuple[str, bytes]]:
        """The present siblings Accept-Encoding allows, by weight (br first at equal weight)."""
        weights = self._weights.get(accept)
        if weights is None:
            # PERF: browsers send the same few Accept-Encoding values; parse each once.
            parsed = parse_quality_list(accept)
            star = parsed.get("*", 0.0)
            weights = {
                ".br": parsed.get("br", star),
                ".gz": max(parsed.get("gzip", star), parsed.get("x-gzip", 0.0)),
            }
            if len(self._weights) < 256:
                self._weights[accept] = weights
        chosen = [(weights[suffix], -rank, suffix) for rank, suffix in enumerate(present)]
        chosen.sort(reverse=True)
        return [
            (suffix, _ENCODINGS_BY_SUFFIX[suffix]) for weight, _, suffix in chosen if weight > 0
        ]

    def _folder(self, head: RequestHead, path: str, target: _Target) -> Response:
        """A folder: redirect to its '/' form, then index.html, a listing, or 404."""
        if not target.folder_url:
            # Like nginx: relative links in the page resolve against the folder.
            location = target.location
            if head.root_path:
                location = quote(head.root_path, safe="/").encode("ascii") + location
            if head.query:
                location += b"?" + head.query
            return error_response(301, extra=[(b"location", location)])
        index = self._stat_inside(os.path.join(path, INDEX))
        if index is not None and stat.S_ISREG(index[1].st_mode):
            return self._file(head, index[0], index[1], _INDEX_TYPE)
        if not self.list_directories:
            return error_response(404)
        try:
            entries = list_directory(path, self._listable)
        except PermissionError:
            return error_response(403)
        except OSError:
            return error_response(404)
        headers: RawHeaders = [_HTML, _LISTING_CSP, _NO_CACHE]
        return Response(200, headers, render_listing(target.url_path, entries))

    def _listable(self, item: os.DirEntry[str]) -> bool:
        """Whether a folder entry may be served (and so listed)."""
        name = item.name
        if (name[:1] == "." and not self.show_hidden) or "\\" in name:
            return False  # the URL of a hidden name, or one with a backslash, is refused
        if self.follow_symlinks or not item.is_symlink():
            return True
        return self._inside(os.path.realpath(item.path))
