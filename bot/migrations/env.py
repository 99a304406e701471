from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event
from sqlalchemy.pool import NullPool

from bot.models import Base

config = context.config


def _sqlite_without_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    # SQLite changes a table by copying it (batch mode); with foreign keys enforced, dropping
    # the old copy of a referenced table fails. The copy keeps every row, so nothing dangles.
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "alembic_config() sets sqlalchemy.url"
    engine = create_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_without_foreign_keys)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
