from __future__ import annotations

import contextlib
import functools
import gc
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, MetaData, text

from bot import migrate
from bot.db import make_engine
from bot.emulator import SlackEmulator
from bot.emulator.sandbox import Sandbox
from tests import stories, support
from tests.stories import Play, SavedStory
from tests.support import ManualClock, postgres_schema

T = TypeVar("T")

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

TEAM = "T0ACME0001"
CHANNEL = "C0EDGE0001"
ALICE, LI, WANG, ZHAO = "U0ALICE001", "U0LI000001", "U0WANG0001", "U0ZHAO0001"
BOB, CHEN = "U0BOB00001", "U0CHEN0001"


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str | None]:
    """On PostgreSQL, a schema of this test run's own, migrated once: two runs (CI and a
    developer, say) sharing one database never touch each other's tables."""
    url = os.environ.get("SAYSO_TEST_DATABASE_URL")
    if not url:
        yield None
        return
    with postgres_schema(url, "sayso_test") as schema_url:
        migrate.upgrade(schema_url)
        yield schema_url
        for engine in [*_EMPTIERS.values(), *_KEPT.values()]:
            engine.dispose()


# Shared memory, where the machine has it: Sayso's SQLite commits fsync (synchronous=FULL),
# and on a disk those waits made up much of the suite's time. Nothing a test checks needs a
# disk: a killed process's writes survive in memory as on a disk.
_MEMORY_FILES = Path("/dev/shm")


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder of this run's SQLite databases: in shared memory, else the run's temp."""
    if not (_MEMORY_FILES.is_dir() and os.access(_MEMORY_FILES, os.W_OK)):
        yield tmp_path_factory.mktemp("databases")
        return
    folder = Path(tempfile.mkdtemp(prefix="sayso-tests-", dir=_MEMORY_FILES))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def sqlite_folder(sqlite_dir: Path) -> Iterator[Path]:
    """This test's own folder for SQLite files, removed after it."""
    folder = Path(tempfile.mkdtemp(prefix="test-", dir=sqlite_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_sqlite(sqlite_dir: Path) -> Path:
    """A SQLite file migrated once per run, whole in its main file, for tests to copy."""
    path = sqlite_dir / "migrated.db"
    migrate.upgrade(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def database_url(request: pytest.FixtureRequest, postgres_schema_url: str | None) -> str:
    """A fresh database at the schema's head: a copy of the run's migrated SQLite file, or
    this run's PostgreSQL schema emptied. Migrating from scratch for each test took most
    of the suite's time."""
    if postgres_schema_url is None:
        path = request.getfixturevalue("sqlite_folder") / "sayso-test.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    _empty(postgres_schema_url)
    return postgres_schema_url


@pytest.fixture
def empty_database_url(
    request: pytest.FixtureRequest, postgres_schema_url: str | None
) -> Iterator[str]:
    """A database with no schema at all: a SQLite file, or a PostgreSQL schema of its own."""
    if postgres_schema_url is None:
        yield f"sqlite:///{request.getfixturevalue('sqlite_folder') / 'empty.db'}"
        return
    with postgres_schema(os.environ["SAYSO_TEST_DATABASE_URL"], "sayso_empty") as url:
        yield url


def _empty(url: str) -> None:
    """Every row gone and every sequence restarted, the schema kept at head. On a connection
    kept for the run: connecting took most of the time."""
    engine = _EMPTIERS.get(url) or _EMPTIERS.setdefault(url, make_engine(url, pool_size=1))
    with engine.begin() as connection:
        connection.exec_driver_sql(_emptying(url))


_EMPTIERS: dict[str, Engine] = {}
_KEPT: dict[str, Engine] = {}


def _kept_engine(url: str) -> Engine | None:
    """The run's engine for a PostgreSQL schema; None for SQLite (a file per test)."""
    if url.startswith("sqlite"):
        return None
    return _KEPT.get(url) or _KEPT.setdefault(url, make_engine(url))


@functools.cache
def _emptying(url: str) -> str:
    """DELETE, children before parents: TRUNCATE of the twenty tables takes some 0.3 s, this
    0.02 s. The tables are read from the schema: slack_sdk's (migration 0010) are not in our
    models. Alembic's version row stays, and no migration seeds any other."""
    engine = make_engine(url)
    schema = MetaData()
    schema.reflect(engine)
    with engine.connect() as connection:
        sequences = connection.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")
        ).scalars()
        restarts = [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
    engine.dispose()
    deletes = [
        f"DELETE FROM {table.name}"
        for table in reversed(schema.sorted_tables)
        if table.name != "alembic_version"
    ]
    return "; ".join(deletes + restarts)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def other_processes() -> ForkServerContext:
    """Fresh Python processes for tests that play replicas or concurrent writers."""
    return support.other_processes()


def pytest_collection_finish(session: pytest.Session) -> None:
    # What is loaded and collected by now lives as long as the run: out of the garbage
    # collector's way. Its full passes walked it all again, a dozen times for every few
    # hundred tests, some 8% of the run. (Only objects alive now are frozen.)
    gc.collect()
    gc.freeze()
    # The processes' server boots while the first tests run, if any test will need it.
    if any("other_processes" in getattr(item, "fixturenames", ()) for item in session.items):
        support.start_other_processes()


@pytest.fixture
def sandbox(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    """The real bot on a real port, talking to the emulator, in a cast of four."""
    with cast_sandbox(database_url, clock) as box:
        yield box


@contextlib.contextmanager
def cast_sandbox(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    """`database_url` is at the schema's head already: the sandbox need not look. On
    PostgreSQL its connections are the run's, kept from one test to the next (the schema is
    emptied between them): a new connection per test took more of the server's time than
    most tests."""
    with Sandbox(
        database_url,
        clock=clock,
        migrate=False,
        team_id=TEAM,
        team_name="Acme Networks",
        engine=_kept_engine(database_url),
    ) as box:
        add_cast(box.emulator)
        yield box


SaveStory = Callable[[Play[T], datetime | None], SavedStory[T]]


@pytest.fixture(scope="session")
def save_story(
    request: pytest.FixtureRequest, sqlite_dir: Path, postgres_schema_url: str | None
) -> Iterator[SaveStory[Any]]:
    """`save_story(play, start)`: plays a story once in a sandbox of the cast (the clock at
    `start`) and saves what it left, for a module's tests to start from (tests.stories)."""
    saved: list[SavedStory[Any]] = []
    migrated = request.getfixturevalue("migrated_sqlite") if postgres_schema_url is None else None

    def save(play: Play[T], start: datetime | None = None) -> SavedStory[T]:
        folder = Path(tempfile.mkdtemp(prefix="story-", dir=sqlite_dir))
        if migrated is not None:
            shutil.copyfile(migrated, folder / "story.db")
            url = f"sqlite:///{folder / 'story.db'}"
        else:
            assert postgres_schema_url is not None
            _empty(postgres_schema_url)
            url = postgres_schema_url
        clock = ManualClock(start)
        try:
            with cast_sandbox(url, clock) as box:
                story = stories.save(box, clock, play(box, clock), sqlite_dir)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        saved.append(story)
        return story

    yield save
    for story in saved:
        if isinstance(story.database, stories.SavedPostgres):
            assert postgres_schema_url is not None
            story.database.drop(postgres_schema_url)
        else:
            story.database.drop()


def add_cast(emulator: SlackEmulator) -> None:
    """Acme's alice, li and bob, and Globex's wang, zhao and chen, in shared #edge-upgrade."""
    emulator.add_team("T0GLOBEX01", "Globex", "globex")
    emulator.add_user(ALICE, "alice", "Alice Chen")
    emulator.add_user(LI, "li", "Li Na")
    emulator.add_user(WANG, "wang", "Wang Wei", team_id="T0GLOBEX01")
    emulator.add_user(ZHAO, "zhao", "Zhao Lei", team_id="T0GLOBEX01", tz="Europe/London")
    emulator.add_user(BOB, "bob", "Bob Smith", tz="America/New_York")
    emulator.add_user(CHEN, "chen", "陈静", team_id="T0GLOBEX01", locale="zh-CN")
    emulator.add_channel(
        CHANNEL, "edge-upgrade", members=[ALICE, LI, WANG, ZHAO, BOB, CHEN], is_shared=True
    )


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """The Slack emulator alone, for tests that run `sayso serve` as a real process: alice
    (engineer), wang (client) and li (project manager) in #edge-upgrade."""
    with SlackEmulator(team_id=TEAM) as emulator:
        for user_id, name in ((ALICE, "alice"), (WANG, "wang"), (LI, "li")):
            emulator.add_user(user_id, name)
        emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, WANG, LI])
        yield emulator
