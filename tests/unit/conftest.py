"""Fixtures for the unit tests of the core that need a database: the run's migrated one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_session_factory


@pytest.fixture(scope="session")
def unit_engine(
    tmp_path_factory: pytest.TempPathFactory, postgres_schema_url: str | None
) -> Iterator[Engine]:
    """One engine for every unit test: an engine compiles each statement once, and with a
    new engine per test a short test spent about a third of its time compiling them again."""
    url = postgres_schema_url or f"sqlite:///{tmp_path_factory.mktemp('unit') / 'sayso.db'}"
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(
    request: pytest.FixtureRequest, unit_engine: Engine
) -> Iterator[sessionmaker[Session]]:
    """A fresh database at the migrations' head, with no Slack behind it: on SQLite the
    run's migrated file copied over the engine's (its connections closed first), on
    PostgreSQL this run's schema emptied (the `database_url` fixture)."""
    unit_engine.dispose()
    if unit_engine.dialect.name == "sqlite":
        assert unit_engine.url.database is not None
        path = Path(unit_engine.url.database)
        for leftover in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
    else:
        request.getfixturevalue("database_url")
    yield make_session_factory(unit_engine)
    unit_engine.dispose()


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction for the whole test, rolled back when it ends: the core's functions
    only flush, and a commit (an fsync on SQLite) would cost more than the test."""
    with session_factory() as session:
        yield session
