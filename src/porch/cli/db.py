"""`porch db`: make and apply the migrations of an application's database
(porch.db.migrations; Alembic underneath)."""

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from porch.cli.options import settings_options, to_settings
from porch.server.settings import Settings

if TYPE_CHECKING:
    from alembic.script import Script

    from porch.db.migrations import Migrations

# The settings that find the application, as `porch run` finds it; here APP is an option, so
# that it comes before the subcommand (`porch db --app app:app migrate`).
APP_SETTINGS = ("app", "app_dir", "factory")
APP_FLAGS = {"app": ("--app",)}


@dataclass
class Target:
    """What a `porch db` command works on: the application, loaded once a command needs it
    (so that --help never imports it)."""

    settings: Settings
    directory: str | None

    def migrations(self) -> "Migrations":
        """The application's migrations (a ClickException if it cannot be loaded)."""
        from porch.db import database_of
        from porch.db.migrations import MigrationError, Migrations, default_folder
        from porch.server.loader import AppLoadError, load_app
        from porch.web import App

        spec = self.settings.app
        if not spec:
            raise click.UsageError(
                "Missing the application: porch db --app module:attribute (or PORCH_APP)"
            )
        try:
            app = load_app(self.settings)
        except AppLoadError as exc:
            raise click.ClickException(str(exc)) from None
        if not isinstance(app, App):
            raise click.ClickException(f"{spec} is not a porch App")
        try:
            database = database_of(app)
        except RuntimeError:
            raise click.ClickException(f"{spec} has no Database: db = Database(app)") from None
        folder = self.directory or default_folder(app)
        try:
            return Migrations(database, folder, echo=click.echo)
        except MigrationError as exc:
            raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def reporting(migrations: "Migrations") -> Iterator[None]:
    """Errors as one line (no traceback); Python warnings (Alembic's) as one line each."""

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        click.echo(f"Warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        try:
            yield
        except click.ClickException:
            raise
        except Exception as exc:
            raise click.ClickException(migrations.explain(exc)) from None


def row(revision: "Script") -> str:
    """A revision in a list: `1a2b3c4d5e6f  add team level`."""
    return f"{revision.revision}  {revision.doc}".rstrip()


class InOrder(click.Group):
    """A group whose --help lists its commands in the order of use, not the alphabet's."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group("db", cls=InOrder)
@settings_options("app", only=APP_SETTINGS, flags=APP_FLAGS)
@click.option(
    "--directory",
    "-d",
    metavar="PATH",
    help="The migrations folder (default: migrations, beside the application's module).",
)
@click.pass_context
def db_group(ctx: click.Context, /, directory: str | None, **values: Any) -> None:
    """Make and apply the migrations of the application's database (Alembic underneath).

    The application is found as porch run finds it: --app module:attribute, or PORCH_APP.
    """
    ctx.obj = Target(to_settings(ctx, values, "app", only=APP_SETTINGS), directory)


pass_target = click.make_pass_decorator(Target)


@db_group.command("init")
@pass_target
def init_command(target: Target) -> None:
    """Make the migrations folder (porch owns its env.py: it needs no editing)."""
    from porch.db.migrations import shown

    migrations = target.migrations()
    with reporting(migrations):
        migrations.init()
    click.echo(f"Created {shown(migrations.folder)}")
    click.echo('Next: porch db makemigrations -m "create tables", then porch db migrate')


@db_group.command("makemigrations")
@click.option("-m", "--message", help="What the migration does (default: its first changes).")
@click.option("--empty", is_flag=True, help="Write an empty migration to fill in by hand.")
@pass_target
def makemigrations_command(target: Target, message: str | None, empty: bool) -> None:
    """Write a migration for what changed in the models since the last one."""
    from porch.db.migrations import NoChanges, shown

    migrations = target.migrations()
    with reporting(migrations):
        try:
            script, changes = migrations.make(message, empty=empty)
        except NoChanges:
            click.echo("No changes detected.")
            return
    click.echo(f"Created {shown(script.path)}")
    for change in changes:
        click.echo(f"  - {change}")


@db_group.command("migrate")
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@pass_target
def migrate_command(target: Target, revision: str, sql: bool) -> None:
    """Apply the migrations the database lacks, up to REVISION (default: head, the newest)."""
    migrations = target.migrations()
    with reporting(migrations):
        applied = migrations.upgrade(revision, sql=sql)
        if sql:
            return
        if not applied:
            click.echo("No migrations to apply.")
        _echo_position(migrations)


# ignore_unknown_options: `-1` is a revision, not an option.
@db_group.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (FROM:TO).")
@pass_target
def downgrade_command(target: Target, revision: str, sql: bool) -> None:
    """Revert migrations down to REVISION: a revision, -1 (the last one) or base (all)."""
    migrations = target.migrations()
    with reporting(migrations):
        reverted = migrations.downgrade(revision, sql=sql)
        if sql:
            return
        if not reverted:
            click.echo("No migrations to revert.")
        _echo_position(migrations)


@db_group.command("stamp")
@click.argument("revision")
@pass_target
def stamp_command(target: Target, revision: str) -> None:
    """Record the database as at REVISION without running anything (for tables that were
    made some other way)."""
    migrations = target.migrations()
    with reporting(migrations):
        migrations.stamp(revision)
        _echo_position(migrations)


@db_group.command("merge")
@click.option("-m", "--message", help="What the merge joins (default: the heads' revisions).")
@pass_target
def merge_command(target: Target, message: str | None) -> None:
    """Write a migration that joins the heads of two branches of migrations."""
    from porch.db.migrations import shown

    migrations = target.migrations()
    with reporting(migrations):
        script = migrations.merge(message)
    click.echo(f"Created {shown(script.path)}")


@db_group.command("history")
@pass_target
def history_command(target: Target) -> None:
    """List the migrations, oldest first: [X] applied to the database, [ ] not yet."""
    from porch.db.migrations import one_line

    migrations = target.migrations()
    with reporting(migrations):
        script = migrations.script
        revisions = list(reversed(list(script.walk_revisions())))
        if not revisions:
            click.echo("No migrations yet: porch db makemigrations")
            return
        heads = set(script.get_heads())
        try:
            applied: set[str] | None = {r.revision for r in migrations.status().applied}
        except Exception as exc:  # the files alone still say something
            applied = None
            reason = one_line(exc)
        for revision in revisions:
            mark = "" if applied is None else "[X] " if revision.revision in applied else "[ ] "
            head = " (head)" if revision.revision in heads else ""
            click.echo(f"{mark}{row(revision)}{head}")
        if applied is None:
            click.echo(f"Could not read the database ({reason}): applied ones are not marked")


@db_group.command("current")
@pass_target
def current_command(target: Target) -> None:
    """Show the revision the database is at, and what it lacks."""
    migrations = target.migrations()
    with reporting(migrations):
        _echo_position(migrations)


@db_group.command("check")
@pass_target
def check_command(target: Target) -> None:
    """Exit 1 unless the database has every migration and the models match the migrations
    (for CI: porch db migrate, then porch db check)."""
    from porch.db.migrations import ModelsChanged

    migrations = target.migrations()
    with reporting(migrations):
        try:
            status = migrations.check()
        except ModelsChanged as exc:
            for change in exc.changes:
                click.echo(f"  - {change}")
            raise
    at = ", ".join(status.current) or "base"
    click.echo(f"OK: the database is at {at} (head), and the models match the migrations.")


def _echo_position(migrations: "Migrations") -> None:
    """Where the database stands: its revision, and the migrations it lacks."""
    from porch.db.migrations import plural, shown

    status = migrations.status()
    for revision in status.unknown:
        click.echo(f"At {revision}, which {shown(migrations.folder)} does not have")
    known = {r.revision: r for r in status.applied}
    for revision in status.current:
        if revision in known:
            head = " (head)" if revision in status.heads else ""
            click.echo(f"At {row(known[revision])}{head}")
    if not status.current:
        click.echo("At base: no migrations applied")
    if status.pending:
        lacking = ", ".join(r.revision for r in status.pending)
        count = plural(len(status.pending), "migration")
        click.echo(f"{count} to apply ({lacking}): porch db migrate")
