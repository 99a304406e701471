"""The outbox's own rules, with a fake delivery at the edge (no Slack needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import migrate
from bot.clock import SystemClock
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger.verify import verify
from bot.models import OutboxMessage, Record
from bot.outbox import queue
from bot.outbox.dispatcher import OutboxDispatcher
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from bot.slack.gateway import DeliveryError
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.support import ManualClock


@pytest.fixture
def session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """An empty database at the migrations' head, without Slack."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_messages_backing_off_never_hide_the_ones_behind_them(
    session_factory: sessionmaker[Session], clock: ManualClock
) -> None:
    _numbered_messages(session_factory, clock, 60)
    delivered: list[int] = []

    def deliver(message: OutboxMessage) -> None:
        if message.payload["n"] < 55:  # the oldest 55 keep failing (Slack refuses them)
            raise DeliveryError("internal_error")
        delivered.append(message.payload["n"])

    dispatcher = OutboxDispatcher(session_factory, deliver, clock)
    dispatcher.deliver_due()
    assert delivered == [55, 56, 57, 58, 59]
    with session_factory() as session:
        waiting = (
            session.execute(select(OutboxMessage).where(OutboxMessage.delivered_at.is_(None)))
            .scalars()
            .all()
        )
    assert len(waiting) == 55 and all(m.attempts == 1 for m in waiting)


def test_a_records_messages_keep_their_order(
    session_factory: sessionmaker[Session], clock: ManualClock
) -> None:
    with unit_of_work(session_factory) as session:
        record = _captured(session, clock, "x")
        for part in ("card", "reply"):
            queue.enqueue(
                session,
                clock.now(),
                team_id=TEAM,
                kind="thread_reply",
                payload={"part": part},
                record_id=record.id,
            )
    attempts: list[str] = []

    def deliver(message: OutboxMessage) -> None:
        attempts.append(message.payload["part"])
        if message.payload["part"] == "card" and attempts.count("card") == 1:
            raise DeliveryError("internal_error")

    dispatcher = OutboxDispatcher(session_factory, deliver, clock)
    dispatcher.deliver_due()
    assert attempts == ["card"]  # the reply waits behind the card it follows
    clock.advance(seconds=1)
    dispatcher.deliver_due()
    assert attempts == ["card", "card", "reply"]


def test_many_records_held_up_never_hide_another_records_message(
    session_factory: sessionmaker[Session], clock: ManualClock
) -> None:
    """Channels whose cards Slack refuses (the bot was removed) hold up their records' later
    messages; however many there are, another record's message still goes out."""
    with unit_of_work(session_factory) as session:
        for n in range(61):
            record = _captured(session, clock, f"instruction {n}")
            parts = ("card", "refresh") if n < 60 else ("card",)
            for part in parts:
                queue.enqueue(
                    session,
                    clock.now(),
                    team_id=TEAM,
                    kind="thread_reply",
                    payload={"n": n, "part": part},
                    record_id=record.id,
                )
    attempts: list[tuple[int, str]] = []

    def deliver(message: OutboxMessage) -> None:
        attempts.append((message.payload["n"], message.payload["part"]))
        if message.payload["n"] < 60:
            raise DeliveryError("not_in_channel", needs_person=True)

    OutboxDispatcher(session_factory, deliver, clock).deliver_due()
    assert attempts == [(n, "card") for n in range(61)]  # no refresh overtook its card


def _captured(session: Session, clock: ManualClock, text: str) -> Record:
    """Alice's record of an instruction from Wang, stored without any Slack message."""
    capture = Capture(
        team_id=TEAM, channel_id=CHANNEL, captured_by_id=ALICE, requester_ids=(WANG,), text=text
    )
    return lifecycle.capture(session, clock.now(), capture)


def test_delivered_messages_are_kept_a_week_then_the_schedule_prunes_them(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    assert sandbox.driver is not None and sandbox.runtime is not None
    runtime = sandbox.runtime
    sandbox.driver.command(ALICE, CHANNEL, f"<@{WANG}|wang> lower the MTU to 1400 on edge-7")
    sandbox.settle()
    with unit_of_work(runtime.session_factory) as session:
        refused = queue.enqueue(
            session, clock.now(), team_id=TEAM, kind="ephemeral", payload={"why": "refused"}
        )
        refused.failed_at = clock.now()

    def outbox_rows() -> tuple[set[int], set[int]]:
        with runtime.session_factory() as session:
            rows = session.execute(select(OutboxMessage)).scalars().all()
        return {m.id for m in rows if m.delivered_at}, {m.id for m in rows if m.failed_at}

    delivered, failed = outbox_rows()
    assert delivered and len(failed) == 1
    # The pass may queue reminders of its own, delivered at the new time: only the
    # messages of the first day are followed.
    clock.advance(days=6, hours=23)
    runtime.tick()
    sandbox.settle()
    still_delivered, still_failed = outbox_rows()
    assert delivered <= still_delivered and still_failed == failed  # still within the week
    clock.advance(hours=2)
    runtime.tick()
    sandbox.settle()
    still_delivered, still_failed = outbox_rows()
    assert not delivered & still_delivered and still_failed == failed  # failed ones stay
    with runtime.session_factory() as session:
        record = lifecycle.get(session, TEAM, 1)
        assert record.card_ts is not None and record.request_ts is not None
        assert verify(session).ok  # bookkeeping only: records and their history untouched


def test_a_claim_that_fails_does_not_lose_the_delivery_before_it(
    session_factory: sessionmaker[Session], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcome of a delivery and the next claim share a transaction; if the claim fails
    (a dropped connection), the delivery is still recorded, so it is never sent again."""
    _numbered_messages(session_factory, clock, 2)
    sent: list[int] = []
    dispatcher = OutboxDispatcher(session_factory, lambda m: sent.append(m.payload["n"]), clock)
    claim, claims = dispatcher._claim_next, 0

    def flaky_claim(session: Session, now: datetime) -> OutboxMessage | None:
        nonlocal claims
        claims += 1
        if claims == 2:
            raise OperationalError("claim", {}, ConnectionError("server closed the connection"))
        return claim(session, now)

    monkeypatch.setattr(dispatcher, "_claim_next", flaky_claim)
    with pytest.raises(OperationalError):
        dispatcher.deliver_due()
    with session_factory() as session:
        first, second = session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        assert first.delivered_at is not None and first.lease_until is None
        assert second.attempts == 0 and second.delivered_at is None
    dispatcher.deliver_due()
    assert sent == [0, 1]


def test_a_retry_goes_out_when_its_backoff_ends_not_at_the_next_poll(
    session_factory: sessionmaker[Session],
) -> None:
    clock = SystemClock()
    with unit_of_work(session_factory) as session:
        queue.enqueue(session, clock.now(), team_id=TEAM, kind="ephemeral", payload={"n": 0})
    attempts: list[datetime] = []
    retried = threading.Event()

    def deliver(message: OutboxMessage) -> None:
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise DeliveryError("ratelimited", retry_after=0.05)
        retried.set()

    # Polling once a minute: only the end of the backoff can bring the retry this soon.
    dispatcher = OutboxDispatcher(session_factory, deliver, clock, poll_interval=60)
    dispatcher.start()
    try:
        assert retried.wait(10), "the retry waited for the next poll"
    finally:
        dispatcher.stop()
    assert (attempts[1] - attempts[0]).total_seconds() >= 0.05


def _numbered_messages(
    session_factory: sessionmaker[Session], clock: ManualClock, count: int
) -> None:
    """`count` ephemeral messages of no record, numbered in their payload from 0."""
    with unit_of_work(session_factory) as session:
        for n in range(count):
            queue.enqueue(session, clock.now(), team_id=TEAM, kind="ephemeral", payload={"n": n})
