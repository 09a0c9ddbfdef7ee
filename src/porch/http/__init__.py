"""What the server and the framework share: status phrases, dates, headers, ranges, errors and the
native request/response contract."""

from porch.http.errors import ClientDisconnected, HTTPError
from porch.http.headers import HeaderBlock
from porch.http.native import BodyReader, FileRegion, NativeApp, RequestHead, Response

__all__ = [
    "BodyReader",
    "ClientDisconnected",
    "FileRegion",
    "HTTPError",
    "HeaderBlock",
    "NativeApp",
    "RequestHead",
    "Response",
]
