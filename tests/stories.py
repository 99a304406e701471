"""A story played once per module and saved, so that each of the module's tests starts a
sandbox of its own where the story left off: the database as the story left it, a copy of
the emulator's workspace and call log, and the clock at the story's end. Playing a long
story again for every test took most of the time of the modules that have one."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import MetaData, text
from sqlalchemy.engine import make_url

from bot.db import make_engine
from bot.emulator import SlackEmulator
from bot.emulator.sandbox import Sandbox
from tests.support import ManualClock

T = TypeVar("T")

# Plays the story in a sandbox on the clock; returns what the tests need besides the sandbox.
Play = Callable[[Sandbox, ManualClock], T]


@dataclass(frozen=True)
class SavedSQLite:
    path: Path

    @classmethod
    def save(cls, database_url: str, folder: Path) -> SavedSQLite:
        """A consistent copy of the live database, the write-ahead log's pages included."""
        saved = folder / f"story-{uuid.uuid4().hex[:8]}.db"
        source = sqlite3.connect(_sqlite_path(database_url))
        target = sqlite3.connect(saved)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return cls(saved)

    def restore(self, database_url: str) -> None:
        shutil.copyfile(self.path, _sqlite_path(database_url))

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SavedPostgres:
    """The story's rows, kept in a schema of their own on the same database, and where its
    sequences stood; restored into a test's emptied schema by INSERT ... SELECT."""

    schema: str
    tables: tuple[str, ...]  # parents before children
    sequences: dict[str, int] = field(default_factory=dict)

    @classmethod
    def save(cls, database_url: str) -> SavedPostgres:
        schema = f"sayso_story_{uuid.uuid4().hex[:12]}"
        engine = make_engine(database_url)
        try:
            tables = MetaData()
            tables.reflect(engine)
            names = tuple(t.name for t in tables.sorted_tables if t.name != "alembic_version")
            with engine.begin() as connection:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
                for name in names:
                    connection.execute(text(f"CREATE TABLE {schema}.{name} AS TABLE {name}"))
                stood = connection.execute(
                    text(
                        "SELECT sequencename, last_value FROM pg_sequences "
                        "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                    )
                )
                sequences = {str(name): int(value) for name, value in stood}
        finally:
            engine.dispose()
        return cls(schema, names, sequences)

    def restore(self, database_url: str) -> None:
        """Into the test's schema, emptied (every row gone, every sequence restarted)."""
        engine = make_engine(database_url)
        try:
            with engine.begin() as connection:
                for name in self.tables:
                    connection.execute(
                        text(f"INSERT INTO {name} SELECT * FROM {self.schema}.{name}")
                    )
                for name, value in self.sequences.items():
                    connection.execute(
                        text("SELECT setval(:name, :value)"), {"name": name, "value": value}
                    )
        finally:
            engine.dispose()

    def drop(self, database_url: str) -> None:
        engine = make_engine(database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {self.schema} CASCADE"))
        finally:
            engine.dispose()


@dataclass(frozen=True)
class SavedStory(Generic[T]):
    database: SavedSQLite | SavedPostgres
    emulator: SlackEmulator  # stopped; each test starts a copy of it
    now: datetime
    value: T

    @contextlib.contextmanager
    def sandbox(self, database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
        """A sandbox on the test's database and clock, where the story left off."""
        self.database.restore(database_url)
        clock.advance(seconds=(self.now - clock.now()).total_seconds())
        twin = self.emulator.copy(clock)
        with Sandbox(database_url, clock=clock, emulator=twin, migrate=False) as box:
            yield box


def save(box: Sandbox, clock: ManualClock, value: T, folder: Path) -> SavedStory[T]:
    """What the story left, once everything it set going was delivered."""
    box.settle()
    url = box.settings.database_url
    database: SavedSQLite | SavedPostgres = (
        SavedSQLite.save(url, folder) if url.startswith("sqlite") else SavedPostgres.save(url)
    )
    return SavedStory(database, box.emulator.copy(), clock.now(), value)


def _sqlite_path(database_url: str) -> str:
    database = make_url(database_url).database
    assert database, database_url
    return database
