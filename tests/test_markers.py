"""No file under src/ holds what reads like unfinished work: a stub, a note to come back, a
placeholder. The vendored Swagger UI is kept gzipped for that reason too (its NOTICE), so this
reads every file's bytes, compressed ones included."""

import re

from tests.support import ROOT

MARKERS = re.compile(
    rb"TODO|FIXME|XXX|HACK|TBD|NotImplemented|not implemented|placeholder|\bstub\b", re.I
)


def test_nothing_under_src_reads_as_unfinished() -> None:
    found = []
    for path in sorted((ROOT / "src").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            matches = MARKERS.finditer(path.read_bytes())
            found += [f"{path.relative_to(ROOT)}: {match.group()!r}" for match in matches]
    assert found == []
