"""The database under Sayso: read for the checks and the outbox drain; on PostgreSQL, a
schema of the benchmark's own."""

from __future__ import annotations

import time
from typing import Any

from . import log
from .processes import Cleanup

PG_SCHEMA = "sayso_bench"


class Database:
    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        # Short connections: a reader must never hold SQLite's WAL back for long.
        self._engine = create_engine(url, poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def outbox_pending(self) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
            )
        )

    def outbox_delivered(self) -> int:
        return int(self.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"))

    def dispose(self) -> None:
        self._engine.dispose()


def prepare_postgres(url: str, cleanup: Cleanup, keep: bool) -> str:
    """A fresh schema of our own in that database; returns the URL that uses it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    if base.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must be postgresql+psycopg://..., not {base}")
    engine = create_engine(base)

    def drop() -> None:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()

    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        # Alembic's own table, empty, made here: with `public` on the search path (below),
        # alembic would otherwise find the test suite's public.alembic_version and believe
        # the schema up to date.
        connection.execute(
            text(
                f"CREATE TABLE {PG_SCHEMA}.alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
    cleanup.add(f"schema {PG_SCHEMA}", engine.dispose if keep else drop)
    # `public` second: migration 0004 creates pg_trgm in schema public and names its
    # operator class unqualified. Tables are created in, and found first in, sayso_bench;
    # check_postgres_schema makes sure of it before any load.
    scoped = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA},public"})
    return scoped.render_as_string(hide_password=False)


def check_postgres_schema(db: Database) -> None:
    """Refuse to go on unless Sayso's migrations built their tables in our schema."""
    tables = {
        row.table_name
        for row in db.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :schema",
            schema=PG_SCHEMA,
        )
    }
    needed = {"alembic_version", "workspaces", "records", "audit_events", "outbox"}
    version = db.scalar(f"SELECT max(version_num) FROM {PG_SCHEMA}.alembic_version")
    if not needed <= tables or not version:
        raise RuntimeError(
            f"Sayso's tables are not in schema {PG_SCHEMA} (found {sorted(tables)}, "
            f"version {version}); stopping before touching anything else"
        )
    log(f"schema {PG_SCHEMA}: {len(tables)} tables, migrations at {version}")


def wait_for_drain(db: Database, timeout: float) -> tuple[float, int, bool]:
    """Until the outbox has nothing left to deliver: (seconds, messages delivered, drained)."""
    start = time.monotonic()
    before = db.outbox_delivered()
    deadline = start + timeout
    pending = db.outbox_pending()
    while pending and time.monotonic() < deadline:
        time.sleep(0.25)
        pending = db.outbox_pending()
    return time.monotonic() - start, db.outbox_delivered() - before, pending == 0
