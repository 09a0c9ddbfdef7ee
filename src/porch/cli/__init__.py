"""The `porch` command: run, serve, routes, db."""

import os
import sys
from typing import Any

import click

from porch.cli.db import db_group
from porch.cli.options import settings_options, to_settings
from porch.server.launch import ConfigError, run
from porch.server.settings import Settings
from porch.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="porch")
def cli() -> None:
    """Porch: a fast web server and web framework."""


@cli.command("run")
@settings_options("server", "app")
@click.pass_context
def run_command(ctx: click.Context, /, **values: Any) -> None:
    """Serve the ASGI, WSGI or porch application APP, given as module:attribute (or in the
    PORCH_APP variable)."""
    settings = to_settings(ctx, values, "server", "app")
    if not settings.app:
        raise click.UsageError("Missing the application (module:attribute), e.g. porch run app:app")
    module, _, attribute = settings.app.partition(":")
    if not module or not attribute:
        raise click.UsageError(
            f"The application must be given as module:attribute (not {settings.app!r})"
        )
    sys.exit(run(settings))


@cli.command("serve")
@settings_options("server", "static")
@click.pass_context
def serve_command(ctx: click.Context, /, **values: Any) -> None:
    """Serve the files of DIRECTORY (or of the PORCH_DIRECTORY variable; default: the current
    directory)."""
    from porch.server.static import StaticFiles

    settings = to_settings(ctx, values, "server", "static")
    directory = os.path.abspath(settings.directory or ".")
    if not os.path.isdir(directory):
        raise click.UsageError(f"{settings.directory!r} is not a directory")
    app = StaticFiles(
        directory,
        list_directories=settings.list_directories,
        follow_symlinks=settings.follow_symlinks,
        show_hidden=settings.show_hidden,
    )
    click.echo(f"Serving {directory}", err=True)
    sys.exit(run(settings, app))


@cli.command("routes")
@click.argument("app")
@click.option("--app-dir", default=".", show_default=True, help="Directory put first on sys.path.")
@click.option("--factory", is_flag=True, help="The attribute is a factory to call.")
def routes_command(app: str, app_dir: str, factory: bool) -> None:
    """Print the routes of the porch application APP (module:attribute)."""
    from porch.server.loader import AppLoadError, load_app
    from porch.web import App

    try:
        application = load_app(Settings(app=app, app_dir=app_dir, factory=factory))
    except AppLoadError as exc:
        raise click.ClickException(str(exc)) from None
    if not isinstance(application, App):
        raise click.ClickException(f"{app} is not a porch App")
    rows = [
        (
            ", ".join(sorted(route.methods | ({"HEAD"} if "GET" in route.methods else set()))),
            route.path,
            route.name,
            _qualified_name(route.endpoint),
        )
        for route in application.routes
    ]
    rows += [("*", mount.prefix + "/...", "", repr(mount.app)) for mount in application.mounts]
    header = ("METHODS", "PATH", "NAME", "HANDLER")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )


cli.add_command(db_group)


def _qualified_name(endpoint: Any) -> str:
    module = getattr(endpoint, "__module__", None) or "?"
    return f"{module}.{getattr(endpoint, '__qualname__', repr(endpoint))}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors are one line, and the exit status says what happened."""
    try:
        cli.main(args=argv, prog_name="porch", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # pragma: no cover - click >= 8.2
        click.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click.UsageError as exc:
        hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx and exc.ctx.parent else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except ConfigError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
