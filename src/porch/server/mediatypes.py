"""Content-Type for a file name: porch's own table first, Python's `mimetypes` as a fallback.

The table means `porch serve` answers the same on every machine: Python's `mimetypes` reads
the host's /etc/mime.types (and the Windows registry), which differ, and some map `.js` to
`text/plain` or miss `.wasm`. Text types carry `charset=utf-8`, which is what nearly every
text file on the web is; a browser would otherwise guess from the bytes.
"""

import mimetypes

DEFAULT_TYPE = b"application/octet-stream"

_UTF8 = "; charset=utf-8"

# Extensions (lower case, without the dot) and their media types.
_TYPES: dict[str, str] = {
    # Documents and code.
    "html": "text/html" + _UTF8,
    "htm": "text/html" + _UTF8,
    "xhtml": "application/xhtml+xml" + _UTF8,
    "css": "text/css" + _UTF8,
    # RFC 9239: text/javascript is the one registered type for JavaScript.
    "js": "text/javascript" + _UTF8,
    "mjs": "text/javascript" + _UTF8,
    "cjs": "text/javascript" + _UTF8,
    "json": "application/json" + _UTF8,
    "map": "application/json" + _UTF8,
    "jsonld": "application/ld+json" + _UTF8,
    "webmanifest": "application/manifest+json" + _UTF8,
    "xml": "application/xml" + _UTF8,
    "rss": "application/rss+xml" + _UTF8,
    "atom": "application/atom+xml" + _UTF8,
    "txt": "text/plain" + _UTF8,
    "text": "text/plain" + _UTF8,
    "log": "text/plain" + _UTF8,
    "md": "text/markdown" + _UTF8,
    "markdown": "text/markdown" + _UTF8,
    "csv": "text/csv" + _UTF8,
    "tsv": "text/tab-separated-values" + _UTF8,
    "ics": "text/calendar" + _UTF8,
    "vtt": "text/vtt" + _UTF8,
    "yaml": "application/yaml" + _UTF8,
    "yml": "application/yaml" + _UTF8,
    "toml": "application/toml" + _UTF8,
    "pdf": "application/pdf",
    "wasm": "application/wasm",
    # Images.
    "png": "image/png",
    "apng": "image/apng",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "svg": "image/svg+xml" + _UTF8,
    "ico": "image/vnd.microsoft.icon",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    # Fonts.
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    # Audio and video.
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    # Archives: served as the bytes they are, never with a Content-Encoding.
    "zip": "application/zip",
    "gz": "application/gzip",
    "tgz": "application/gzip",
    "br": "application/x-brotli",
    "zst": "application/zstd",
    "tar": "application/x-tar",
    "xz": "application/x-xz",
    "bz2": "application/x-bzip2",
    "7z": "application/x-7z-compressed",
}

_cache: dict[str, bytes] = {}


def content_type_for(name: str) -> bytes:
    """The Content-Type value for a file called `name` (application/octet-stream if unknown)."""
    _, dot, extension = name.rpartition(".")
    if not dot or "/" in extension:
        return DEFAULT_TYPE
    extension = extension.lower()
    found = _cache.get(extension)
    if found is None:
        found = _lookup(extension)
        if len(_cache) < 4096:  # extensions come from requests: keep the memo bounded
            _cache[extension] = found
    return found


def _lookup(extension: str) -> bytes:
    known = _TYPES.get(extension)
    if known is not None:
        return known.encode("ascii")
    guessed, _ = mimetypes.guess_type("file." + extension, strict=False)
    if guessed is None:
        return DEFAULT_TYPE
    if guessed.startswith("text/"):
        guessed += _UTF8
    try:
        return guessed.encode("ascii")
    except UnicodeEncodeError:  # pragma: no cover - a broken mime.types
        return DEFAULT_TYPE
