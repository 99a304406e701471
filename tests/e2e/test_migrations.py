"""The migrations build exactly the schema the models describe, on either database."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot import migrate
from bot.db import make_engine
from bot.models import Base

# Built by the migrations on purpose, outside the models: slack_sdk's installation tables
# (0010), and the text search (0004: SQLite's FTS5 table, PostgreSQL's trigram index).
OUTSIDE_THE_MODELS = ("slack_", "records_fts", "ix_records_text_trgm")


def _in_the_models(_object: Any, name: str | None, *_: Any) -> bool:
    return not (name or "").startswith(OUTSIDE_THE_MODELS)


def test_the_migrations_build_the_schema_of_the_models(database_url: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _in_the_models}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
