"""The migrations build exactly the schema the models describe, on either database; and the
SQLite they need."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot import migrate
from bot.db import make_engine
from bot.models import Base

# Built by the migrations on purpose, outside the models: slack_sdk's installation tables
# (0010), and the text search (0004 and 0016: SQLite's FTS5 tables, PostgreSQL's GIN indexes).
OUTSIDE_THE_MODELS = (
    "slack_",
    "records_fts",
    "ix_records_text_trgm",
    "records_terms",
    "ix_records_search_terms",
)


def _in_the_models(_object: Any, name: str | None, *_: Any) -> bool:
    return not (name or "").startswith(OUTSIDE_THE_MODELS)


def test_the_migrations_build_the_schema_of_the_models(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _in_the_models}
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_an_sqlite_too_old_for_the_outbox_is_refused_with_a_way_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(RuntimeError, match=r"SQLite 3\.35 or newer .* has 3\.34\.1.*PostgreSQL"):
        make_engine(f"sqlite:///{tmp_path / 'old.db'}")
