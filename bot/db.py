"""Engine and unit of work. Nothing here runs at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.ledger import canonical_json


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    # JSON columns hold canonical JSON, so `verify` can hash a payload as stored (ledger.py).
    engine = create_engine(database_url, json_serializer=canonical_json, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_durability)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(connection: Any) -> None:
    # A transaction that reads and then writes must hold the write lock from its start:
    # otherwise, in WAL mode, a concurrent commit makes its first write fail at once with
    # "database is locked" instead of waiting. SQLite has one writer anyway.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_durability(dbapi_connection: Any, _record: Any) -> None:
    # A record acknowledged to Slack must survive a power cut: WAL with a full fsync per
    # commit; wait for the single writer instead of failing with "database is locked".
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    with session_factory() as session, session.begin():
        yield session
