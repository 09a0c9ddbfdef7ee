"""Tests of the answer checks (bench/answers.py): right answers pass, wrong ones cannot."""

import pytest

from bench.answers import Exact, HTMLPage, JSONValue, answer_problem, refusal_problem, squeeze

ROWS = (("Rovers & Rangers", "U10"), ("<Wanderers>", "U12"), ("O'Neill Park", "U13"))
PAGE = HTMLPage(fragments=("<h1>Our teams</h1>",), rows=ROWS)
GOOD_PAGE = b"""<!doctype html>
<h1>Our teams</h1>
<table>
  <tr><th>Team</th><th>Level</th></tr>
  <tr><td>Rovers &amp; Rangers</td><td>U10</td></tr>
  <tr><td>&lt;Wanderers&gt;</td><td>U12</td></tr>
  <tr><td>O&#39;Neill Park</td><td>U13</td></tr>
</table>
"""


def test_exact_wants_every_byte_and_the_media_type() -> None:
    expected = Exact(b"Hello, world!", "text/plain")
    assert expected.problem(b"Hello, world!", "text/plain; charset=utf-8") is None
    assert "different body" in (expected.problem(b"Hello, world!\n", "text/plain") or "")
    assert "Content-Type" in (expected.problem(b"Hello, world!", "text/html") or "")
    assert Exact(b"x").problem(b"x", "") is None  # no media type asked for
    assert expected.size == 13


def test_json_value_ignores_spacing_and_key_order() -> None:
    expected = JSONValue({"user_id": 42, "post": "hello-world"})
    assert expected.problem(b'{"post":"hello-world","user_id":42}', "application/json") is None
    assert expected.problem(b'{"user_id": 42, "post": "hello-world"}\n', "application/json") is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"user_id": "42", "post": "hello-world"}',  # the parameter was not converted
        b'{"user_id": 42.0, "post": "hello-world"}',
        b'{"user_id": true, "post": "hello-world"}',
        b'{"user_id": 42, "post": "hello-world", "extra": 1}',
        b'{"user_id": 42}',
        b'[42, "hello-world"]',
        b"not json",
    ],
)
def test_json_value_refuses_another_value(body: bytes) -> None:
    assert JSONValue({"user_id": 42, "post": "hello-world"}).problem(body, "application/json")


def test_json_value_wants_application_json() -> None:
    problem = JSONValue({"a": 1}).problem(b'{"a": 1}', "text/plain")
    assert problem is not None
    assert "Content-Type" in problem


def test_squeeze_drops_whitespace_between_tags() -> None:
    assert squeeze(b"<tr>\n  <td>a  b</td>\n</tr>\n") == b"<tr><td>a b</td></tr>"


def test_html_page_accepts_any_spacing_and_any_escape() -> None:
    assert PAGE.problem(GOOD_PAGE, "text/html; charset=utf-8") is None
    compact = squeeze(GOOD_PAGE).replace(b"&#39;", b"&#x27;")
    assert PAGE.problem(compact, "text/html") is None


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ((b"&amp; Rangers", b"& Rangers"), "not escaped"),
        ((b"&lt;Wanderers&gt;", b"<Wanderers>"), "not escaped"),
        ((b"O&#39;Neill", b"O&#39;Neil"), "Neil Park"),
        ((b"<td>U12</td>", b"<td>U11</td>"), "not 'U12'"),
        ((b"<h1>Our teams</h1>", b"<h1>Teams</h1>"), "without"),
        ((b"  <tr><td>O&#39;Neill Park</td><td>U13</td></tr>\n", b""), "2 table rows, not 3"),
        ((b"<td>U13</td>", b"<td>U13</td><td>extra</td>"), "not 2 cells"),
    ],
)
def test_html_page_refuses_a_wrong_page(change: tuple[bytes, bytes], complaint: str) -> None:
    old, new = change
    assert old in GOOD_PAGE
    problem = PAGE.problem(GOOD_PAGE.replace(old, new), "text/html")
    assert problem is not None
    assert complaint in problem


def test_html_page_refuses_rows_out_of_order_and_another_type() -> None:
    rows = GOOD_PAGE.split(b"\n")
    swapped = b"\n".join([*rows[:4], rows[5], rows[4], *rows[6:]])
    assert PAGE.problem(swapped, "text/html")
    assert "Content-Type" in (PAGE.problem(GOOD_PAGE, "text/plain") or "")


CREATED = JSONValue({"customer": "Ada", "items": [{"sku": "A", "quantity": 2}]}, status=201)
CREATED_BODY = b'{"items": [{"quantity": 2, "sku": "A"}], "customer": "Ada"}'


def test_answer_wants_the_expected_status_first() -> None:
    assert answer_problem(CREATED, 201, CREATED_BODY, "application/json") is None
    problem = answer_problem(CREATED, 200, CREATED_BODY, "application/json")
    assert problem is not None
    assert problem.startswith("200, not 201: ")
    assert answer_problem(JSONValue({"a": 1}), 201, b'{"a": 1}', "application/json") == (
        "201, not 200: b'{\"a\": 1}'"
    )
    assert Exact(b"x").status == HTMLPage((), ()).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"customer": "Ada", "items": [{"sku": "A", "quantity": "2"}]}',
        b'{"customer": "Ada", "items": [{"sku": "A", "quantity": 2.0}]}',
        b'{"customer": "Ada", "items": [{"sku": "A", "quantity": 2}], "note": null}',
        b'{"customer": "Ada", "items": []}',
    ],
)
def test_answer_with_the_right_status_still_needs_the_same_nested_value(body: bytes) -> None:
    problem = answer_problem(CREATED, 201, body, "application/json")
    assert problem is not None
    assert problem.startswith("201 with the JSON ")


@pytest.mark.parametrize("status", [400, 422])
def test_refusal_accepts_400_and_422(status: int) -> None:
    assert refusal_problem(status, b"{}") is None


@pytest.mark.parametrize("status", [200, 201, 404, 415, 500])
def test_refusal_refuses_anything_else(status: int) -> None:
    problem = refusal_problem(status, b"oops")
    assert problem is not None
    assert problem.startswith(f"{status}, not 400 or 422")
