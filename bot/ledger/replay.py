"""A record as its history says it is: its state rebuilt from its audit events alone.

`sayso verify` replays each record's events in order (`verify.verify`) and compares the result
with the record's row and its requesters' rows, so that a row changed in the database without
an event (a rejection turned into a confirmation, another owner, a later due date) is caught.
The rules are those of `records.lifecycle`, event by event:

- `captured`: the text, kind, requesters (in order), owner, risk and its note, due date,
  channel, source and source message (and that message's rich_text blocks, when it carried
  them); revision 1, pending; created at the event's time.
- `confirmed` / `rejected`: the acting requester's answer to the revision (time, way, the
  reply that said it); one rejection rejects, everyone's confirmation confirms, and a record
  so decided is decided then, by that requester.
- `amended`: the new text and revision; everyone is asked again (answers and decision cleared).
- `withdrawn`, `done`, `cancelled`, `reopened`: the status the event names; a reopening to
  pending asks everyone again.
- `expired`: expired, decided at that time.
- Every other event (`card_posted`, `revision_posted`, `reminded`, `thread_snapshot`,
  `exported`, edits and deletions of the source or a reply) leaves the record as it was.

Events written before migration 0002 carry the old shapes, read as that migration filled the
rows: a single `requester`, no owner (the capturer), kind, risk or due date (the defaults),
source `slash_command` (now `command`), and answers without a revision (revision 1).

Times are `hashchain.iso_utc`'s text, the form the chain hashes: `verify` reads them as
stored (`hashchain.stored_iso`) and never parses one.

Not compared, because no event carries them: the Slack side of a record (the card, thread,
confirmation request and their timestamps, the permalinks of the source, thread and evidence
replies), the requesters' organizations (Slack Connect, from the people directory), and the
revisions table (the record's text and revision number are compared).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, NamedTuple

CAPTURED = "captured"
AMENDED = "amended"
ANSWERS = ("confirmed", "rejected")
STATUS_CHANGES = ("withdrawn", "done", "cancelled", "reopened")
EXPIRED = "expired"
# The only events that change a record; verify reads no others for the replay.
CHANGING = (CAPTURED, AMENDED, *ANSWERS, *STATUS_CHANGES, EXPIRED)

PENDING = "pending"
# Before migration 0002 a command's capture said so; the migration made every record "command".
_LEGACY_SOURCES = {"slash_command": "command"}


class Event(NamedTuple):
    seq: int
    type: str
    actor_id: str
    at: str
    payload: dict[str, Any]


class Origin(NamedTuple):
    """The event that last set a field: where a mismatch is reported."""

    seq: int
    type: str


@dataclass
class Answering:
    """One requester and their answer to the current revision, as the history has it."""

    user_id: str
    origin: Origin
    answer: str = PENDING
    answered_at: str | None = None
    answered_revision: int | None = None
    answered_via: str | None = None
    evidence_ts: str | None = None


@dataclass
class RecordState:
    captured_by_id: str
    created_at: str
    text: str
    kind: str
    owner_id: str
    risk: str
    risk_note: str | None
    due_at: str | None
    channel_id: str | None
    source: str
    source_ts: str | None
    source_blocks: list[dict[str, Any]] | None
    requesters: list[Answering]
    captured: Origin
    status: str = PENDING
    revision: int = 1
    decided_at: str | None = None
    decided_by_id: str | None = None
    # Field name -> the event that last changed it, when not the capture.
    origins: dict[str, Origin] = field(default_factory=dict)

    @classmethod
    def from_capture(cls, event: Event) -> RecordState:
        payload, origin = event.payload, Origin(event.seq, event.type)
        requesters = payload.get("requesters") or [payload["requester"]]
        source = payload.get("source") or "command"
        return cls(
            captured_by_id=event.actor_id,
            created_at=event.at,
            text=payload["text"],
            kind=payload.get("kind") or "instruction",
            owner_id=payload.get("owner") or event.actor_id,
            risk=payload.get("risk") or "none",
            risk_note=payload.get("risk_note"),
            due_at=payload.get("due_at"),
            channel_id=payload.get("channel"),
            source=_LEGACY_SOURCES.get(source, source),
            source_ts=payload.get("source_ts"),
            source_blocks=payload.get("source_blocks"),
            requesters=[Answering(user_id, origin) for user_id in dict.fromkeys(requesters)],
            captured=origin,
        )

    def apply(self, event: Event) -> None:
        """One more event of the record's history, after the capture."""
        kind, payload = event.type, event.payload
        origin = Origin(event.seq, kind)
        if kind in ANSWERS:
            self._answer(event, origin)
        elif kind == AMENDED:
            self.revision = int(payload.get("revision") or self.revision + 1)
            self.text = payload["text"]
            self._set(origin, "revision", "text")
            self._ask_again(origin)
        elif kind in STATUS_CHANGES:
            self.status = payload["status"]
            self._set(origin, "status")
            if self.status == PENDING:
                self._ask_again(origin)
        elif kind == EXPIRED:
            self.status = EXPIRED
            self.decided_at = event.at
            self._set(origin, "status", "decided_at")

    def _answer(self, event: Event, origin: Origin) -> None:
        payload = event.payload
        for requester in self.requesters:
            if requester.user_id == event.actor_id:
                requester.answer = event.type
                requester.answered_at = event.at
                requester.answered_revision = int(payload.get("revision") or self.revision)
                requester.answered_via = payload.get("via")
                requester.evidence_ts = payload.get("evidence_ts")
                requester.origin = origin
        if event.type == "rejected":
            decided = "rejected"
        elif all(r.answer == "confirmed" for r in self.requesters):
            decided = "confirmed"
        else:
            return
        self.status = decided
        self.decided_at = event.at
        self.decided_by_id = event.actor_id
        self._set(origin, "status", "decided_at", "decided_by_id")

    def _ask_again(self, origin: Origin) -> None:
        self.status = PENDING
        self.decided_at = None
        self.decided_by_id = None
        self._set(origin, "status", "decided_at", "decided_by_id")
        for requester in self.requesters:
            requester.answer = PENDING
            requester.answered_at = None
            requester.answered_revision = None
            requester.answered_via = None
            requester.evidence_ts = None
            requester.origin = origin

    def _set(self, origin: Origin, *names: str) -> None:
        for name in names:
            self.origins[name] = origin

    def origin(self, name: str) -> Origin:
        return self.origins.get(name, self.captured)


def replay(events: Iterable[Event]) -> RecordState | None:
    """The record as its events, in seq order, leave it; None if they do not begin with its
    capture."""
    state: RecordState | None = None
    for event in events:
        if event.type == CAPTURED:
            state = RecordState.from_capture(event)
        elif state is None:
            return None
        else:
            state.apply(event)
    return state


# What verify compares, in this order: (the record row's column, its name in a message).
RECORD_FIELDS = (
    ("status", "status"),
    ("text", "text"),
    ("revision", "revision"),
    ("kind", "kind"),
    ("owner_id", "owner"),
    ("captured_by_id", "capturer"),
    ("due_at", "due date"),
    ("risk", "risk"),
    ("risk_note", "risk note"),
    ("decided_at", "decision time"),
    ("decided_by_id", "decider"),
    ("channel_id", "channel"),
    ("source", "source"),
    ("source_ts", "source message"),
    ("source_blocks", "source message blocks"),
    ("created_at", "capture time"),
)
# Each requester's row, in position order: who, then their answer.
REQUESTER_FIELDS = (
    ("user_id", "requester"),
    ("answer", "answer"),
    ("answered_at", "answer time"),
    ("answered_revision", "answered revision"),
    ("answered_via", "way of answering"),
    ("evidence_ts", "answering message"),
)
_record_values = attrgetter(*(column for column, _ in RECORD_FIELDS))
_requester_values = attrgetter(*(column for column, _ in REQUESTER_FIELDS))


class Difference(NamedTuple):
    origin: Origin
    what: str


def first_difference(
    state: RecordState, stored: Sequence[Any], requesters: Sequence[Sequence[Any]]
) -> Difference | None:
    """The first field where the record's row (`stored`: the values of RECORD_FIELDS, in
    order, times as iso_utc's text) or its requesters' rows (each the values of
    REQUESTER_FIELDS, in position order) say something other than its history."""
    replayed = _record_values(state)
    answers = [_requester_values(requester) for requester in state.requesters]
    if replayed == tuple(stored) and answers == [tuple(r) for r in requesters]:
        return None  # the usual case, checked at once
    for (column, name), was, now in zip(RECORD_FIELDS, stored, replayed, strict=True):
        if was != now:
            if column == "text":  # quoting both texts would say too much, and too long
                what = "the record's text differs from the text in its history"
            elif column == "source_blocks":
                what = "the record's source message blocks differ from those in its history"
            else:
                what = (
                    f"the record's {name} is {_shown(was)} in the database but "
                    f"{_shown(now)} in its history"
                )
            return Difference(state.origin(column), what)
        # After the revision, the requesters: who must answer, then how each did.
        if column == "revision" and (found := _requesters_difference(state, requesters)):
            return found
    return None


def _requesters_difference(
    state: RecordState, requesters: Sequence[Sequence[Any]]
) -> Difference | None:
    stored_ids = [r[0] for r in requesters]
    replayed_ids = [r.user_id for r in state.requesters]
    if stored_ids != replayed_ids:
        return Difference(
            state.captured,
            f"the record's requesters are {_shown(stored_ids)} in the database but "
            f"{_shown(replayed_ids)} in its history",
        )
    for stored, replayed in zip(requesters, state.requesters, strict=True):
        values = _requester_values(replayed)
        for (_, name), was, now in zip(REQUESTER_FIELDS, stored, values, strict=True):
            if was != now:
                return Difference(
                    replayed.origin,
                    f"{replayed.user_id}'s {name} is {_shown(was)} in the database but "
                    f"{_shown(now)} in its history",
                )
    return None


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)
