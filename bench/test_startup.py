"""Tests of bench.startup: the figures, their medians and verdicts, and a real measuring run."""

import json
import subprocess
import sys

import pytest

from bench import startup
from bench.apps.startup.common import RESOURCES, ROUTE_COUNT
from bench.apps.startup.measure import operation_count

FIGURES = {
    "framework": "porch",
    "framework_import_s": 0.1,
    "app_build_s": 0.05,
    "routes": 300,
    "openapi_s": 0.02,
    "operations": 300,
    "openapi_missing": "",
}


def run(**changes: float | None) -> startup.Run:
    """A run with these figures changed."""
    return startup.parse_run("noise\n" + json.dumps({**FIGURES, **changes}))


def test_parse_run_reads_the_last_line() -> None:
    found = run()
    assert found.startup_s == pytest.approx(0.15)
    assert (found.routes, found.operations, found.openapi_s) == (300, 300, 0.02)


def test_parse_run_without_figures_says_what_was_printed() -> None:
    with pytest.raises(startup.StartupError, match="Traceback"):
        startup.parse_run("Traceback (most recent call last):\n  ImportError\n")


def test_summary_takes_the_median_of_each_figure() -> None:
    runs = [run(app_build_s=0.05), run(app_build_s=0.9), run(app_build_s=0.07)]
    summary = startup.summarize("porch", runs)
    assert summary.app_build_s == pytest.approx(0.07)
    assert summary.startup_s == pytest.approx(0.17)
    assert summary.runs == 3


def results(
    porch: startup.Summary | str, fastapi_startup: float = 0.6
) -> dict[str, startup.Summary | str]:
    """porch's and FastAPI's results, FastAPI's with this import + route table."""
    fastapi = startup.summarize(
        "fastapi", [run(framework_import_s=0.2, app_build_s=fastapi_startup - 0.2, openapi_s=0.4)]
    )
    return {"porch": porch, "fastapi": fastapi}


def test_goals_pass_under_half_a_second_and_fail_above() -> None:
    fast = startup.summarize("porch", [run()])
    assert [verdict for _, _, verdict in startup.goals(results(fast))] == ["PASS", "PASS"]
    slow = startup.summarize("porch", [run(app_build_s=0.5)])
    assert [verdict for _, _, verdict in startup.goals(results(slow))] == ["FAIL", "PASS"]


def test_a_missing_openapi_generator_is_not_available_not_a_failure() -> None:
    missing = startup.summarize("porch", [run(openapi_s=None, operations=None)])
    found = results(missing)
    assert startup.goals(found)[1][1:] == ("not available", "N/A")
    rows = startup.table_rows(found)
    assert rows[0][5] == "not available"
    assert rows[1][6] == ""  # no ratio to a figure that is not there


def test_table_gives_fastapi_as_a_multiple_of_porch() -> None:
    rows = startup.table_rows(results(startup.summarize("porch", [run()]), fastapi_startup=0.6))
    assert rows[0][0] == "porch"
    assert rows[1][:5] == ["fastapi", "0.200 s", "0.400 s", "0.600 s", "4.0x"]
    assert rows[1][6] == "20.0x"


def test_markdown_report_has_targets_results_and_failures() -> None:
    machine = {"cpu": "cpu", "python": "CPython", "load_average": [0.1, 0.2, 0.3]}
    found = results("porch: exited with status 1:\nImportError")
    text = startup.markdown_report(found, 5, machine, "now")
    assert "| porch import + route table < 0.5 s | failed (see below) | **FAIL** |" in text
    assert "| porch | failed |" in text
    assert "porch failed:\n\n```\nporch: exited with status 1:\nImportError\n```" in text
    assert "median of 5 fresh interpreters" in text


def test_operation_count_counts_methods_not_other_keys() -> None:
    document = {"paths": {"/a": {"get": {}, "post": {}, "parameters": []}, "/b": {"delete": {}}}}
    assert operation_count(document) == 3


def test_the_applications_hold_300_routes_of_50_resources() -> None:
    assert ROUTE_COUNT == 300
    assert len(set(RESOURCES)) == 50


@pytest.mark.parametrize("framework", startup.FRAMEWORKS)
def test_a_measuring_run_builds_every_route(framework: str) -> None:
    pytest.importorskip(framework)
    result = subprocess.run(
        [sys.executable, "-m", "startup.measure", framework],
        cwd=startup.APPS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = startup.parse_run(result.stdout)
    assert found.routes == ROUTE_COUNT
    assert found.framework_import_s > 0
    assert found.app_build_s > 0
    if found.openapi_s is None:
        assert found.openapi_missing.startswith("not available")
    else:
        assert found.operations == ROUTE_COUNT
