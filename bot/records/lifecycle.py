"""The record lifecycle: capture, answers from requesters, amendments, and closing.

Every change locks the record's row first (SQLite serializes writers anyway), so two
requesters answering at once, or a double click, are applied one after the other and each
sees the other's answer. Every change appends an audit event through the ledger.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from bot.errors import (
    AlreadyAnswered,
    AlreadyCaptured,
    NotAllowed,
    NotInThisState,
    RecordNotFound,
    StaleRevision,
)
from bot.ledger import hashchain
from bot.models import (
    Answer,
    AuditEvent,
    Record,
    RecordKind,
    RecordStatus,
    Requester,
    Revision,
    Risk,
    Source,
)

MAX_INSTRUCTION_LENGTH = 12_000
MAX_REQUESTERS = 10
# The event of a requester's reply that looked like an answer but was none (`is_near_miss`).
UNCLEAR_REPLY = "unclear_reply"


class Action(enum.StrEnum):
    """What the team can do to a record once it exists (besides answering and amending)."""

    WITHDRAW = "withdraw"
    DONE = "done"
    CANCEL = "cancel"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Capture:
    team_id: str
    channel_id: str
    captured_by_id: str
    requester_ids: tuple[str, ...]
    text: str
    kind: RecordKind = RecordKind.INSTRUCTION
    risk: Risk = Risk.NONE
    risk_note: str | None = None
    due_at: datetime | None = None
    owner_id: str | None = None
    source: Source = Source.COMMAND
    source_ts: str | None = None
    source_thread_ts: str | None = None
    # Slack may deliver one command or form twice; the key (its trigger or view id) makes
    # the second delivery find the first record instead of making another.
    capture_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The source message's own rich_text blocks (`slack.richtext.source_blocks`), when the
    # text is that message's words as written.
    source_blocks: list[dict[str, Any]] | None = None

    def as_payload(self) -> dict[str, Any]:
        """As JSON, to be carried out later (`accept_capture`); from_payload reads it back."""
        return {
            "team_id": self.team_id,
            "channel_id": self.channel_id,
            "captured_by_id": self.captured_by_id,
            "requester_ids": list(self.requester_ids),
            "text": self.text,
            "kind": self.kind.value,
            "risk": self.risk.value,
            "risk_note": self.risk_note,
            "due_at": hashchain.iso_utc(self.due_at) if self.due_at else None,
            "owner_id": self.owner_id,
            "source": self.source.value,
            "source_ts": self.source_ts,
            "source_thread_ts": self.source_thread_ts,
            "capture_key": self.capture_key,
            "details": self.details,
            "source_blocks": self.source_blocks,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Capture:
        due_at = payload["due_at"]
        return cls(
            team_id=payload["team_id"],
            channel_id=payload["channel_id"],
            captured_by_id=payload["captured_by_id"],
            requester_ids=tuple(payload["requester_ids"]),
            text=payload["text"],
            kind=RecordKind(payload["kind"]),
            risk=Risk(payload["risk"]),
            risk_note=payload["risk_note"],
            due_at=datetime.fromisoformat(due_at) if due_at else None,
            owner_id=payload["owner_id"],
            source=Source(payload["source"]),
            source_ts=payload["source_ts"],
            source_thread_ts=payload["source_thread_ts"],
            capture_key=payload["capture_key"],
            details=payload["details"],
            source_blocks=payload.get("source_blocks"),
        )


def capture(session: Session, now: datetime, capture: Capture, number: int | None = None) -> Record:
    """Store a new record; `number` is one reserved for it when it was accepted
    (`intake.accept_capture`), otherwise the workspace's next."""
    if capture.source_ts is not None:
        _refuse_second_capture(session, capture)
    workspace = None
    if number is None:
        workspace = hashchain.lock_workspace(session, capture.team_id, now)
        workspace.last_record_number += 1
        number = workspace.last_record_number
    from_message = capture.source_ts is not None
    record = Record(
        team_id=capture.team_id,
        number=number,
        kind=capture.kind,
        status=RecordStatus.PENDING,
        text=capture.text,
        revision=1,
        captured_by_id=capture.captured_by_id,
        owner_id=capture.owner_id or capture.captured_by_id,
        risk=capture.risk,
        risk_note=capture.risk_note,
        due_at=capture.due_at,
        source=capture.source,
        source_channel_id=capture.channel_id if from_message else None,
        source_ts=capture.source_ts,
        source_blocks=capture.source_blocks,
        capture_key=capture.capture_key,
        channel_id=capture.channel_id,
        # A captured message is asked about in its own thread; a command gets a card first.
        thread_ts=(capture.source_thread_ts or capture.source_ts) if from_message else None,
        created_at=now,
        requesters=[
            Requester(user_id=user_id, position=i, answer=Answer.PENDING)
            for i, user_id in enumerate(dict.fromkeys(capture.requester_ids))
        ],
        revisions=[
            Revision(number=1, text=capture.text, author_id=capture.captured_by_id, created_at=now)
        ],
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError as error:  # another reaction won the race for the same message
        raise AlreadyCaptured("message already captured", number=None) from error
    # With a reserved number the workspace's row is locked only now, for the ledger, and so
    # for as short a time as can be: acks reserving the next numbers wait on that row.
    workspace = workspace or hashchain.lock_workspace(session, capture.team_id, now)
    hashchain.append(
        session,
        workspace,
        record,
        "captured",
        capture.captured_by_id,
        now,
        {
            "text": capture.text,
            "kind": capture.kind.value,
            "requesters": list(dict.fromkeys(capture.requester_ids)),
            "owner": record.owner_id,
            "risk": capture.risk.value,
            "risk_note": capture.risk_note,
            "due_at": hashchain.iso_utc(capture.due_at) if capture.due_at else None,
            "channel": capture.channel_id,
            "source": capture.source.value,
            "source_ts": capture.source_ts,
            # Hashed with the text: they are shown as the client's words, so they are part
            # of what was recorded (only present for a message captured with its blocks).
            **({"source_blocks": capture.source_blocks} if capture.source_blocks else {}),
            **capture.details,
        },
    )
    return record


def _refuse_second_capture(session: Session, capture: Capture) -> None:
    existing = session.execute(
        select(Record.number).where(
            Record.team_id == capture.team_id,
            Record.source_channel_id == capture.channel_id,
            Record.source_ts == capture.source_ts,
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise AlreadyCaptured("message already captured", number=existing)


def by_capture_key(session: Session, team_id: str, key: str) -> Record | None:
    """The record a command or form made, with its history: it is shown again after the
    session ends (the same delivery seen twice), closed or not."""
    return session.execute(
        select(Record)
        .where(Record.team_id == team_id, Record.capture_key == key)
        .options(selectinload(Record.events))
    ).scalar_one_or_none()


def get(session: Session, team_id: str, number: int, *, for_update: bool = False) -> Record:
    query = select(Record).where(Record.team_id == team_id, Record.number == number)
    if for_update:
        query = query.with_for_update()
    record = session.execute(query).scalar_one_or_none()
    if record is None:
        raise RecordNotFound(number)
    return record


def in_thread(session: Session, channel_id: str, thread_ts: str) -> Record | None:
    """The record whose confirmation thread this is, if any."""
    return session.execute(
        select(Record)
        .where(Record.channel_id == channel_id, Record.thread_ts == thread_ts)
        .order_by(Record.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()


def answer(
    session: Session,
    now: datetime,
    record: Record,
    actor_id: str,
    revision: int,
    reply: Answer,
    via: str,
    evidence_ts: str | None = None,
) -> Record:
    """A requester confirms or rejects the revision they were shown."""
    requester = record.requester(actor_id)
    if requester is None:
        raise NotAllowed("not a requester", reason="not_requester", **_who(record))
    if revision != record.revision:
        raise StaleRevision("old revision", clicked=revision, **_who(record))
    if record.status != RecordStatus.PENDING:
        raise NotInThisState("already decided", **_who(record))
    if requester.answer != Answer.PENDING:
        raise AlreadyAnswered("already answered", answer=requester.answer, **_who(record))
    requester.answer = reply
    requester.answered_at = now
    requester.answered_revision = revision
    requester.answered_via = via
    requester.evidence_ts = evidence_ts
    if reply == Answer.REJECTED:
        _decide(record, RecordStatus.REJECTED, actor_id, now)
    elif all(r.answer == Answer.CONFIRMED for r in record.requesters):
        _decide(record, RecordStatus.CONFIRMED, actor_id, now)
    _append(
        session,
        now,
        record,
        reply.value,
        actor_id,
        {
            "revision": revision,
            "via": via,
            "evidence_ts": evidence_ts,
            "status": record.status,
        },
    )
    return record


def repeats(
    session: Session, record: Record, actor_id: str, revision: int, what: Answer | Action
) -> bool:
    """Whether this is the same person pressing the same button again (a double click, or
    the second press of a button their client still showed): their answer to that revision
    is already on record, or the record's last change of status was this very action of
    theirs. Such a press changes nothing, and need not be explained."""
    if isinstance(what, Answer):
        requester = record.requester(actor_id)
        return (
            requester is not None
            and requester.answer == what
            and requester.answered_revision == revision
        )
    last = session.execute(
        select(AuditEvent.type, AuditEvent.actor_id, AuditEvent.payload)
        .where(AuditEvent.record_id == record.id, AuditEvent.type.in_(_STATUS_EVENTS))
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return (
        last is not None
        and (last.type, last.actor_id) == (_EVENT_NAMES[what], actor_id)
        and last.payload.get("status") == record.status
        and revision == record.revision
    )


def amend(
    session: Session, now: datetime, record: Record, actor_id: str, revision: int, text: str
) -> Record:
    """New wording becomes a new revision, which every requester must confirm again."""
    if actor_id not in (*record.requester_ids, record.captured_by_id, record.owner_id):
        raise NotAllowed("may not amend", reason="not_party", **_who(record))
    if revision != record.revision:
        raise StaleRevision("old revision", clicked=revision, **_who(record))
    if record.status not in (RecordStatus.PENDING, RecordStatus.CONFIRMED):
        raise NotInThisState("closed", **_who(record))
    previous = record.text
    record.revision += 1
    record.text = text
    record.revisions.append(
        Revision(number=record.revision, text=text, author_id=actor_id, created_at=now)
    )
    _ask_again(record)
    _append(
        session,
        now,
        record,
        "amended",
        actor_id,
        {
            "revision": record.revision,
            "text": text,
            "previous_text": previous,
        },
    )
    return record


def act(session: Session, now: datetime, record: Record, actor_id: str, action: Action) -> Record:
    """Withdraw (while pending), mark done or cancel (once confirmed), or reopen."""
    allowed, before, after = _RULES[action]
    if actor_id not in {getattr(record, attribute) for attribute in allowed}:
        reason = "owner" if allowed == ("owner_id",) else "capturer_or_owner"
        raise NotAllowed("may not", reason=reason, **_who(record))
    if record.status not in before:
        raise NotInThisState("wrong state", **_who(record))
    target = after or (
        RecordStatus.CONFIRMED
        if record.status in (RecordStatus.DONE, RecordStatus.CANCELLED)
        else RecordStatus.PENDING
    )
    if target == RecordStatus.PENDING:
        _ask_again(record)
    record.status = target
    _append(session, now, record, _EVENT_NAMES[action], actor_id, {"status": target.value})
    return record


_RULES: dict[Action, tuple[tuple[str, ...], tuple[RecordStatus, ...], RecordStatus | None]] = {
    Action.WITHDRAW: (
        ("captured_by_id", "owner_id"),
        (RecordStatus.PENDING,),
        RecordStatus.WITHDRAWN,
    ),
    Action.DONE: (("owner_id",), (RecordStatus.CONFIRMED,), RecordStatus.DONE),
    Action.CANCEL: (("owner_id",), (RecordStatus.CONFIRMED,), RecordStatus.CANCELLED),
    # Reopening a closed record puts it back to confirmed; a withdrawn or rejected one is
    # asked again.
    Action.REOPEN: (
        ("captured_by_id", "owner_id"),
        (
            RecordStatus.DONE,
            RecordStatus.CANCELLED,
            RecordStatus.WITHDRAWN,
            RecordStatus.REJECTED,
            RecordStatus.EXPIRED,
        ),
        None,
    ),
}
_EVENT_NAMES = {
    Action.WITHDRAW: "withdrawn",
    Action.DONE: "done",
    Action.CANCEL: "cancelled",
    Action.REOPEN: "reopened",
}
# Every event that sets a record's status, so that the last of them says how it came to be.
_STATUS_EVENTS = (
    *_EVENT_NAMES.values(),
    *(answer.value for answer in Answer if answer != Answer.PENDING),
    "amended",
    "expired",
)


def expire(session: Session, now: datetime, record: Record) -> bool:
    """A record nobody confirmed in time; False if it was answered meanwhile."""
    if record.status != RecordStatus.PENDING:
        return False
    record.status = RecordStatus.EXPIRED
    record.decided_at = now
    _append(session, now, record, "expired", "sayso", {"revision": record.revision})
    return True


def remind(session: Session, now: datetime, record: Record, waiting: list[str], n: int) -> None:
    _append(session, now, record, "reminded", "sayso", {"number": n, "waiting": waiting})


def note_message_change(
    session: Session,
    now: datetime,
    record: Record,
    actor_id: str,
    change: str,
    payload: dict[str, Any],
) -> None:
    """The source or a confirming reply was edited or deleted: history, never the record."""
    _append(session, now, record, change, actor_id, payload)


def note_unclear_reply(
    session: Session, now: datetime, record: Record, actor_id: str, ts: str, text: str
) -> bool:
    """A requester's reply that looks like an answer but confirms nothing ("ok", "👍"): kept
    in the history with what they were told, the first time only; False if noted before."""
    noted = session.execute(
        select(AuditEvent.id)
        .where(
            AuditEvent.record_id == record.id,
            AuditEvent.type == UNCLEAR_REPLY,
            AuditEvent.actor_id == actor_id,
        )
        .limit(1)
    ).first()
    if noted is not None:
        return False
    payload = {"ts": ts, "text": text, "revision": record.revision, "told": "how to confirm"}
    _append(session, now, record, UNCLEAR_REPLY, actor_id, payload)
    return True


def _ask_again(record: Record) -> None:
    record.status = RecordStatus.PENDING
    record.decided_at = None
    record.decided_by_id = None
    for requester in record.requesters:
        requester.answer = Answer.PENDING
        requester.answered_at = None
        requester.answered_revision = None
        requester.answered_via = None
        requester.evidence_ts = None
        requester.evidence_permalink = None


def _decide(record: Record, status: RecordStatus, actor_id: str, now: datetime) -> None:
    record.status = status
    record.decided_at = now
    record.decided_by_id = actor_id


def _append(
    session: Session,
    now: datetime,
    record: Record,
    event_type: str,
    actor_id: str,
    payload: dict[str, Any],
) -> None:
    workspace = hashchain.lock_workspace(session, record.team_id, now)
    hashchain.append(session, workspace, record, event_type, actor_id, now, payload)


def _who(record: Record) -> dict[str, Any]:
    return {
        "number": record.number,
        "status": record.status,
        "revision": record.revision,
        "requester_ids": record.requester_ids,
        "owner_id": record.owner_id,
        "captured_by_id": record.captured_by_id,
    }


def list_records(session: Session, team_id: str | None = None) -> list[Record]:
    """Every record with its history (`as_dict` writes it out), oldest first."""
    query = (
        select(Record).order_by(Record.team_id, Record.number).options(selectinload(Record.events))
    )
    if team_id is not None:
        query = query.where(Record.team_id == team_id)
    return list(session.execute(query).scalars())


def any_records(session: Session, team_id: str | None = None) -> bool:
    """Whether there is any record at all (of `team_id`, if given)."""
    query = select(Record.id).limit(1)
    if team_id is not None:
        query = query.where(Record.team_id == team_id)
    return session.execute(query).first() is not None


def numbered(session: Session, number: int, team_id: str | None = None) -> list[Record]:
    """The records #`number` with their history, one per workspace (of `team_id`, if given)."""
    query = (
        select(Record)
        .where(Record.number == number)
        .order_by(Record.team_id)
        .options(selectinload(Record.events))
    )
    if team_id is not None:
        query = query.where(Record.team_id == team_id)
    return list(session.execute(query).scalars())


def teams_with_record(session: Session, number: int, team_id: str | None = None) -> list[str]:
    """The workspaces that hold a record #`number` (only `team_id`, if given)."""
    query = select(Record.team_id).where(Record.number == number)
    if team_id is not None:
        query = query.where(Record.team_id == team_id)
    return list(session.execute(query).scalars())


def as_dict(record: Record) -> dict[str, Any]:
    """The record's public JSON shape (`sayso records --json`, `sayso show --json`)."""
    iso = hashchain.iso_utc
    return {
        "number": record.number,
        "team_id": record.team_id,
        "kind": record.kind,
        "status": record.status,
        "text": record.text,
        "revision": record.revision,
        "requester_id": record.requester_id,
        "requesters": [
            {
                "user_id": r.user_id,
                "org_team_id": r.org_team_id,
                "org_name": r.org_name,
                "answer": r.answer,
                "answered_at": iso(r.answered_at) if r.answered_at else None,
                "answered_revision": r.answered_revision,
                "via": r.answered_via,
                "evidence_ts": r.evidence_ts,
                "evidence_permalink": r.evidence_permalink,
            }
            for r in record.requesters
        ],
        "captured_by_id": record.captured_by_id,
        "owner_id": record.owner_id,
        "risk": record.risk,
        "risk_note": record.risk_note,
        "due_at": iso(record.due_at) if record.due_at else None,
        "source": record.source,
        "source_ts": record.source_ts,
        "source_permalink": record.source_permalink,
        "thread_permalink": record.thread_permalink,
        "channel_id": record.channel_id,
        "thread_ts": record.thread_ts,
        "created_at": iso(record.created_at),
        "confirmed_at": iso(record.decided_at)
        if record.decided_at and record.status != RecordStatus.REJECTED
        else None,
        "decided_at": iso(record.decided_at) if record.decided_at else None,
        "decided_by_id": record.decided_by_id,
        "revisions": [
            {
                "number": v.number,
                "text": v.text,
                "author_id": v.author_id,
                "created_at": iso(v.created_at),
            }
            for v in record.revisions
        ],
        "events": [
            {
                "type": event.type,
                "actor_id": event.actor_id,
                "at": iso(event.at),
                "payload": event.payload,
                "hash": event.hash,
            }
            for event in record.events
        ],
    }
