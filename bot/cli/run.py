"""Running Sayso: `sayso serve`, `sayso demo` and `sayso db upgrade`."""

from __future__ import annotations

import click

from bot import migrate
from bot.cli.common import (
    checked_zone,
    fail,
    reads_demo_database,
    safe_url,
    settings,
    slack_settings,
)


@click.command(help="Run the bot: Socket Mode if SLACK_APP_TOKEN is set, else HTTP on PORT.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface for HTTP mode.")
@click.option("--port", type=int, default=None, help="Overrides PORT (default 3000).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="HTTP mode: gunicorn worker processes (overrides SAYSO_WORKERS; default 2 per CPU, "
    "at most 4).",
)
def serve(host: str, port: int | None, workers: int | None) -> None:
    from bot import logs
    from bot.serve.server import serve as run_server

    chosen = slack_settings()
    logs.configure(chosen.log_format)
    run_server(chosen, host=host, port=port or chosen.port, workers=workers)


@click.command(
    help="Play the core story against a built-in Slack emulator; no Slack account needed. "
    "The story goes into a database of its own, sayso-demo.db in this directory, emptied "
    "first (never DATABASE_URL, which may be your team's); `sayso records` reads it here "
    "while there is no sayso.db and no DATABASE_URL."
)
@click.option(
    "--quiet", is_flag=True, help="Print only the summary (the records kept), not the transcript."
)
@click.option(
    "--database-url",
    default=None,
    help="Play into this database instead (emptied first; refused if it holds any other "
    "workspace's data).",
)
@click.option(
    "--tz",
    default=None,
    help="Show the transcript's times in this time zone (the demo workspace's, "
    "Asia/Shanghai, by default).",
)
def demo(quiet: bool, database_url: str | None, tz: str | None) -> None:
    from bot.config import DEMO_DATABASE_URL
    from bot.demo import DemoRefused, run_demo

    zone = checked_zone(tz) if tz is not None else None
    url = database_url or DEMO_DATABASE_URL
    # How to read the story afterwards: plain `sayso records` where that reads the demo's.
    reading = "" if url == DEMO_DATABASE_URL and reads_demo_database(settings()) else url
    try:
        run_demo(
            url,
            echo=(lambda line: None) if quiet else click.echo,
            summary=click.echo,
            reading_from=reading,
            tz=zone,
        )
    except DemoRefused as error:
        fail(
            f"the demo starts afresh and empties its database, so it will not play into "
            f"{safe_url(url)}: {error}. Give it an empty database or leave --database-url out."
        )


@click.group(help="Database schema.")
def db() -> None:
    pass


@db.command(help="Bring the database schema up to date (also done by `sayso serve`).")
def upgrade() -> None:
    chosen = settings()
    migrate.upgrade(chosen.database_url)
    click.echo(f"Database schema is up to date ({safe_url(chosen.database_url)}).")


def register(cli: click.Group) -> None:
    cli.add_command(serve)
    cli.add_command(demo)
    cli.add_command(db)
