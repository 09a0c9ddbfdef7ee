import io

from porch.http import FileRegion, HTTPError, RequestHead, Response
from porch.http.native import NativeApp, ResponseLike


def test_request_head_decodes_path_lazily():
    head = RequestHead(
        "GET", b"/caf%C3%A9/a%20b?x=1", b"/caf%C3%A9/a%20b", b"x=1", [(b"host", b"h")]
    )
    assert head._path is None
    assert head.path == "/café/a b"
    assert head.header(b"host") == b"h"
    assert head.header(b"missing") is None


def test_undecodable_path_bytes_are_replaced():
    head = RequestHead("GET", b"/%FF", b"/%FF", b"", [])
    assert head.path == "/\ufffd"


def test_response_and_protocols():
    response = Response(201, [(b"x", b"y")], b"body")
    assert isinstance(response, ResponseLike)

    class App:
        def __porch_http__(self, head, body):
            return response

    assert isinstance(App(), NativeApp)


def test_file_region_closes_its_file():
    file = io.BytesIO(b"data")
    region = FileRegion(file, 1, 2)  # type: ignore[arg-type]
    region.close()
    assert file.closed


def test_http_error_detail_is_none_unless_given():
    error = HTTPError(404)
    # An error handler can tell "no detail" from one; str() still says what the status means.
    assert error.detail is None
    assert str(error) == "404 Not Found"
    assert HTTPError(400, "Bad JSON").detail == "Bad JSON"
    assert str(HTTPError(400, "Bad JSON")) == "400 Bad JSON"
