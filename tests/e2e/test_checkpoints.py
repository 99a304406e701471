"""Daily checkpoints: a day's events sealed into a Merkle root, proofs for single events, and
a rewritten chain caught even when the rewriter recomputed every hash."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update

from bot import checkpoints, ledger, merkle, migrate, records
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.models import AuditEvent, Record, Workspace
from bot.records import Capture
from bot.verify import verify
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.support import ManualClock


def _capture(session_factory, clock: ManualClock, text: str) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        records.capture(
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
        prev = ledger.GENESIS_HASH
        for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            if event.record is not None and event.record.number == 2:
                event.payload = {**event.payload, "text": "something else"}
            event.prev_hash = prev
            event.hash = ledger.event_hash(event, event.record.number if event.record else None)
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
