"""Command-line options made from the server's settings (porch.server.settings), so that each
flag, its PORCH_* variable and its default are written once."""

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any

import click
from click.core import ParameterSource

from porch.server.settings import Settings, env_name, value_type

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


class SettingOption(click.Option):
    """An option for a settings field: click shows its PORCH_* variable in --help, and
    `Settings.from_env` alone reads it, so that a variable means the same everywhere."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return None


def _fields(scopes: Collection[str], only: Collection[str] | None) -> list[dataclasses.Field[Any]]:
    return [
        item
        for item in dataclasses.fields(Settings)
        if item.metadata["scope"] in scopes and (only is None or item.name in only)
    ]


def settings_options(
    *scopes: str,
    only: Collection[str] | None = None,
    flags: Mapping[str, tuple[str, ...]] | None = None,
) -> Decorator:
    """Click options (and arguments) for the settings fields of the given scopes; `only`
    narrows them to some fields, and `flags` gives a field other flags than its own (a
    setting that is an argument of one command can be an option of another)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for item in reversed(_fields(scopes, only)):
            meta = item.metadata
            kind = value_type(item)
            names = (flags or {}).get(item.name, meta["flags"])
            default = item.default if item.default is not dataclasses.MISSING else None
            if not names:
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
                if "/" not in names[0]:
                    # --no-access-log turns a setting that is on by default off.
                    options["flag_value"] = not names[0].startswith("--no-")
            else:
                choice = meta["choices"]
                options.update(
                    type=click.Choice(choice) if choice else kind,
                    default=default,
                    show_default=default is not None and default != "",
                )
            command = click.option(*names, item.name, **options)(command)
        return command

    return decorate


def to_settings(
    ctx: click.Context, values: dict[str, Any], *scopes: str, only: Collection[str] | None = None
) -> Settings:
    """Defaults, then PORCH_* variables, then the command line; a UsageError if they cannot work."""
    given = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in values.items()
        if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }
    # Only the variables of this command's settings: PORCH_APP means nothing to `porch serve`.
    names = {env_name(item.name) for item in _fields(scopes, only)}
    environ = {name: value for name, value in os.environ.items() if name in names}
    try:
        settings = Settings.from_env(environ, **given)
        settings.validate()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return settings
