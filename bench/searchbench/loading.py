"""The database: made and migrated, the workspace's records written in bulk, then ANALYZE.

Records are written with Core's executemany in batches, not through the ORM, with the rows
the record lifecycle leaves: the record, its requesters and its first revision. Ids follow
creation (one record a minute), so the newest record has the highest id. Two parts of the
schema are used only where the code has them, so the same benchmark measures the search
before and after its rewrite:

- `bot.records.search.indexed_columns(text)`: columns derived from the text for its
  index, merged into each record's row;
- `bot.models.ChannelMember`: who is in which channel, written from the generated membership.

On PostgreSQL everything goes into a schema of its own, `sayso_bench_search`, dropped and made
again at the start (unless --reuse finds it loaded) and dropped at the end unless --keep.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.sql.sqltypes import DateTime

from bot import migrate, models
from bot.db import make_engine
from bot.ledger import hashchain
from bot.models import Record, Requester, Revision, Workspace
from bot.records import search

from . import TEAM, log, texts
from .people import Population

PG_SCHEMA = "sayso_bench_search"
BATCH = 10_000
FIRST_AT = datetime(2025, 1, 6, 8, tzinfo=UTC)
EVERY = timedelta(minutes=1)  # 1,000,000 records span almost two years
# Shares as in real use: most records confirmed and then done, some still waiting.
STATUSES = (
    ("done", 45), ("confirmed", 28), ("pending", 10), ("rejected", 6),
    ("cancelled", 4), ("expired", 4), ("withdrawn", 3),
)  # fmt: skip
RISKS = (("none", 70), ("low", 14), ("medium", 11), ("high", 5))
KINDS = (("instruction", 85), ("decision", 10), ("minutes", 5))
SOURCES = (("command", 70), ("modal", 20), ("shortcut", 10))
DECIDED = ("confirmed", "done", "rejected")
COUNTED = ("please", "负载均衡", "规则")


def created_at(number: int) -> datetime:
    return FIRST_AT + number * EVERY


@dataclass
class Database:
    url: str
    drop: Callable[[], None] | None  # PostgreSQL's schema, at the end


def postgres(url: str, fresh: bool) -> Database:
    """A URL whose connections use the bench's own schema (made afresh if `fresh`)."""
    base = make_url(url)
    if base.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must be postgresql+psycopg://..., not {base}")
    admin = create_engine(base)

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))

    if fresh:
        drop()
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
            # Alembic's table made here, in the schema: with `public` on the search path
            # alembic would otherwise find another run's public.alembic_version.
            connection.execute(
                text(
                    f"CREATE TABLE {PG_SCHEMA}.alembic_version (version_num VARCHAR(32) NOT"
                    " NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
                )
            )
    # `public` second: the migrations find pg_trgm there.
    scoped = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA},public"})
    return Database(scoped.render_as_string(hide_password=False), drop)


def stored_records(url: str) -> int:
    """How many records a database already holds: 0 if it has no schema yet, or one that
    this code's migrations have not brought to their head (its derived columns and tables
    may be missing, or left empty)."""
    engine = create_engine(url)
    # On PostgreSQL, the bench's own schema only: not a `records` found further on the path.
    schema = PG_SCHEMA if engine.dialect.name == "postgresql" else None
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("records", schema=schema):
                return 0
            if migrate.applied(connection) != migrate.heads():
                return 0
            table = Record.__table__.to_metadata(MetaData(), schema=schema)
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


@dataclass
class Loaded:
    seconds: float
    generating_seconds: float
    analyze_seconds: float
    analyzed: str
    containing: Counter[str]  # records containing each counted word
    derived_columns: bool
    memberships: int | None  # rows written to ChannelMember, if the schema has it


def load(url: str, population: Population, records: int, seed: int) -> Loaded:
    migrate.upgrade(url)
    engine = make_engine(url)
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            insert(Workspace).values(
                team_id=TEAM,
                last_record_number=records,
                last_event_seq=0,
                head_hash=hashchain.GENESIS_HASH,
                created_at=FIRST_AT,
            )
        )
        memberships = _write_membership(connection, population)
    rows = Rows(population, records, seed)
    generating = 0.0
    for first in range(1, records + 1, BATCH):
        started = time.perf_counter()
        batch = rows.batch(first, min(first + BATCH - 1, records))
        generating += time.perf_counter() - started
        with engine.begin() as connection:
            connection.execute(insert(Record), batch.records)
            connection.execute(insert(Requester), batch.requesters)
            connection.execute(insert(Revision), batch.revisions)
        if (first // BATCH) % 20 == 19 or first + BATCH > records:
            done = min(first + BATCH - 1, records)
            log(f"  {done:,} records written ({time.perf_counter() - began:.0f} s)")
    written = time.perf_counter() - began
    started = time.perf_counter()
    analyzed = _analyze(engine)
    analyze_seconds = time.perf_counter() - started
    engine.dispose()
    return Loaded(
        written,
        generating,
        analyze_seconds,
        analyzed,
        rows.containing,
        rows.derive is not None,
        memberships,
    )


def _write_membership(connection: Any, population: Population) -> int | None:
    member_model = getattr(models, "ChannelMember", None)
    if member_model is None:
        return None
    table = member_model.__table__
    given = {"team_id", "channel_id", "user_id"}
    # Whatever else the table requires and can be told from its type: when it was learnt.
    extra = {
        column.name: FIRST_AT
        for column in table.columns
        if column.name not in given
        and not column.nullable
        and column.default is None
        and column.server_default is None
        and isinstance(column.type, DateTime)
    }
    rows = [
        {"team_id": TEAM, "channel_id": channel, "user_id": person, **extra}
        for channel, people in population.members.items()
        for person in people
    ]
    connection.execute(insert(table), rows)
    return len(rows)


def _analyze(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
        return "ANALYZE"
    # VACUUM too: it also moves the GIN index's pending entries into the index, and so no
    # autovacuum of the million new rows runs in the middle of the timing.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in inspect(connection).get_table_names(schema=PG_SCHEMA):
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {PG_SCHEMA}.{table}")
    return f"VACUUM (ANALYZE) of each table in {PG_SCHEMA}"


@dataclass
class Batch:
    records: list[dict[str, Any]]
    requesters: list[dict[str, Any]]
    revisions: list[dict[str, Any]]


class Rows:
    """The records, generated in order: each captured in a channel by one of its members,
    with 1-2 requesters and an owner from the same channel. Busier channels (more members)
    get more records."""

    def __init__(self, population: Population, records: int, seed: int) -> None:
        self._population = population
        self._rng = random.Random(seed)
        self._write = texts.writer(self._rng, records)
        self._channels = population.channels
        self._channel_weights = list(
            itertools.accumulate(len(population.members[c]) ** 0.8 for c in self._channels)
        )
        self.derive: Callable[[str], dict[str, object]] | None = getattr(
            search, "indexed_columns", None
        )
        self.containing: Counter[str] = Counter()

    def batch(self, first: int, last: int) -> Batch:
        rng = self._rng
        batch = Batch([], [], [])
        count = last - first + 1
        channels = rng.choices(self._channels, cum_weights=self._channel_weights, k=count)
        for number, channel in zip(range(first, last + 1), channels, strict=True):
            members = self._population.members[channel]
            capturer = rng.choice(members)
            requesters: list[str] = []
            wanted = 1 if rng.random() < 0.7 else 2
            while len(requesters) < wanted:
                person = rng.choice(members)
                if person != capturer and person not in requesters:
                    requesters.append(person)
            pick = rng.random()
            owner = (
                capturer if pick < 0.6 else requesters[0] if pick < 0.85 else rng.choice(members)
            )
            status = _pick(rng, STATUSES)
            risk = _pick(rng, RISKS)
            wording = self._write()
            lowered = wording.lower()
            for word in COUNTED:
                if word in lowered:
                    self.containing[word] += 1
            at = created_at(number)
            decided = at + timedelta(minutes=20) if status in DECIDED else None
            ts = f"{int(at.timestamp())}.{number % 1_000_000:06d}"
            record = {
                "id": number,
                "team_id": TEAM,
                "number": number,
                "kind": _pick(rng, KINDS),
                "status": status,
                "text": wording,
                "revision": 1,
                "captured_by_id": capturer,
                "owner_id": owner,
                "risk": risk,
                "risk_note": "may drop traffic for 5 min" if risk in ("medium", "high") else None,
                "due_at": at + timedelta(days=3) if rng.random() < 0.3 else None,
                "source": _pick(rng, SOURCES),
                "channel_id": channel,
                "thread_ts": ts,
                "card_ts": ts,
                "request_ts": ts,
                "created_at": at,
                "decided_at": decided,
                "decided_by_id": requesters[0] if decided else None,
            }
            if self.derive is not None:
                record.update(self.derive(wording))
            batch.records.append(record)
            for position, person in enumerate(requesters):
                answer = _answer(status, position)
                batch.requesters.append(
                    {
                        "record_id": number,
                        "user_id": person,
                        "position": position,
                        "answer": answer,
                        "answered_at": decided if answer != "pending" else None,
                        "answered_revision": 1 if answer != "pending" else None,
                        "answered_via": "button" if answer != "pending" else None,
                    }
                )
            batch.revisions.append(
                {
                    "record_id": number,
                    "number": 1,
                    "text": wording,
                    "author_id": capturer,
                    "created_at": at,
                }
            )
        return batch


def _pick(rng: random.Random, shares: tuple[tuple[str, int], ...]) -> str:
    draw = rng.randrange(sum(share for _, share in shares))
    for value, share in shares:
        if draw < share:
            return value
        draw -= share
    raise AssertionError("shares add up")


def _answer(status: str, position: int) -> str:
    if status in ("confirmed", "done"):
        return "confirmed"
    if status == "rejected":
        return "rejected" if position == 0 else "pending"
    return "pending"
