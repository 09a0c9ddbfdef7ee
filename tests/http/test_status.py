from porch.http.status import has_body, reason_phrase, status_line


def test_status_lines():
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(404, "1.0") == b"HTTP/1.0 404 Not Found\r\n"
    assert status_line(413) == b"HTTP/1.1 413 Content Too Large\r\n"
    assert status_line(599) == b"HTTP/1.1 599 \r\n"  # unknown codes keep an empty phrase


def test_reason_phrase():
    assert reason_phrase(418) == "I'm a Teapot" or reason_phrase(418) == "I'm a teapot"
    assert reason_phrase(799) == ""


def test_statuses_without_content():
    assert not has_body(100)
    assert not has_body(204)
    assert not has_body(304)
    assert has_body(200)
    assert has_body(404)
