"""What every command group uses: the settings, a session on a database whose schema is this
version's, the running bot's runtime, and failing with a message."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click
from dotenv import dotenv_values
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import localtime, migrate
from bot.config import (
    DEFAULT_DATABASE_URL,
    DEMO_DATABASE_FILE,
    DEMO_DATABASE_URL,
    ConfigError,
    Settings,
    load_settings,
)
from bot.db import make_engine, make_session_factory, read_only
from bot.slack.gateway import make_client

if TYPE_CHECKING:
    from bot.app import Runtime


F = TypeVar("F", bound=Callable[..., object])


def tz_option(command: F) -> F:
    """`--tz ZONE`: the zone times are shown in (the workspace's by default)."""
    return click.option(
        "--tz",
        default=None,
        help="Show times in this time zone, e.g. Asia/Shanghai (default: the workspace's, "
        "as set by SAYSO_TIMEZONE or /confirm settings).",
    )(command)


def reader_zone(session: Session, team_id: str, tz: str | None) -> str:
    """The zone a command shows `team_id`'s times in: --tz, else the workspace's own (its
    digest zone: `/confirm settings`, else SAYSO_TIMEZONE, else UTC)."""
    from bot.records import settings_store

    if tz is not None:
        checked_zone(tz)
        return tz
    policy = settings_store.policy(session, team_id, settings_store.defaults(settings()))
    return policy.digest.zone if localtime.known(policy.digest.zone) else "UTC"


def checked_zone(tz: str) -> str:
    try:
        localtime.zone(tz)
    except localtime.UnknownZone as error:
        fail(str(error))
    return tz


def fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"sayso: {message}", err=True)
    sys.exit(status)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        fail(str(error))


def slack_settings() -> Settings:
    """The settings, which must name a Slack app (the commands that speak to Slack)."""
    try:
        return settings().require_slack()
    except ConfigError as error:
        fail(str(error))


def open_session(*, writes: bool = False) -> Session:
    """A session on DATABASE_URL. One that only reads works from a snapshot and, on SQLite,
    never holds up the running bot's writes (a long `sayso verify` or export included)."""
    return open_database(writes=writes)()


def open_database(*, writes: bool = False) -> sessionmaker[Session]:
    """Sessions on DATABASE_URL, once it is known to hold this version's schema: else the
    command fails with a message saying what to run. A command that only reads reads the
    demo's database (`sayso demo`) where there is no other: no DATABASE_URL, no sayso.db."""
    chosen = settings()
    if not writes and (demo := _demo_database(chosen)):
        chosen = replace(chosen, database_url=demo)
    engine = make_engine(chosen.database_url)
    try:
        with read_only(engine).connect() as connection:
            has_schema = inspect(connection).has_table("records")
            revisions = migrate.applied(connection)
    except OperationalError as error:
        fail(f"cannot open the database {safe_url(chosen.database_url)}: {error.orig}", 1)
    if not has_schema:
        fail(
            f"the database {safe_url(chosen.database_url)} has no Sayso tables yet; run "
            "`sayso db upgrade`, `sayso serve` or `sayso demo` first.",
            1,
        )
    if revisions != (needed := migrate.heads()):
        fail(
            f"the database {safe_url(chosen.database_url)} has the schema of another "
            f"version of Sayso ({', '.join(sorted(revisions)) or 'none'}; this one needs "
            f"{', '.join(sorted(needed))}): run `sayso db upgrade` (`sayso serve` does "
            "when it starts).",
            1,
        )
    return make_session_factory(engine if writes else read_only(engine))


def _demo_database(chosen: Settings) -> str | None:
    """The demo's database, when it is the only one here: what the newcomer who ran
    `sayso demo` means by `sayso records`. Said on standard error, so nobody mistakes it."""
    if not reads_demo_database(chosen) or not Path(DEMO_DATABASE_FILE).exists():
        return None
    click.echo(
        f"sayso: reading the demo's {DEMO_DATABASE_FILE} (no DATABASE_URL is set, and there is "
        "no sayso.db here).",
        err=True,
    )
    return DEMO_DATABASE_URL


def reads_demo_database(chosen: Settings) -> bool:
    """Whether the read-only commands, run here, read the demo's database: neither the
    environment nor .env names a database, and the default one does not exist."""
    given = "DATABASE_URL" in os.environ or (
        Path(".env").is_file() and "DATABASE_URL" in dotenv_values(".env")
    )
    return (
        not given
        and chosen.database_url == DEFAULT_DATABASE_URL
        and not Path(_sqlite_file(DEFAULT_DATABASE_URL)).exists()
    )


def _sqlite_file(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or ""


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_runtime() -> Runtime:
    """The bot, as `sayso serve` builds it, for one pass from the command line."""
    from bot.app import build_runtime as build

    chosen = slack_settings()
    migrate.upgrade(chosen.database_url)
    if chosen.installs_many:
        return build(chosen)
    client = make_client(chosen.slack_bot_token, chosen.slack_api_url)
    return build(chosen, str(client.auth_test()["team_id"]))
