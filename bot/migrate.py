"""Alembic, driven from code: `sayso db upgrade` and `sayso serve` bring the schema to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation; URLs may contain escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def heads() -> set[str]:
    """The revisions this code migrates to."""
    return set(ScriptDirectory(str(MIGRATIONS)).get_heads())


def applied(connection: Connection) -> set[str]:
    """The revisions the database is at; none before its first migration. Read directly from
    Alembic's table: MigrationContext would log two lines at info on every readiness probe."""
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
