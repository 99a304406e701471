"""Captures and button presses accepted before the ack and carried out right after it
(`intake`): the ack's promise holds across a crash, and nothing is done twice."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from bot.app import build_runtime
from bot.db import _COMMIT_GROUPS, DriverTransaction, commit_together, transaction, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger.verify import verify
from bot.models import AuditEvent, OutboxMessage, Record
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from tests.conftest import ALICE, CHANNEL, LI, TEAM, WANG, add_cast
from tests.e2e.helpers import buttons, card, record_json, request
from tests.support import ManualClock

INSTRUCTION = "reboot edge-3 after 22:00"


@pytest.fixture
def paused(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    """The bot with its outbox run only when the test says so."""
    with Sandbox(database_url, clock=clock, team_id=TEAM, dispatch=False) as box:
        add_cast(box.emulator)
        yield box


def _jobs(box: Sandbox, kind: JobKind) -> list[OutboxMessage]:
    assert box.runtime is not None
    with box.runtime.session_factory() as session:
        found = select(OutboxMessage).where(OutboxMessage.kind == kind.value)
        return list(session.execute(found).scalars())


def _all_records(box: Sandbox) -> list[dict[str, Any]]:
    assert box.runtime is not None
    with box.runtime.session_factory() as session:
        return [lifecycle.as_dict(r) for r in lifecycle.list_records(session)]


def _command(box: Sandbox, text: str) -> str:
    assert box.driver is not None
    response = box.driver.command(ALICE, CHANNEL, f"{box.driver.mention(WANG)} {text}")
    assert response.status == 200, response.body
    return str(response.json()["text"])


def test_an_acked_capture_is_stored_after_a_crash_that_came_before_it_was(
    paused: Sandbox, clock: ManualClock
) -> None:
    assert paused.runtime is not None
    assert _command(paused, INSTRUCTION) == f"Recorded #1, waiting for <@{WANG}>."
    # Acked: the number and the capture are on disk, the record not yet, and then the power
    # goes. Another process on the same database carries it out.
    with paused.runtime.session_factory() as session:
        assert session.execute(select(Record)).first() is None
    assert len(_jobs(paused, JobKind.CAPTURE)) == 1
    restarted = build_runtime(paused.settings, TEAM, clock)
    try:
        restarted.dispatcher.deliver_due()
    finally:
        restarted.close(drain_seconds=0)
    stored = record_json(paused, 1)
    assert stored["text"] == INSTRUCTION and stored["requesters"][0]["user_id"] == WANG
    assert card(paused, 1)["text"].startswith("Instruction #1 from")
    assert len(paused.emulator.messages(CHANNEL)) == 1  # one card, and one request in its thread
    assert (
        len(_jobs(paused, JobKind.CAPTURE)) == 1 and _jobs(paused, JobKind.CAPTURE)[0].delivered_at
    )
    # Numbering goes on from the reserved number.
    assert _command(paused, "and drain edge-4 first") == f"Recorded #2, waiting for <@{WANG}>."
    with paused.runtime.session_factory() as session:
        assert verify(session).ok


def test_a_delivery_taken_over_midway_stores_each_step_once(
    paused: Sandbox, clock: ManualClock
) -> None:
    """Another dispatcher took the card's job over (it thought this one dead) while this one
    waited for Slack to answer its request post: both go on to store the request's ts, and
    the record is posted once, in the history and in Slack."""
    runtime = paused.runtime
    assert runtime is not None
    _command(paused, INSTRUCTION)
    taken_over: list[OutboxMessage] = []

    def take_over(call: Any) -> None:
        # Slack has the request (its post is published before it is answered), this
        # dispatcher has not heard back yet.
        if call.method != "chat.postMessage" or "thread_ts" not in call.params or taken_over:
            return
        (job,) = [j for j in _jobs(paused, JobKind.POST_RECORD) if j.delivered_at is None]
        taken_over.append(replace_attempts(job, job.attempts + 1))
        runtime.workspaces.deliver(taken_over[0])

    unsubscribe = paused.emulator.subscribe(take_over)
    try:
        runtime.dispatcher.deliver_due()
    finally:
        unsubscribe()
    assert taken_over, "the request was never posted"
    (posted,) = paused.emulator.messages(CHANNEL)
    assert len(paused.emulator.thread(CHANNEL, posted["ts"])) == 1
    asked = request(paused, 1)
    with runtime.session_factory() as session:
        kinds = session.execute(select(AuditEvent.type).order_by(AuditEvent.seq)).scalars()
        assert list(kinds) == ["captured", "card_posted"]
        assert verify(session).ok
        stored = session.get(Record, 1)
        assert stored is not None and stored.request_ts == asked["ts"]


def replace_attempts(job: OutboxMessage, attempts: int) -> OutboxMessage:
    """A detached copy of `job`, as another dispatcher's claim would have returned it."""
    columns = {c.key: getattr(job, c.key) for c in OutboxMessage.__table__.columns}
    return OutboxMessage(**{**columns, "attempts": attempts})


def test_a_press_applied_before_a_crash_is_not_applied_again(
    paused: Sandbox, clock: ManualClock
) -> None:
    """The dispatcher died after applying a Confirm, before it could record the job as done:
    when its lease runs out, the job is not taken up again (it was marked done with the
    change), so wang is not told he had already answered, and the history has one answer."""
    runtime, driver = paused.runtime, paused.driver
    assert runtime is not None and driver is not None
    _command(paused, INSTRUCTION)
    runtime.dispatcher.deliver_due()
    asked = request(paused, 1)
    assert driver.click(WANG, CHANNEL, asked["ts"], buttons(asked)["Confirm"]).status == 200
    (job,) = _jobs(paused, JobKind.CLICK)
    assert job.delivered_at is None
    runtime.workspaces.deliver(job)  # carried out; the dispatcher dies before settling it
    clock.advance(hours=1)
    runtime.dispatcher.deliver_due()
    assert record_json(paused, 1)["status"] == "confirmed"
    with runtime.session_factory() as session:
        answers = session.execute(select(AuditEvent.type).where(AuditEvent.type == "confirmed"))
        assert len(answers.all()) == 1
    assert paused.emulator.ephemerals(WANG) == []


def test_a_refused_press_is_told_once(paused: Sandbox, clock: ManualClock) -> None:
    """Alice is not the requester: her Confirm is refused privately, once, even if the
    dispatcher died after telling her and before recording the job as done."""
    runtime, driver = paused.runtime, paused.driver
    assert runtime is not None and driver is not None
    _command(paused, INSTRUCTION)
    runtime.dispatcher.deliver_due()
    asked = request(paused, 1)
    driver.click(ALICE, CHANNEL, asked["ts"], buttons(asked)["Confirm"])
    (job,) = _jobs(paused, JobKind.CLICK)
    runtime.workspaces.deliver(job)
    clock.advance(hours=1)
    runtime.dispatcher.deliver_due()
    assert record_json(paused, 1)["status"] == "pending"
    assert len(paused.emulator.ephemerals(ALICE)) == 1


def test_show_right_after_the_ack_says_the_record_is_being_stored(paused: Sandbox) -> None:
    """Between "Recorded #1" and the outbox storing it, whoever captured it is told so; to
    anyone else a number still says nothing (as for a record that does not exist)."""
    runtime, driver = paused.runtime, paused.driver
    assert runtime is not None and driver is not None
    _command(paused, INSTRUCTION)
    assert "is being stored right now" in driver.command(ALICE, CHANNEL, "show 1").json()["text"]
    assert "is not one you can see" in driver.command(LI, CHANNEL, "show 1").json()["text"]
    runtime.dispatcher.deliver_due()
    assert INSTRUCTION in str(driver.command(ALICE, CHANNEL, "show 1").json()["blocks"])


def test_jobs_carried_out_twice_by_two_dispatchers_change_things_once(
    paused: Sandbox,
) -> None:
    """A dispatcher whose lease ran out mid-job, and the one that took the job over, both
    carry it out: the second finds it done and rolls back, telling nobody anything."""
    runtime, driver = paused.runtime, paused.driver
    assert runtime is not None and driver is not None
    _command(paused, INSTRUCTION)
    (capture_job,) = _jobs(paused, JobKind.CAPTURE)
    runtime.workspaces.deliver(capture_job)
    runtime.workspaces.deliver(capture_job)  # the second dispatcher, with its stale copy
    runtime.dispatcher.deliver_due()
    assert len(paused.emulator.messages(CHANNEL)) == 1
    asked = request(paused, 1)
    driver.click(WANG, CHANNEL, asked["ts"], buttons(asked)["Confirm"])
    driver.click(ALICE, CHANNEL, asked["ts"], buttons(asked)["Confirm"])  # refused: not hers
    for job in _jobs(paused, JobKind.CLICK):
        runtime.workspaces.deliver(job)
        runtime.workspaces.deliver(job)
    runtime.dispatcher.deliver_due()
    with runtime.session_factory() as session:
        history = session.execute(select(AuditEvent.type).order_by(AuditEvent.seq)).scalars()
        assert list(history) == ["captured", "card_posted", "confirmed", "thread_snapshot"]
        assert verify(session).ok
    assert paused.emulator.ephemerals(WANG) == []
    assert len(paused.emulator.ephemerals(ALICE)) == 1


def _store_directly(box: Sandbox, capture: Capture, number: int) -> None:
    assert box.runtime is not None and box.clock is not None
    with unit_of_work(box.runtime.session_factory) as session:
        lifecycle.capture(session, box.clock.now(), capture, number=number)


def test_a_capture_found_stored_under_its_key_is_done_and_anything_else_stays_a_failure(
    paused: Sandbox,
) -> None:
    runtime = paused.runtime
    assert runtime is not None
    _command(paused, INSTRUCTION)
    (job,) = _jobs(paused, JobKind.CAPTURE)
    accepted = Capture.from_payload(job.payload["capture"])
    # #1's number is taken by another capture (a restore gone wrong, say): not a twin.
    _store_directly(paused, replace(accepted, text="something else", capture_key="other"), 1)
    runtime.dispatcher.deliver_due()
    (job,) = _jobs(paused, JobKind.CAPTURE)
    assert job.delivered_at is None and job.attempts == 1 and job.last_error
    # The same command stored under another number (its own job pruned long ago): a twin.
    _store_directly(paused, accepted, 7)
    with unit_of_work(runtime.session_factory) as session:  # due again now
        session.get_one(OutboxMessage, job.id).next_attempt_at = job.created_at
    runtime.dispatcher.deliver_due()
    (job,) = _jobs(paused, JobKind.CAPTURE)
    assert job.delivered_at is not None
    assert [r["number"] for r in _all_records(paused)] == [1, 7]


def test_the_ack_paths_driver_statements_store_what_the_orm_would(paused: Sandbox) -> None:
    # `db.transaction` binds values itself, as SQLAlchemy would: the same dates
    # (to the microsecond, compared in SQL), JSON and flags as a job queued through a session.
    assert paused.runtime is not None
    factory = paused.runtime.session_factory
    now = datetime(2026, 11, 27, 3, 4, 5, 678901, tzinfo=UTC)
    payload = {"text": '请把 core-1 改成30秒 "quoted" & <b>', "nested": {"n": 1, "ok": True}}
    with unit_of_work(factory) as session:
        through_orm = queue.enqueue(session, now, team_id=TEAM, kind="probe", payload=payload)
    with transaction(factory) as turn:
        queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload=payload)
    with factory() as session:
        jobs = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "probe", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
        ).scalars()
        orm, driver = list(jobs)
        assert orm.id == through_orm.id
        columns = ("team_id", "payload", "created_at", "next_attempt_at", "attempts", "notified")
        assert [getattr(driver, c) for c in columns] == [getattr(orm, c) for c in columns]
        assert driver.created_at == now


def test_a_failed_ack_transaction_is_rolled_back_and_raised_as_sqlalchemys(
    paused: Sandbox,
) -> None:
    assert paused.runtime is not None
    factory = paused.runtime.session_factory
    now = datetime(2026, 11, 27, 3, 4, 5, tzinfo=UTC)
    job = {"team_id": TEAM, "kind": "probe", "payload": {}, "request_key": "twice"}
    with transaction(factory) as turn:
        queue.enqueue_now(turn, now, **job)
    with pytest.raises(IntegrityError), transaction(factory) as turn:
        queue.enqueue_now(turn, now, **{**job, "request_key": "once"})
        queue.enqueue_now(turn, now, **job)  # the same request again: refused
    with factory() as session:
        keys = session.execute(
            select(OutboxMessage.request_key).where(OutboxMessage.kind == "probe")
        ).scalars()
        assert list(keys) == ["twice"]  # the whole second transaction is gone


def test_a_connection_that_dies_in_an_ack_transaction_is_not_pooled_again(
    paused: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    assert paused.runtime is not None
    factory, engine = paused.runtime.session_factory, paused.runtime.engine
    now = datetime(2026, 11, 27, 3, 4, 5, tzinfo=UTC)
    invalidated: list[object] = []
    event.listen(engine, "invalidate", lambda connection, record, error: invalidated.append(1))
    postgres = engine.dialect.name == "postgresql"

    with pytest.raises(DBAPIError), transaction(factory) as turn:
        queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload={"n": 1})
        cursor = turn.execute(select(func.pg_backend_pid() if postgres else func.random()), {})
        if postgres:  # the server goes away: its backend is ended under the transaction
            with engine.connect() as admin:
                admin.execute(select(func.pg_terminate_backend(cursor.fetchone()[0], 5000)))
                admin.commit()
        else:  # the nearest thing on SQLite: the driver's connection closed under it
            connection = cursor.connection
            cursor.close()  # or the closed connection would linger, holding the write lock
            connection.close()
        queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload={"n": 2})

    # It could not even roll back, so it was thrown away, not handed to the next ack, and
    # not handed back to the pool to fail its reset there (with a traceback in the log).
    assert invalidated == [1]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    with transaction(factory) as turn:
        queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload={"n": 3})
    with factory() as session:
        payloads = session.execute(
            select(OutboxMessage.payload).where(OutboxMessage.kind == "probe")
        ).scalars()
        assert list(payloads) == [{"n": 3}]


def _during_a_commit(
    factory: Any, works: list[Callable[[DriverTransaction], Any]]
) -> list[tuple[Any, BaseException | None]]:
    """Runs each of `works` through commit_together, from a thread of its own, all queued while
    another commit is under way: (what it returned, what it raised) for each."""
    inside, release = threading.Event(), threading.Event()

    def hold(_turn: DriverTransaction) -> None:
        inside.set()
        assert release.wait(15)

    holder = threading.Thread(target=commit_together, args=(factory, hold))
    holder.start()
    assert inside.wait(15)
    outcomes: list[tuple[Any, BaseException | None]] = [(None, None)] * len(works)

    def run(index: int) -> None:
        try:
            outcomes[index] = (commit_together(factory, works[index]), None)
        except Exception as error:
            outcomes[index] = (None, error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for thread in threads:
        thread.start()
    group = _COMMIT_GROUPS[factory.kw["bind"]]
    deadline = time.monotonic() + 15
    while len(group._waiting) < len(works):  # every one queued behind the held commit
        assert time.monotonic() < deadline, "the works never queued"
        time.sleep(0.005)
    release.set()
    for thread in [holder, *threads]:
        thread.join(15)
    return outcomes


def _probe_keys(factory: Any) -> list[str | None]:
    with factory() as session:
        return list(
            session.execute(
                select(OutboxMessage.request_key)
                .where(OutboxMessage.kind == "probe")
                .order_by(OutboxMessage.request_key)
            ).scalars()
        )


def test_acks_that_come_during_a_commit_share_the_next_one(paused: Sandbox) -> None:
    assert paused.runtime is not None
    factory = paused.runtime.session_factory
    now = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)
    turns: list[DriverTransaction] = []

    def enqueue_job(key: str) -> Callable[[DriverTransaction], str]:
        def work(turn: DriverTransaction) -> str:
            turns.append(turn)
            queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload={}, request_key=key)
            return key

        return work

    outcomes = _during_a_commit(factory, [enqueue_job("a"), enqueue_job("b"), enqueue_job("c")])
    assert outcomes == [("a", None), ("b", None), ("c", None)]
    assert len(turns) == 3 and turns[0] is turns[1] is turns[2]  # one transaction for all
    assert _probe_keys(factory) == ["a", "b", "c"]


def test_a_failure_in_a_shared_commit_is_its_owners_alone(paused: Sandbox) -> None:
    assert paused.runtime is not None
    factory = paused.runtime.session_factory
    now = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)

    def enqueue_job(key: str) -> Callable[[DriverTransaction], str]:
        def work(turn: DriverTransaction) -> str:
            queue.enqueue_now(turn, now, team_id=TEAM, kind="probe", payload={}, request_key=key)
            return key

        return work

    commit_together(factory, enqueue_job("twice"))
    outcomes = _during_a_commit(factory, [enqueue_job("a"), enqueue_job("twice"), enqueue_job("c")])
    assert outcomes[0] == ("a", None) and outcomes[2] == ("c", None)
    refused, error = outcomes[1]
    assert refused is None and isinstance(error, IntegrityError)
    assert _probe_keys(factory) == ["a", "c", "twice"]
