"""Alembic, driven from code: `sayso db upgrade` and `sayso serve` bring the schema to head."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation; URLs may contain escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    if revision == "head" and _at_head(database_url):
        # Alembic would read every revision file and open a migration context to do nothing:
        # tens of milliseconds at each start of the bot, or of a test's.
        return
    command.upgrade(alembic_config(database_url), revision)


def _at_head(database_url: str) -> bool:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return applied(connection) == heads()
    except DBAPIError:
        return False  # Alembic says why, as it always has
    finally:
        engine.dispose()


def heads() -> set[str]:
    """The revisions this code migrates to."""
    return set(_heads())


@functools.cache
def _heads() -> tuple[str, ...]:
    # Parses every revision file; they do not change under a running process.
    return tuple(ScriptDirectory(str(MIGRATIONS)).get_heads())


def applied(connection: Connection) -> set[str]:
    """The revisions the database is at; none before its first migration. Read directly from
    Alembic's table: MigrationContext would log two lines at info on every readiness probe."""
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
