from __future__ import annotations

import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from bot.models import Base

config = context.config
# pg_advisory_xact_lock's key for `sayso db upgrade` and `sayso serve` migrating ("SAYS").
LOCK = 0x53415953


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
        with _one_migrator(engine), engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Replicas starting together all migrate: one at a time, and the later
                    # ones then find the schema at head (the version is read after the lock).
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """On SQLite, the same for processes sharing the file: a lock file named after it."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    name = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"sayso-migrate-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


run_migrations()
