from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import make_engine
from bot.emulator import SlackEmulator
from bot.emulator.sandbox import Sandbox
from bot.models import Base
from tests.support import ManualClock, postgres_schema

os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

TEAM = "T0ACME0001"
CHANNEL = "C0EDGE0001"
ALICE, LI, WANG, ZHAO = "U0ALICE001", "U0LI000001", "U0WANG0001", "U0ZHAO0001"
BOB, CHEN = "U0BOB00001", "U0CHEN0001"


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str | None]:
    """On PostgreSQL, a schema of this test run's own, so that two runs (CI and a developer,
    say) sharing one database never drop each other's tables."""
    url = os.environ.get("SAYSO_TEST_DATABASE_URL")
    if not url:
        yield None
        return
    with postgres_schema(url, "sayso_test") as schema_url:
        yield schema_url


@pytest.fixture
def database_url(tmp_path: Path, postgres_schema_url: str | None) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or this run's PostgreSQL schema emptied."""
    if postgres_schema_url is None:
        yield f"sqlite:///{tmp_path / 'sayso-test.db'}"
        return
    _empty(postgres_schema_url)
    yield postgres_schema_url
    _empty(postgres_schema_url)


def _empty(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        # slack_sdk's installation tables (migration 0010) are the library's, not in our models.
        for table in ("alembic_version", "slack_installations", "slack_bots", "slack_oauth_states"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    """The real bot on a real port, talking to the emulator, in a cast of four."""
    with Sandbox(database_url, clock=clock, team_id=TEAM, team_name="Acme Networks") as box:
        add_cast(box.emulator)
        yield box


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
