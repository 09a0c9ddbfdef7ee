"""The HTML page that lists a folder (`porch serve --list`).

File names come from whoever can write to the folder: each is HTML-escaped where it is shown
and percent-encoded (every reserved character, so `a:b` or `?x` stay relative paths) in its
link. Names that are not UTF-8 are linked by their exact bytes and shown with U+FFFD.
"""

import datetime
import html
import os
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote


class ListingEntry(NamedTuple):
    """One line of a listing."""

    name: str  # as the file system gives it (surrogate-escaped if not UTF-8)
    is_dir: bool
    size: int
    mtime: float


def list_directory(path: str, allowed: Callable[[os.DirEntry[str]], bool]) -> list[ListingEntry]:
    """The folders and regular files in `path` that may be served, folders first, by name.

    `allowed` says which entries the server would serve (hidden files, links); FIFOs,
    sockets, devices and broken links are left out, as they are never served.
    """
    entries = []
    with os.scandir(path) as scan:
        for item in scan:
            try:
                if not allowed(item):
                    continue
                is_dir = item.is_dir()
                if not is_dir and not item.is_file():
                    continue
                info = item.stat()
            except OSError:
                continue  # gone, or a broken link
            entries.append(ListingEntry(item.name, is_dir, info.st_size, info.st_mtime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name.casefold(), entry.name))
    return entries


def render_listing(url_path: str, entries: list[ListingEntry]) -> bytes:
    """The listing page of the folder at `url_path` (decoded, ending in '/')."""
    title = html.escape(f"Index of {url_path}")
    rows = []
    if url_path != "/":
        rows.append('<tr><td><a href="../">../</a></td><td></td><td></td></tr>')
    for entry in entries:
        raw = os.fsencode(entry.name)
        href = quote(raw, safe="") + ("/" if entry.is_dir else "")
        shown = html.escape(raw.decode("utf-8", "replace") + ("/" if entry.is_dir else ""))
        size = "-" if entry.is_dir else _human_size(entry.size)
        when = datetime.datetime.fromtimestamp(entry.mtime, datetime.UTC)
        rows.append(
            f'<tr><td><a href="{href}">{shown}</a></td>'
            f'<td class="n">{size}</td><td>{when:%Y-%m-%d %H:%M}</td></tr>'
        )
    page = (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}"
        "td{padding:.15em 1.5em .15em 0}.n{text-align:right}</style>"
        f"</head><body><h1>{title}</h1>\n<table>\n"
        + "\n".join(rows)
        + "\n</table>\n</body></html>\n"
    )
    return page.encode("utf-8", "replace")


def _human_size(size: int) -> str:
    """`512 B`, `1.5 KiB`, `3.2 MiB`..."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns
