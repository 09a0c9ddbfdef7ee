"""Tests of the examples/ applications: in-process on both paths, under `porch run`, and in a
real browser."""

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.support import ROOT
from tests.support import porch_db as run_porch_db

EXAMPLES = ROOT / "examples"


@functools.cache
def load_example(name: str) -> dict[str, ModuleType]:
    """The modules of examples/NAME, imported as `porch run app:app --app-dir examples/NAME` does.

    Each example is a folder of top-level modules (app.py, models.py…), and several have an
    `app`: the app module is imported under a private name (it stays in sys.modules, where
    `App(__name__)` finds its folder), and the modules it imports are taken out of sys.modules
    again, so that examples (and other tests) never see each other's. Keys: "app", "models"…
    """
    folder = EXAMPLES / name
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(f"_porch_example_{name}", folder / "app.py")
        assert spec is not None and spec.loader is not None
        app = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = app
        spec.loader.exec_module(app)
    finally:
        sys.path.remove(str(folder))
    modules = {"app": app}
    for module_name in set(sys.modules) - before:
        module = sys.modules[module_name]
        path = getattr(module, "__file__", None) or ""
        if module is not app and path.startswith(str(folder)):
            modules.setdefault(module_name, module)
            del sys.modules[module_name]
    return modules


def porch_db(name: str, *args: str, database_url: str, status: int = 0) -> str:
    """`porch db --app app:app --app-dir examples/NAME ARGS` on `database_url`, from the
    repository's root as `make run` runs it: its output, once it exits with `status`."""
    return run_porch_db(
        "--app", "app:app", "--app-dir", f"examples/{name}", *args,
        cwd=ROOT, database_url=database_url, status=status,
    )  # fmt: skip


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite file."""
    return f"sqlite:///{path}"
