"""The `porch` command: run, serve."""

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from porch.server.launch import ConfigError, run
from porch.server.settings import Settings, env_name, value_type
from porch.version import __version__

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class SettingOption(click.Option):
    """An option for a settings field: click shows its PORCH_* variable in --help, and
    `Settings.from_env` alone reads it, so that a variable means the same everywhere."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return None


def settings_options(*scopes: str) -> Decorator:
    """Click options (and arguments) for the settings fields of the given scopes."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for item in reversed(dataclasses.fields(Settings)):
            meta = item.metadata
            if meta["scope"] not in scopes:
                continue
            kind = value_type(item)
            flags = meta["flags"]
            default = item.default if item.default is not dataclasses.MISSING else None
            if not flags:
                command = click.argument(item.name, required=False, default=default)(command)
                continue
            options: dict[str, Any] = {
                "cls": SettingOption,
                "help": meta["help"],
                "envvar": env_name(item.name),
                "show_envvar": True,
                "hidden": meta["hidden"],
            }
            if meta["multiple"]:
                options.update(multiple=True, type=kind, default=())
            elif kind is bool:
                options.update(is_flag=True, default=default, show_default=True)
                if "/" not in flags[0]:
                    options["flag_value"] = True
            else:
                choice = meta["choices"]
                options.update(
                    type=click.Choice(choice) if choice else kind,
                    default=default,
                    show_default=default is not None and default != "",
                )
            command = click.option(*flags, item.name, **options)(command)
        return command

    return decorate


def to_settings(ctx: click.Context, values: dict[str, Any], *scopes: str) -> Settings:
    """Defaults, then PORCH_* variables, then the command line; a UsageError if they cannot work."""
    given = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in values.items()
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }
    # Only the variables of this command's settings: PORCH_APP means nothing to `porch serve`.
    names = {
        env_name(f.name) for f in dataclasses.fields(Settings) if f.metadata["scope"] in scopes
    }
    environ = {name: value for name, value in os.environ.items() if name in names}
    try:
        settings = Settings.from_env(environ, **given)
        settings.validate()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return settings


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
        hint = f" (see porch {exc.ctx.info_name} --help)" if exc.ctx and exc.ctx.parent else ""
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
