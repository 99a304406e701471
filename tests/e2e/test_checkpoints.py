"""Daily checkpoints: a day's events sealed into a Merkle root, proofs for single events, and
a rewritten chain caught even when the rewriter recomputed every hash."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from bot import migrate
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger import checkpoints, hashchain, merkle
from bot.ledger.verify import verify
from bot.models import AuditEvent, Checkpoint, Record, Requester, Revision, Workspace
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.e2e.helpers import capture, visible_text
from tests.support import ManualClock, postgres_schema, sayso

OTHER = "T0OTHER001"


def _capture(session_factory, clock: ManualClock, text: str) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        lifecycle.capture(
            session,
            clock.now(),
            Capture(
                team_id=TEAM,
                channel_id=CHANNEL,
                captured_by_id=ALICE,
                requester_ids=(WANG,),
                text=text,
            ),
        )


def test_a_day_is_sealed_and_each_event_proven(database_url: str, clock: ManualClock) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    for i in range(5):
        _capture(session_factory, clock, f"day one, instruction {i}")
        clock.advance(minutes=7)
    clock.advance(days=1)
    _capture(session_factory, clock, "day two")

    with unit_of_work(session_factory) as session:
        assert checkpoints.pending_days(session, TEAM, clock.now()) == [date(2026, 11, 26)]
        sealed = checkpoints.checkpoint(session, TEAM, date(2026, 11, 26), clock.now())
        assert sealed is not None and sealed.size == 5
        assert checkpoints.pending_days(session, TEAM, clock.now()) == []

    with session_factory() as session:
        for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            proof = checkpoints.inclusion(session, event)
            if event.at.date() == date(2026, 11, 27):
                assert proof is None  # today's day is not sealed yet
                continue
            assert proof is not None and proof.size == 5
            # The path leads to the events tree; the published root covers it and the records'.
            assert proof.records_root is not None and proof.records_size == 5
            assert checkpoints.published_root(proof.events_root, proof.records_root) == proof.root
            assert merkle.verify_inclusion(
                bytes.fromhex(event.hash),
                proof.index,
                proof.size,
                [bytes.fromhex(step) for step in proof.proof],
                bytes.fromhex(proof.events_root),
            )
            assert not merkle.verify_inclusion(
                bytes.fromhex(event.prev_hash),
                proof.index,
                proof.size,
                [bytes.fromhex(step) for step in proof.proof],
                bytes.fromhex(proof.events_root),
            )
    engine.dispose()


def test_a_fully_rehashed_rewrite_is_caught_by_the_checkpoint(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    for i in range(3):
        _capture(session_factory, clock, f"instruction {i}")
    clock.advance(days=1)
    with unit_of_work(session_factory) as session:
        checkpoints.checkpoint(session, TEAM, date(2026, 11, 26), clock.now())

    # An insider rewrites instruction 1 and recomputes every later hash and the head.
    with unit_of_work(session_factory) as session:
        session.execute(update(Record).where(Record.number == 2).values(text="something else"))
        prev = hashchain.GENESIS_HASH
        for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            if event.record is not None and event.record.number == 2:
                event.payload = {**event.payload, "text": "something else"}
            event.prev_hash = prev
            event.hash = hashchain.event_hash(event, event.record.number if event.record else None)
            prev = event.hash
        workspace = session.get(Workspace, TEAM)
        assert workspace is not None
        workspace.head_hash = prev

    with session_factory() as session:
        report = verify(session)
    assert not report.ok
    assert report.problem is not None
    assert "checkpoint of 2026-11-26" in report.problem.what
    engine.dispose()


def test_a_checkpoint_row_given_other_roots_is_caught(
    database_url: str, clock: ManualClock
) -> None:
    """Verify rebuilds each sealed day's events tree as the chain goes by, and the newest
    day's records tree once: a stored checkpoint given other roots, even consistent ones,
    shows."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    first, second = date(2026, 11, 26), date(2026, 11, 27)
    for day in (first, second):
        for i in range(2):
            _capture(session_factory, clock, f"instruction {i} of {day}")
        clock.advance(days=1)
        with unit_of_work(session_factory) as session:
            checkpoints.checkpoint(session, TEAM, day, clock.now())

    def verified_after(change: Callable[[Checkpoint, Checkpoint], None]) -> str | None:
        with session_factory() as session:
            change(
                session.get_one(Checkpoint, (TEAM, first)),
                session.get_one(Checkpoint, (TEAM, second)),
            )
            session.flush()
            report = verify(session)
            session.rollback()
        return report.problem.what if report.problem else None

    assert verified_after(lambda older, newest: None) is None
    other = "ab" * 32

    def other_records_tree(older: Checkpoint, newest: Checkpoint) -> None:
        assert newest.events_root is not None
        newest.records_root = other
        newest.root = checkpoints.published_root(newest.events_root, other)

    found = verified_after(other_records_tree)
    assert found is not None and "checkpoint of 2026-11-27" in found
    assert "no longer matches that day's records" in found

    def other_events_tree(older: Checkpoint, newest: Checkpoint) -> None:
        assert older.records_root is not None
        older.events_root = other
        older.root = checkpoints.published_root(other, older.records_root)

    found = verified_after(other_events_tree)
    assert found is not None and "checkpoint of 2026-11-26" in found
    assert "no longer matches that day's events" in found

    def other_root(older: Checkpoint, newest: Checkpoint) -> None:
        older.root = other

    found = verified_after(other_root)
    assert found is not None and "checkpoint of 2026-11-26" in found
    assert "is not the root over its events and records trees" in found
    engine.dispose()


# `sayso serve` seals the days itself, and `sayso verify --against` checks a published
# checkpoint against the events as the database holds them now.

DIGESTS = "C0DIGEST01"


def _published(session_factory, day: date) -> str:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        made = session.get(Checkpoint, (TEAM, day))
        assert made is not None, f"{day} has no checkpoint"
        return f"{made.day}:{made.size}:{made.root}"


@pytest.fixture
def digest_box(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    settings = {"digest_timezone": "Asia/Shanghai", "digest_channel": DIGESTS}
    with Sandbox(database_url, clock=clock, settings=settings, team_id=TEAM) as box:
        for user, name in ((ALICE, "alice"), (WANG, "wang")):
            box.emulator.add_user(user, name)
        box.emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, WANG])
        box.emulator.add_channel(DIGESTS, "sayso-digest", members=[ALICE])
        yield box


def test_the_schedule_pass_seals_yesterday_and_the_digest_publishes_it(
    digest_box: Sandbox, clock: ManualClock, database_url: str
) -> None:
    box = digest_box
    assert box.runtime is not None
    capture(box, ALICE, WANG, "open port 443 on fw-2")
    capture(box, ALICE, WANG, "drain edge-3")
    clock.advance(hours=15, minutes=30)  # Friday 09:00 in Shanghai, 01:00 UTC: Thursday is over
    box.emulator.clear_calls()

    box.runtime.tick()  # what `sayso serve` runs every minute
    box.settle()

    with box.runtime.session_factory() as session:
        made = session.execute(select(Checkpoint)).scalars().all()
    assert [(c.team_id, c.day) for c in made] == [(TEAM, date(2026, 11, 26))]
    published = f"2026-11-26:{made[0].size}:{made[0].root}"
    assert made[0].size >= 2 and len(made[0].root) == 64
    (summary,) = box.emulator.messages(DIGESTS)
    assert published in visible_text(summary)
    assert "sayso verify --against" in visible_text(summary)
    assert "Ledger head" not in visible_text(summary)
    dms = [
        c.params for c in box.emulator.calls("chat.postMessage") if c.params["channel"][0] == "D"
    ]
    # Published once, in the channel: the owners' DMs do not repeat it.
    assert dms and not any(published in str(dm["blocks"]) for dm in dms)

    clock.advance(minutes=1)
    box.runtime.tick()  # sealing again changes nothing
    with box.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Checkpoint)) == 1
    checked = sayso(database_url, "verify", "--against", published)
    assert checked.exit_code == 0, checked.output
    assert f"OK: {published}" in checked.output


def _tick_in_another_process(database_url: str, now: str) -> list[str]:
    """One replica's schedule pass; what it logged at WARNING or above."""
    import logging

    from bot.app import build_runtime
    from bot.config import Settings

    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            # Slack is not there (no emulator): its calls' failures are not the point here.
            if record.exc_info or not record.name.startswith(("slack_sdk", "bot.slack.directory")):
                logged.append(record.getMessage() + (" (traceback)" if record.exc_info else ""))

    logging.getLogger().addHandler(Keep(logging.WARNING))
    settings = Settings(
        database_url=database_url, slack_bot_token="xoxb-x", slack_signing_secret="s"
    )
    runtime = build_runtime(settings, TEAM, ManualClock(datetime.fromisoformat(now)))
    try:
        runtime.tick()
    finally:
        runtime.close()
    return logged


def test_replicas_sealing_at_once_make_each_checkpoint_once(
    database_url: str, clock: ManualClock, other_processes: ForkServerContext
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    for day in range(4):
        for i in range(3):
            _capture(session_factory, clock, f"day {day}, instruction {i}")
        clock.advance(days=1)
    with other_processes.Pool(4) as pool:
        logged = pool.starmap(
            _tick_in_another_process, [(database_url, clock.now().isoformat())] * 4
        )
    assert logged == [[]] * 4
    with session_factory() as session:
        days = session.execute(select(Checkpoint.day).order_by(Checkpoint.day)).scalars().all()
        assert days == [date(2026, 11, 26 + i) for i in range(4)]
        assert verify(session).ok
    engine.dispose()


def _three_sealed_days(session_factory, clock: ManualClock) -> list[str]:  # type: ignore[no-untyped-def]
    """Records captured on 26, 27 and 28 November, each day sealed the next: what the digests
    published, one value per day."""
    for day in range(3):
        for i in range(2):
            _capture(session_factory, clock, f"day {day}, instruction {i}")
        clock.advance(days=1)
        with unit_of_work(session_factory) as session:
            for pending in checkpoints.pending_days(session, TEAM, clock.now()):
                checkpoints.checkpoint(session, TEAM, pending, clock.now())
    return [_published(session_factory, date(2026, 11, 26 + day)) for day in range(3)]


def test_verify_against_passes_while_the_database_holds_what_was_published(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    published = _three_sealed_days(make_session_factory(engine), clock)

    by_day = sayso(database_url, "verify", *[arg for p in published for arg in ("--against", p)])
    assert by_day.exit_code == 0, by_day.output
    for value in published:
        assert f"OK: {value}" in by_day.output
    # As the digest shows it (in backticks), or without the day: found by size and root.
    size_and_root = published[1].split(":", 1)[1]
    for value in (f"`{published[1]}`", size_and_root):
        result = sayso(database_url, "verify", "--against", value)
        assert result.exit_code == 0, result.output
        assert "2026-11-27" in result.output
    as_json = sayso(database_url, "verify", "--json", "--against", published[2])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.output)
    assert report["ok"] is True
    (against,) = report["against"]
    assert against["ok"] and against["day"] == "2026-11-28" and against["team_id"] == TEAM
    engine.dispose()


def test_verify_against_catches_the_newest_events_cut_off(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    published = _three_sealed_days(session_factory, clock)

    # An insider cuts off the last day: its records, their events and its checkpoint, and
    # moves the workspace's head back. The chain alone still verifies.
    with unit_of_work(session_factory) as session:
        last_kept = session.execute(
            select(AuditEvent)
            .where(AuditEvent.at < datetime(2026, 11, 28, tzinfo=UTC))
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).scalar_one()
        cut = select(Record.id).where(Record.created_at >= datetime(2026, 11, 28, tzinfo=UTC))
        for table in (Requester, Revision, AuditEvent):
            session.execute(delete(table).where(table.record_id.in_(cut)))
        session.execute(delete(Record).where(Record.id.in_(cut)))
        session.execute(delete(Checkpoint).where(Checkpoint.day == date(2026, 11, 28)))
        session.execute(
            update(Workspace).values(
                last_event_seq=last_kept.seq, head_hash=last_kept.hash, last_record_number=4
            )
        )
    assert sayso(database_url, "verify").exit_code == 0

    result = sayso(database_url, "verify", "--against", published[2])
    assert result.exit_code == 1, result.output
    assert f"NOT IN THE LEDGER: {published[2]}" in result.output
    assert "no event of 2026-11-28 is left" in result.output
    # Against the day before, it holds: the cut came after it.
    assert sayso(database_url, "verify", "--against", published[1]).exit_code == 0
    without_day = sayso(database_url, "verify", "--against", published[2].split(":", 1)[1])
    assert without_day.exit_code == 1, without_day.output
    engine.dispose()


@pytest.fixture
def older_copy_url(tmp_path: Path, postgres_schema_url: str | None) -> Iterator[str]:
    """A second, empty database, where an older copy of the ledger is restored."""
    if postgres_schema_url is None:
        yield f"sqlite:///{tmp_path / 'older.db'}"
        return
    with postgres_schema(os.environ["SAYSO_TEST_DATABASE_URL"], "sayso_older") as url:
        yield url


def test_verify_against_catches_a_rollback_to_an_older_copy(
    database_url: str, older_copy_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    _capture(session_factory, clock, "on Thursday")
    clock.advance(days=1)
    with unit_of_work(session_factory) as session:
        checkpoints.checkpoint(session, TEAM, date(2026, 11, 26), clock.now())
    _capture(session_factory, clock, "on Friday, before the copy")
    backup_file = tmp_path / "friday.jsonl"
    assert (
        sayso(
            database_url, "export", "--all", "--format", "jsonl", "-o", str(backup_file)
        ).exit_code
        == 0
    )
    _capture(session_factory, clock, "on Friday, after the copy")
    clock.advance(days=1)
    with unit_of_work(session_factory) as session:
        checkpoints.checkpoint(session, TEAM, date(2026, 11, 27), clock.now())
    thursday = _published(session_factory, date(2026, 11, 26))
    friday = _published(session_factory, date(2026, 11, 27))

    # The whole database goes back to Friday's copy, checkpoints and all.
    migrate.upgrade(older_copy_url)
    assert sayso(older_copy_url, "import", str(backup_file)).exit_code == 0
    assert sayso(older_copy_url, "verify").exit_code == 0

    result = sayso(older_copy_url, "verify", "--against", thursday, "--against", friday)
    assert result.exit_code == 1, result.output
    assert f"OK: {thursday}" in result.output
    assert f"NOT IN THE LEDGER: {friday}" in result.output
    assert "2026-11-27 now gives size 1" in result.output
    engine.dispose()


def test_verify_against_catches_a_rewrite_with_checkpoints_made_again(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    published = _three_sealed_days(session_factory, clock)

    # An insider rewrites a record, recomputes every hash and the head, and seals the days
    # again: the database is consistent with itself, not with what Slack shows.
    with unit_of_work(session_factory) as session:
        session.execute(update(Record).where(Record.number == 2).values(text="something else"))
        session.execute(
            update(Revision)
            .values(text="something else")
            .where(Revision.record_id.in_(select(Record.id).where(Record.number == 2)))
        )
        prev = hashchain.GENESIS_HASH
        heads: dict[int, str] = {}
        for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            if event.record is not None and event.record.number == 2:
                event.payload = {**event.payload, "text": "something else"}
            if event.record_id is not None and event.record_prev is not None:
                event.record_prev = heads.get(event.record_id, hashchain.GENESIS_HASH)
            event.prev_hash = prev
            event.hash = hashchain.event_hash(event, event.record.number if event.record else None)
            prev = event.hash
            if event.record_id is not None:
                heads[event.record_id] = event.hash
        session.execute(update(Workspace).values(head_hash=prev))
        session.execute(delete(Checkpoint))
    with unit_of_work(session_factory) as session:
        for pending in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, pending, clock.now())
    assert sayso(database_url, "verify").exit_code == 0

    result = sayso(database_url, "verify", "--against", published[0], "--against", published[2])
    assert result.exit_code == 1, result.output
    assert f"NOT IN THE LEDGER: {published[0]}" in result.output
    assert f"NOT IN THE LEDGER: {published[2]}" in result.output  # its records tree changed
    engine.dispose()


def test_verify_against_a_checkpoint_made_before_records_trees(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    _three_sealed_days(session_factory, clock)
    # A checkpoint of an older Sayso published the events tree's root alone.
    with unit_of_work(session_factory) as session:
        made = session.get(Checkpoint, (TEAM, date(2026, 11, 27)))
        assert made is not None and made.events_root is not None
        made.root, made.records_root, made.records_size = made.events_root, None, None
        legacy = f"{made.day}:{made.size}:{made.root}"
    result = sayso(database_url, "verify", "--against", legacy)
    assert result.exit_code == 0, result.output
    assert f"OK: {legacy}" in result.output


@pytest.mark.parametrize(
    "value",
    ["nonsense", "5:abc", "0:" + "ab" * 32, "2026-13-01:5:" + "ab" * 32, "5:" + "zz" * 32, ""],
)
def test_verify_against_refuses_a_malformed_value(database_url: str, value: str) -> None:
    migrate.upgrade(database_url)
    result = sayso(database_url, "verify", "--against", value)
    assert result.exit_code == 2, result.output
    assert "--against" in result.output and "SIZE:ROOT" in result.output


def test_verify_against_names_the_workspace_when_several_share_the_database(
    database_url: str, clock: ManualClock
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    published = _three_sealed_days(session_factory, clock)
    with unit_of_work(session_factory) as session:
        lifecycle.capture(
            session,
            clock.now() - timedelta(days=1),
            Capture(
                team_id=OTHER,
                channel_id=CHANNEL,
                captured_by_id=ALICE,
                requester_ids=(WANG,),
                text="elsewhere",
            ),
        )
        checkpoints.checkpoint(session, OTHER, date(2026, 11, 28), clock.now())

    found = sayso(database_url, "verify", "--against", published[2])
    assert found.exit_code == 0 and TEAM in found.output, found.output
    elsewhere = sayso(database_url, "verify", "--against", published[2], "--team", OTHER)
    assert elsewhere.exit_code == 1, elsewhere.output
    assert f"NOT IN THE LEDGER: {published[2]}" in elsewhere.output
    unknown = sayso(database_url, "verify", "--against", published[2], "--team", "T0NOBODY01")
    assert unknown.exit_code == 2, unknown.output
    engine.dispose()


def test_a_replica_that_loses_the_race_to_seal_a_day_moves_on(
    database_url: str, clock: ManualClock
) -> None:
    """Another replica inserts the day's checkpoint after this one looked for it and before
    its own insert: the key refuses the second, and the pass goes on without an error."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    _capture(session_factory, clock, "on Thursday")
    clock.advance(days=1)
    other = make_engine(database_url)  # the other replica
    winner = make_session_factory(other)()
    winner.begin()
    if other.dialect.name == "sqlite":
        winner.execute(text("SELECT 1"))  # holds the write lock from here (BEGIN IMMEDIATE)
    checkpoints.checkpoint(winner, TEAM, date(2026, 11, 26), clock.now())
    winner.flush()  # inserted, not committed: the loser's insert waits on it

    sealed: list[list[Checkpoint]] = []
    loser = threading.Thread(
        target=lambda: sealed.append(checkpoints.seal(session_factory, TEAM, clock.now()))
    )
    loser.start()
    if other.dialect.name == "postgresql":
        with other.connect() as watching:
            for _ in range(500):  # until the loser's insert waits on the winner's row
                waiting = watching.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'INSERT INTO checkpoints%'"
                    )
                ).scalar_one()
                if waiting:
                    break
                watching.rollback()
                loser.join(0.02)
            assert waiting, "the loser never reached its insert"
    winner.commit()
    winner.close()
    loser.join(30)
    assert sealed == [[]]  # it made none, and raised nothing
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Checkpoint)) == 1
    other.dispose()
    engine.dispose()
