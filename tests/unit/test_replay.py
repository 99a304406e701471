"""`replay`: a record's state rebuilt from its events, as `records.lifecycle` changes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.ledger.hashchain import iso_utc
from bot.ledger.replay import (
    RECORD_FIELDS,
    REQUESTER_FIELDS,
    Event,
    Origin,
    RecordState,
    first_difference,
    replay,
)

ALICE, WANG, ZHAO, LI = "U0ALICE001", "U0WANG0001", "U0ZHAO0001", "U0LI000001"
START = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


class History:
    """Events as `records.lifecycle` writes them, one a minute."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, event_type: str, actor: str, /, **payload: Any) -> str:
        at = iso_utc(START + timedelta(minutes=len(self.events)))
        self.events.append(Event(len(self.events) + 1, event_type, actor, at, payload))
        return at

    def capture(self, *requesters: str, **extra: Any) -> str:
        payload: dict[str, Any] = {
            "text": "drain edge-3",
            "kind": "instruction",
            "requesters": list(requesters),
            "owner": ALICE,
            "risk": "none",
            "risk_note": None,
            "due_at": None,
            "channel": "C0EDGE0001",
            "source": "command",
            "source_ts": None,
        }
        return self.add("captured", ALICE, **{**payload, **extra})

    def state(self) -> RecordState:
        state = replay(self.events)
        assert state is not None
        return state


def test_a_capture_sets_every_field() -> None:
    history = History()
    at = history.capture(
        WANG,
        ZHAO,
        WANG,
        kind="decision",
        owner=LI,
        risk="high",
        risk_note="5 min",
        due_at="2026-12-01T09:00:00.000000Z",
        source="reaction",
        source_ts="1764150000.000100",
    )
    state = history.state()
    assert (state.status, state.revision, state.text, state.kind) == (
        "pending",
        1,
        "drain edge-3",
        "decision",
    )
    assert (state.owner_id, state.captured_by_id, state.created_at) == (LI, ALICE, at)
    assert (state.risk, state.risk_note) == ("high", "5 min")
    assert state.due_at == "2026-12-01T09:00:00.000000Z"
    assert (state.source, state.source_ts, state.channel_id) == (
        "reaction",
        "1764150000.000100",
        "C0EDGE0001",
    )
    assert [r.user_id for r in state.requesters] == [WANG, ZHAO]
    assert {r.answer for r in state.requesters} == {"pending"}


def test_everyone_must_confirm_and_one_rejection_rejects() -> None:
    history = History()
    history.capture(WANG, ZHAO)
    at = history.add("confirmed", WANG, revision=1, via="button", evidence_ts=None)
    state = history.state()
    assert state.status == "pending" and state.decided_at is None
    wang = state.requesters[0]
    assert (wang.answer, wang.answered_at, wang.answered_revision, wang.answered_via) == (
        "confirmed",
        at,
        1,
        "button",
    )
    at = history.add("confirmed", ZHAO, revision=1, via="reply", evidence_ts="17.01")
    state = history.state()
    assert (state.status, state.decided_at, state.decided_by_id) == ("confirmed", at, ZHAO)
    assert state.requesters[1].evidence_ts == "17.01"
    assert state.origin("status") == Origin(3, "confirmed")

    history = History()
    history.capture(WANG, ZHAO)
    at = history.add("rejected", ZHAO, revision=1, via="button", evidence_ts=None)
    state = history.state()
    assert (state.status, state.decided_at, state.decided_by_id) == ("rejected", at, ZHAO)


def test_an_amendment_asks_everyone_again() -> None:
    history = History()
    history.capture(WANG)
    history.add("confirmed", WANG, revision=1, via="button", evidence_ts=None)
    history.add("amended", ALICE, revision=2, text="drain edge-3 and 4", previous_text="x")
    state = history.state()
    assert (state.status, state.revision, state.text) == ("pending", 2, "drain edge-3 and 4")
    assert (state.decided_at, state.decided_by_id) == (None, None)
    assert (state.requesters[0].answer, state.requesters[0].answered_at) == ("pending", None)
    assert state.requesters[0].origin == Origin(3, "amended")
    history.add("confirmed", WANG, revision=2, via="button", evidence_ts=None)
    assert history.state().requesters[0].answered_revision == 2


def test_closing_and_reopening() -> None:
    history = History()
    history.capture(WANG)
    confirmed_at = history.add("confirmed", WANG, revision=1, via="button", evidence_ts=None)
    history.add("done", ALICE, status="done")
    assert history.state().status == "done"
    history.add("reopened", ALICE, status="confirmed")
    state = history.state()
    # Back to confirmed: the decision and the answer stand.
    assert (state.status, state.decided_at, state.requesters[0].answer) == (
        "confirmed",
        confirmed_at,
        "confirmed",
    )
    history.add("cancelled", ALICE, status="cancelled")
    assert history.state().status == "cancelled"

    history = History()
    history.capture(WANG)
    history.add("rejected", WANG, revision=1, via="button", evidence_ts=None)
    history.add("reopened", ALICE, status="pending")
    state = history.state()
    assert (state.status, state.decided_by_id, state.requesters[0].answer) == (
        "pending",
        None,
        "pending",
    )
    history.add("withdrawn", ALICE, status="withdrawn")
    assert history.state().status == "withdrawn"


def test_expiry_is_a_decision_by_nobody() -> None:
    history = History()
    history.capture(WANG)
    at = history.add("expired", "sayso", revision=1)
    state = history.state()
    assert (state.status, state.decided_at, state.decided_by_id) == ("expired", at, None)


def test_events_that_do_not_change_a_record_leave_it() -> None:
    history = History()
    history.capture(WANG)
    before = history.state()
    for kind, payload in (
        ("card_posted", {"channel": "C1", "card_ts": "1.0", "revision": 1}),
        ("revision_posted", {"request_ts": "2.0", "revision": 1}),
        ("reminded", {"number": 1, "waiting": [WANG]}),
        ("source_edited", {"ts": "1.0", "old_text": "a", "new_text": "b"}),
        ("reply_deleted", {"ts": "3.0", "old_text": "ok", "new_text": None}),
        ("thread_snapshot", {"messages": 2, "sha256": "0" * 64}),
        ("exported", {"format": "html", "to": "direct message", "sha256": "0" * 64}),
    ):
        history.add(kind, "sayso", **payload)
    assert history.state() == before


def test_events_written_before_migration_0002_read_as_it_filled_the_rows() -> None:
    history = History()
    history.add(
        "captured",
        ALICE,
        text="drain edge-3",
        requester=WANG,
        channel="C0EDGE0001",
        source="slash_command",
    )
    at = history.add("confirmed", WANG, via="button")
    state = history.state()
    assert (state.owner_id, state.kind, state.risk, state.source, state.due_at) == (
        ALICE,
        "instruction",
        "none",
        "command",
        None,
    )
    assert (state.status, state.decided_at, state.decided_by_id) == ("confirmed", at, WANG)
    (wang,) = state.requesters
    assert (wang.user_id, wang.answer, wang.answered_revision, wang.answered_via) == (
        WANG,
        "confirmed",
        1,
        "button",
    )


def test_a_history_that_does_not_begin_with_the_capture_rebuilds_nothing() -> None:
    history = History()
    history.add("confirmed", WANG, revision=1, via="button", evidence_ts=None)
    assert replay(history.events) is None
    assert replay([]) is None


def _rows(state: RecordState) -> tuple[list[Any], list[list[Any]]]:
    """Rows that say exactly what the state says."""
    row = [getattr(state, column) for column, _ in RECORD_FIELDS]
    requesters = [[getattr(r, column) for column, _ in REQUESTER_FIELDS] for r in state.requesters]
    return row, requesters


def _set(row: list[Any], column: str, value: Any) -> None:
    row[[c for c, _ in RECORD_FIELDS].index(column)] = value


def test_the_first_difference_names_the_field_and_the_event_that_set_it() -> None:
    history = History()
    history.capture(WANG, ZHAO, due_at="2026-12-01T09:00:00.000000Z")
    history.add("confirmed", WANG, revision=1, via="button", evidence_ts=None)
    history.add("rejected", ZHAO, revision=1, via="button", evidence_ts=None)
    state = history.state()
    row, requesters = _rows(state)
    assert first_difference(state, row, requesters) is None

    _set(row, "status", "confirmed")
    found = first_difference(state, row, requesters)
    assert found is not None
    assert found.origin == Origin(3, "rejected")
    assert found.what == (
        "the record's status is confirmed in the database but rejected in its history"
    )

    row, requesters = _rows(state)
    _set(row, "due_at", "2030-01-01T00:00:00.000000Z")
    found = first_difference(state, row, requesters)
    assert found is not None and found.origin == Origin(1, "captured")
    assert found.what == (
        "the record's due date is 2030-01-01T00:00:00.000000Z in the database but "
        "2026-12-01T09:00:00.000000Z in its history"
    )

    row, requesters = _rows(state)
    requesters[0][1] = "rejected"
    found = first_difference(state, row, requesters)
    assert found is not None and found.origin == Origin(2, "confirmed")
    assert found.what == f"{WANG}'s answer is rejected in the database but confirmed in its history"

    row, requesters = _rows(state)
    found = first_difference(state, row, requesters[:1])
    assert found is not None
    assert found.what == (
        f"the record's requesters are {WANG} in the database but {WANG}, {ZHAO} in its history"
    )
