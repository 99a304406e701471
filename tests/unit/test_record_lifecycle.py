"""The record state machine: which change may start from which status, who may make it,
and the event each change appends to the workspace's hash chain.

Each test runs the lifecycle's functions on one session of a migrated database and rolls
it back; no Slack, no handlers, the time given by a clock the test moves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import (
    AlreadyAnswered,
    AlreadyCaptured,
    NotAllowed,
    NotInThisState,
    SaysoError,
    StaleRevision,
)
from bot.ledger import hashchain
from bot.ledger.verify import verify
from bot.models import Answer, AuditEvent, Record, RecordStatus, Risk, Source, Workspace
from bot.records import lifecycle
from bot.records.lifecycle import Action, Capture
from tests.conftest import ALICE, BOB, CHANNEL, LI, TEAM, WANG, ZHAO
from tests.support import ManualClock

OTHER_TEAM = "T0GLOBEX01"
S = RecordStatus


def _capture(
    session: Session,
    clock: ManualClock,
    requesters: tuple[str, ...] = (WANG,),
    team_id: str = TEAM,
    **options: Any,
) -> Record:
    """Alice's record of an instruction from `requesters`, captured now."""
    return lifecycle.capture(
        session,
        clock.now(),
        Capture(
            team_id=team_id,
            channel_id=CHANNEL,
            captured_by_id=ALICE,
            requester_ids=requesters,
            text=options.pop("text", "set the BGP hold timer on edge-3 to 30s"),
            **options,
        ),
    )


def _events(session: Session, record: Record | None = None) -> list[AuditEvent]:
    """The record's events, or the whole workspace's chain, oldest first."""
    query = select(AuditEvent).where(AuditEvent.team_id == TEAM).order_by(AuditEvent.seq)
    if record is not None:
        query = query.where(AuditEvent.record_id == record.id)
    session.flush()
    return list(session.execute(query).scalars())


def _chain_length(session: Session) -> int:
    session.flush()
    workspace = session.get(Workspace, TEAM)
    return workspace.last_event_seq if workspace else 0


def _answers(record: Record) -> list[str]:
    return [r.answer for r in record.requesters]


# Captures


def test_a_capture_is_pending_at_revision_1_with_every_requester_still_to_answer(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO, WANG))
    assert record.status == S.PENDING and record.revision == 1
    assert record.requester_ids == [WANG, ZHAO]  # named twice, asked once
    assert _answers(record) == [Answer.PENDING, Answer.PENDING]
    assert record.owner_id == ALICE  # nobody named: whoever captured it owns it
    assert record.decided_at is None and record.created_at == clock.now()
    assert [(v.number, v.author_id) for v in record.revisions] == [(1, ALICE)]


def test_records_are_numbered_one_after_another_in_each_workspace(
    session: Session, clock: ManualClock
) -> None:
    first, second = _capture(session, clock), _capture(session, clock)
    elsewhere = _capture(session, clock, team_id=OTHER_TEAM)
    reserved = lifecycle.capture(
        session,
        clock.now(),
        Capture(
            team_id=TEAM,
            channel_id=CHANNEL,
            captured_by_id=ALICE,
            requester_ids=(WANG,),
            text="acked before it was stored",
        ),
        number=7,
    )
    assert (first.number, second.number, elsewhere.number, reserved.number) == (1, 2, 1, 7)


def test_a_capture_appends_a_captured_event_with_what_was_asked(
    session: Session, clock: ManualClock
) -> None:
    due = clock.now() + timedelta(days=1)
    record = _capture(
        session, clock, requesters=(WANG, ZHAO), owner_id=LI, risk=Risk.HIGH, due_at=due
    )
    (event,) = _events(session, record)
    assert (event.seq, event.type, event.actor_id, event.at) == (1, "captured", ALICE, clock.now())
    assert event.prev_hash == hashchain.GENESIS_HASH  # the workspace's first event
    assert (event.record_prev, event.record_count) == (hashchain.GENESIS_HASH, 1)
    assert event.payload == {
        "text": "set the BGP hold timer on edge-3 to 30s",
        "kind": "instruction",
        "requesters": [WANG, ZHAO],
        "owner": LI,
        "risk": "high",
        "risk_note": None,
        "due_at": hashchain.iso_utc(due),
        "channel": CHANNEL,
        "source": "command",
        "source_ts": None,
    }


def test_a_message_is_captured_once_and_asked_about_in_its_own_thread(
    session: Session, clock: ManualClock
) -> None:
    from_message = _capture(session, clock, source=Source.REACTION, source_ts="1700000000.000100")
    assert from_message.thread_ts == "1700000000.000100"
    with pytest.raises(AlreadyCaptured) as caught:
        _capture(session, clock, source=Source.REACTION, source_ts="1700000000.000100")
    assert caught.value.context() == {"number": from_message.number}
    in_a_thread = _capture(
        session,
        clock,
        source=Source.SHORTCUT,
        source_ts="1700000000.000300",
        source_thread_ts="1700000000.000200",
    )
    assert in_a_thread.thread_ts == "1700000000.000200"
    assert _capture(session, clock).thread_ts is None  # a command's thread is its card's


def test_a_capture_comes_back_whole_from_its_queued_payload() -> None:
    capture = Capture(
        team_id=TEAM,
        channel_id=CHANNEL,
        captured_by_id=ALICE,
        requester_ids=(WANG, ZHAO),
        text="请把 edge-3 的 MTU 改为 1400",
        risk=Risk.MEDIUM,
        risk_note="during business hours",
        due_at=ManualClock().now() + timedelta(hours=5),
        owner_id=LI,
        source=Source.MODAL,
        capture_key="V0VIEW0001",
        details={"fields": ["risk"]},
    )
    assert Capture.from_payload(capture.as_payload()) == capture


# Answers: only requesters, once each, to the revision they were shown


def test_the_record_is_confirmed_only_once_every_requester_has_confirmed(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    clock.advance(minutes=5)
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    assert record.status == S.PENDING and record.decided_at is None
    clock.advance(minutes=5)
    lifecycle.answer(
        session, clock.now(), record, ZHAO, 1, Answer.CONFIRMED, via="reply", evidence_ts="17.5"
    )
    assert record.status == S.CONFIRMED
    assert (record.decided_at, record.decided_by_id) == (clock.now(), ZHAO)
    zhao = record.requester(ZHAO)
    assert zhao is not None
    assert (zhao.answered_at, zhao.answered_revision, zhao.answered_via, zhao.evidence_ts) == (
        clock.now(),
        1,
        "reply",
        "17.5",
    )


def test_one_rejection_rejects_the_record_whoever_confirmed_before(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    lifecycle.answer(session, clock.now(), record, ZHAO, 1, Answer.REJECTED, via="button")
    assert record.status == S.REJECTED
    assert (record.decided_at, record.decided_by_id) == (clock.now(), ZHAO)


@pytest.mark.parametrize("who", [ALICE, LI, BOB], ids=["capturer", "owner", "stranger"])
def test_only_a_requester_may_answer(session: Session, clock: ManualClock, who: str) -> None:
    record = _capture(session, clock, owner_id=LI)
    before = _chain_length(session)
    with pytest.raises(NotAllowed) as caught:
        lifecycle.answer(session, clock.now(), record, who, 1, Answer.CONFIRMED, via="button")
    assert caught.value.context()["reason"] == "not_requester"
    assert record.status == S.PENDING and _answers(record) == [Answer.PENDING]
    assert _chain_length(session) == before


def test_a_requester_cannot_answer_twice(session: Session, clock: ManualClock) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    before = _chain_length(session)
    with pytest.raises(AlreadyAnswered) as caught:
        lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.REJECTED, via="button")
    assert caught.value.context()["answer"] == Answer.CONFIRMED
    assert record.status == S.PENDING and _answers(record) == [Answer.CONFIRMED, Answer.PENDING]
    assert _chain_length(session) == before


def test_a_closed_record_cannot_be_confirmed_again(session: Session, clock: ManualClock) -> None:
    record = _capture(session, clock)
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    decided_at = record.decided_at
    clock.advance(minutes=1)
    with pytest.raises(NotInThisState):
        lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    assert record.status == S.CONFIRMED and record.decided_at == decided_at


def test_an_answer_to_an_earlier_revision_is_refused(session: Session, clock: ManualClock) -> None:
    record = _capture(session, clock)
    lifecycle.amend(session, clock.now(), record, ALICE, 1, "set it to 45s instead")
    with pytest.raises(StaleRevision) as caught:
        lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    assert caught.value.context()["clicked"] == 1 and caught.value.context()["revision"] == 2
    assert record.status == S.PENDING and _answers(record) == [Answer.PENDING]


def test_each_answer_appends_an_event_named_for_it_with_the_status_it_left(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    lifecycle.answer(
        session, clock.now(), record, ZHAO, 1, Answer.REJECTED, via="reply", evidence_ts="9.1"
    )
    _, confirmed, rejected = _events(session, record)
    assert (confirmed.type, confirmed.actor_id) == ("confirmed", WANG)
    assert confirmed.payload == {
        "revision": 1,
        "via": "button",
        "evidence_ts": None,
        "status": "pending",
    }
    assert (rejected.type, rejected.actor_id) == ("rejected", ZHAO)
    assert rejected.payload == {
        "revision": 1,
        "via": "reply",
        "evidence_ts": "9.1",
        "status": "rejected",
    }


# Amendments


def test_an_amendment_is_a_new_revision_every_requester_must_confirm_again(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    for requester in (WANG, ZHAO):
        lifecycle.answer(session, clock.now(), record, requester, 1, Answer.CONFIRMED, "button")
    assert record.status == S.CONFIRMED
    clock.advance(hours=1)
    lifecycle.amend(session, clock.now(), record, WANG, 1, "set it to 45s instead")
    assert (record.revision, record.text, record.status) == (2, "set it to 45s instead", S.PENDING)
    assert _answers(record) == [Answer.PENDING, Answer.PENDING]
    assert record.decided_at is None and record.decided_by_id is None
    assert [(v.number, v.author_id, v.created_at) for v in record.revisions][1:] == [
        (2, WANG, clock.now())
    ]
    amended = _events(session, record)[-1]
    assert (amended.type, amended.actor_id) == ("amended", WANG)
    assert amended.payload == {
        "revision": 2,
        "text": "set it to 45s instead",
        "previous_text": "set the BGP hold timer on edge-3 to 30s",
    }


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(WANG, True), (ALICE, True), (LI, True), (BOB, False)],
    ids=["requester", "capturer", "owner", "stranger"],
)
def test_who_may_amend(session: Session, clock: ManualClock, who: str, allowed: bool) -> None:
    record = _capture(session, clock, owner_id=LI)
    if allowed:
        lifecycle.amend(session, clock.now(), record, who, 1, "new wording")
        assert record.revision == 2
        return
    before = _chain_length(session)
    with pytest.raises(NotAllowed) as caught:
        lifecycle.amend(session, clock.now(), record, who, 1, "new wording")
    assert caught.value.context()["reason"] == "not_party"
    assert (record.revision, _chain_length(session)) == (1, before)


def test_an_amendment_of_an_earlier_revision_is_refused(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock)
    lifecycle.amend(session, clock.now(), record, ALICE, 1, "first change")
    with pytest.raises(StaleRevision):
        lifecycle.amend(session, clock.now(), record, WANG, 1, "a change to what was")
    assert (record.revision, record.text) == (2, "first change")


# The state machine, whole: each change from each status


def _withdraw(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.act(session, clock.now(), record, ALICE, Action.WITHDRAW)


def _done(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.act(session, clock.now(), record, ALICE, Action.DONE)


def _cancel(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.act(session, clock.now(), record, ALICE, Action.CANCEL)


def _reopen(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.act(session, clock.now(), record, ALICE, Action.REOPEN)


def _confirm(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.answer(
        session, clock.now(), record, WANG, record.revision, Answer.CONFIRMED, via="button"
    )


def _amend(session: Session, clock: ManualClock, record: Record) -> Any:
    return lifecycle.amend(session, clock.now(), record, ALICE, record.revision, "new wording")


def _expire(session: Session, clock: ManualClock, record: Record) -> Any:
    if not lifecycle.expire(session, clock.now(), record):
        raise NotInThisState("expire said no")  # its way of refusing: False
    return record


Change = Callable[[Session, ManualClock, Record], Any]
# Each change by someone allowed to make it (Alice captured and owns the record, Wang is
# its requester): the statuses it may start from, the status it leaves, the event it adds.
MACHINE: dict[str, tuple[Change, dict[RecordStatus, RecordStatus], str]] = {
    "withdraw": (_withdraw, {S.PENDING: S.WITHDRAWN}, "withdrawn"),
    "done": (_done, {S.CONFIRMED: S.DONE}, "done"),
    "cancel": (_cancel, {S.CONFIRMED: S.CANCELLED}, "cancelled"),
    "reopen": (
        _reopen,
        # Closed after it was confirmed: confirmed again. Never confirmed: asked again.
        {
            S.DONE: S.CONFIRMED,
            S.CANCELLED: S.CONFIRMED,
            S.WITHDRAWN: S.PENDING,
            S.REJECTED: S.PENDING,
            S.EXPIRED: S.PENDING,
        },
        "reopened",
    ),
    "confirm": (_confirm, {S.PENDING: S.CONFIRMED}, "confirmed"),
    "amend": (_amend, {S.PENDING: S.PENDING, S.CONFIRMED: S.PENDING}, "amended"),
    "expire": (_expire, {S.PENDING: S.EXPIRED}, "expired"),
}


@pytest.mark.parametrize("start", list(RecordStatus))
@pytest.mark.parametrize("change", list(MACHINE))
def test_each_change_starts_only_from_its_statuses_and_appends_its_event(
    session: Session, clock: ManualClock, change: str, start: RecordStatus
) -> None:
    make, transitions, event_type = MACHINE[change]
    record = _capture(session, clock)
    record.status = start
    before = _chain_length(session)
    if start not in transitions:
        with pytest.raises(NotInThisState):
            make(session, clock, record)
        assert record.status == start and _chain_length(session) == before
        return
    make(session, clock, record)
    assert record.status == transitions[start]
    assert _chain_length(session) == before + 1
    last = _events(session, record)[-1]
    assert (last.type, last.at) == (event_type, clock.now())


@pytest.mark.parametrize(
    ("action", "start", "who", "refused_because"),
    [
        (Action.WITHDRAW, S.PENDING, ALICE, None),
        (Action.WITHDRAW, S.PENDING, LI, None),
        (Action.WITHDRAW, S.PENDING, WANG, "capturer_or_owner"),
        (Action.DONE, S.CONFIRMED, LI, None),
        (Action.DONE, S.CONFIRMED, ALICE, "owner"),
        (Action.DONE, S.CONFIRMED, WANG, "owner"),
        (Action.CANCEL, S.CONFIRMED, LI, None),
        (Action.CANCEL, S.CONFIRMED, ALICE, "owner"),
        (Action.REOPEN, S.DONE, ALICE, None),
        (Action.REOPEN, S.DONE, LI, None),
        (Action.REOPEN, S.DONE, WANG, "capturer_or_owner"),
        (Action.REOPEN, S.WITHDRAWN, BOB, "capturer_or_owner"),
    ],
    ids=lambda value: {ALICE: "capturer", LI: "owner", WANG: "requester", BOB: "stranger"}.get(
        value, str(value)
    ),
)
def test_only_the_owner_closes_a_record_and_the_capturer_or_owner_withdraws_or_reopens_it(
    session: Session,
    clock: ManualClock,
    action: Action,
    start: RecordStatus,
    who: str,
    refused_because: str | None,
) -> None:
    record = _capture(session, clock, owner_id=LI)
    record.status = start
    before = _chain_length(session)
    if refused_because is None:
        lifecycle.act(session, clock.now(), record, who, action)
        assert record.status != start and _chain_length(session) == before + 1
        return
    with pytest.raises(NotAllowed) as caught:
        lifecycle.act(session, clock.now(), record, who, action)
    assert caught.value.context()["reason"] == refused_because
    assert record.status == start and _chain_length(session) == before


def test_reopening_a_rejected_record_asks_every_requester_again(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    lifecycle.answer(session, clock.now(), record, ZHAO, 1, Answer.REJECTED, via="button")
    lifecycle.act(session, clock.now(), record, ALICE, Action.REOPEN)
    assert record.status == S.PENDING and record.decided_at is None
    assert _answers(record) == [Answer.PENDING, Answer.PENDING]
    assert all(r.answered_at is None and r.answered_via is None for r in record.requesters)
    for requester in (WANG, ZHAO):
        lifecycle.answer(session, clock.now(), record, requester, 1, Answer.CONFIRMED, "button")
    assert record.status == S.CONFIRMED


def test_reopening_a_done_record_keeps_its_confirmations(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock)
    lifecycle.answer(session, clock.now(), record, WANG, 1, Answer.CONFIRMED, via="button")
    confirmed_at = record.decided_at
    clock.advance(days=1)
    lifecycle.act(session, clock.now(), record, ALICE, Action.DONE)
    lifecycle.act(session, clock.now(), record, ALICE, Action.REOPEN)
    assert record.status == S.CONFIRMED and record.decided_at == confirmed_at
    assert _answers(record) == [Answer.CONFIRMED]
    reopened = _events(session, record)[-1]
    assert (reopened.type, reopened.actor_id, reopened.payload) == (
        "reopened",
        ALICE,
        {"status": "confirmed"},
    )


def test_a_record_expires_by_sayso_only_while_nobody_decided_it(
    session: Session, clock: ManualClock
) -> None:
    waiting, answered = _capture(session, clock), _capture(session, clock)
    lifecycle.answer(session, clock.now(), answered, WANG, 1, Answer.CONFIRMED, via="button")
    clock.advance(days=3)
    assert lifecycle.expire(session, clock.now(), waiting)
    assert not lifecycle.expire(session, clock.now(), answered)
    assert (waiting.status, waiting.decided_at) == (S.EXPIRED, clock.now())
    assert answered.status == S.CONFIRMED
    expired = _events(session, waiting)[-1]
    assert (expired.type, expired.actor_id, expired.payload) == (
        "expired",
        "sayso",
        {"revision": 1},
    )
    assert [e.type for e in _events(session, answered)] == ["captured", "confirmed"]


def test_reminders_and_message_edits_change_history_not_the_record(
    session: Session, clock: ManualClock
) -> None:
    record = _capture(session, clock, requesters=(WANG, ZHAO))
    lifecycle.remind(session, clock.now(), record, [WANG, ZHAO], 1)
    lifecycle.note_message_change(
        session, clock.now(), record, WANG, "source_edited", {"text": "set it to 60s"}
    )
    assert (record.status, record.revision) == (S.PENDING, 1)
    assert record.text == "set the BGP hold timer on edge-3 to 30s"
    reminded, edited = _events(session, record)[1:]
    assert (reminded.type, reminded.actor_id, reminded.payload) == (
        "reminded",
        "sayso",
        {"number": 1, "waiting": [WANG, ZHAO]},
    )
    assert (edited.type, edited.actor_id, edited.payload) == (
        "source_edited",
        WANG,
        {"text": "set it to 60s"},
    )


# The hash chain the changes build


def test_every_change_links_to_the_workspaces_previous_event_and_its_records(
    session: Session, clock: ManualClock
) -> None:
    first = _capture(session, clock, requesters=(WANG, ZHAO))
    second = _capture(session, clock)
    steps: list[Callable[[], Any]] = [
        lambda: lifecycle.answer(session, clock.now(), first, WANG, 1, Answer.CONFIRMED, "button"),
        lambda: lifecycle.amend(session, clock.now(), first, ZHAO, 1, "45s, not 30s"),
        lambda: lifecycle.act(session, clock.now(), second, ALICE, Action.WITHDRAW),
        lambda: lifecycle.answer(session, clock.now(), first, WANG, 2, Answer.CONFIRMED, "button"),
        lambda: lifecycle.answer(session, clock.now(), first, ZHAO, 2, Answer.CONFIRMED, "button"),
        lambda: lifecycle.act(session, clock.now(), first, ALICE, Action.DONE),
        lambda: lifecycle.act(session, clock.now(), second, ALICE, Action.REOPEN),
    ]
    for step in steps:
        clock.advance(minutes=1)
        step()
    chain = _events(session)
    assert [e.seq for e in chain] == list(range(1, 10))
    assert [e.type for e in chain] == [
        *("captured", "captured", "confirmed", "amended", "withdrawn"),
        *("confirmed", "confirmed", "done", "reopened"),
    ]
    assert [e.prev_hash for e in chain] == [hashchain.GENESIS_HASH] + [e.hash for e in chain[:-1]]
    numbers: dict[int | None, int] = {first.id: first.number, second.id: second.number}
    for event in chain:
        assert event.hash == hashchain.event_hash(event, numbers[event.record_id])
    for record in (first, second):
        own = _events(session, record)
        assert [e.record_count for e in own] == list(range(1, len(own) + 1))
        assert [e.record_prev for e in own] == [hashchain.GENESIS_HASH] + [e.hash for e in own[:-1]]
    workspace = session.get(Workspace, TEAM)
    assert workspace is not None and workspace.head_hash == chain[-1].hash
    assert verify(session).ok


def test_a_refused_change_is_a_domain_error_that_names_the_record(
    session: Session, clock: ManualClock
) -> None:
    """What the error handler shows the person: the record as it stands."""
    record = _capture(session, clock, owner_id=LI)
    with pytest.raises(SaysoError) as caught:
        lifecycle.act(session, clock.now(), record, ALICE, Action.DONE)
    assert caught.value.context() == {
        "reason": "owner",
        "number": record.number,
        "status": S.PENDING,
        "revision": 1,
        "requester_ids": [WANG],
        "owner_id": LI,
        "captured_by_id": ALICE,
    }
