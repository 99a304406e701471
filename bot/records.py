"""The record lifecycle: capture an instruction, then the requester confirms or rejects it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from bot import ledger
from bot.errors import RecordNotFound
from bot.models import Record, RecordStatus

MAX_INSTRUCTION_LENGTH = 12_000


class Decision(enum.StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"

    @property
    def status(self) -> RecordStatus:
        return RecordStatus.CONFIRMED if self is Decision.CONFIRM else RecordStatus.REJECTED


class DecisionOutcome(enum.StrEnum):
    APPLIED = "applied"
    NOT_REQUESTER = "not_requester"
    ALREADY_DECIDED = "already_decided"


@dataclass(frozen=True)
class Capture:
    team_id: str
    channel_id: str
    captured_by_id: str
    requester_id: str
    text: str


def capture(session: Session, now: datetime, capture: Capture) -> Record:
    workspace = ledger.lock_workspace(session, capture.team_id, now)
    workspace.last_record_number += 1
    record = Record(
        team_id=capture.team_id,
        number=workspace.last_record_number,
        status=RecordStatus.PENDING,
        text=capture.text,
        requester_id=capture.requester_id,
        captured_by_id=capture.captured_by_id,
        channel_id=capture.channel_id,
        created_at=now,
    )
    session.add(record)
    ledger.append(
        session,
        workspace,
        record,
        "captured",
        capture.captured_by_id,
        now,
        {
            "text": capture.text,
            "requester": capture.requester_id,
            "channel": capture.channel_id,
            "source": "slash_command",
        },
    )
    session.flush()
    return record


def get(session: Session, team_id: str, number: int) -> Record:
    record = session.execute(
        select(Record).where(Record.team_id == team_id, Record.number == number)
    ).scalar_one_or_none()
    if record is None:
        raise RecordNotFound(number)
    return record


def decide(
    session: Session, now: datetime, team_id: str, number: int, actor_id: str, decision: Decision
) -> tuple[Record, DecisionOutcome]:
    """Apply the requester's decision once; a repeat or a stranger's click changes nothing."""
    record = get(session, team_id, number)
    if actor_id != record.requester_id:
        return record, DecisionOutcome.NOT_REQUESTER
    # The conditional update is what makes a double click (or two replicas) harmless:
    # only the transaction that still sees `pending` moves the record on.
    moved: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Record)
        .where(Record.id == record.id, Record.status == RecordStatus.PENDING)
        .values(status=decision.status, decided_at=now, decided_by_id=actor_id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        session.refresh(record)
        return record, DecisionOutcome.ALREADY_DECIDED
    session.refresh(record)
    workspace = ledger.lock_workspace(session, team_id, now)
    ledger.append(
        session, workspace, record, decision.status.value, actor_id, now, {"via": "button"}
    )
    return record, DecisionOutcome.APPLIED


def list_records(session: Session, team_id: str | None = None) -> list[Record]:
    query = select(Record).order_by(Record.team_id, Record.number)
    if team_id is not None:
        query = query.where(Record.team_id == team_id)
    return list(session.execute(query).scalars())


def as_dict(record: Record) -> dict[str, Any]:
    """The record's public JSON shape (`sayso records --json`, `sayso show --json`)."""
    return {
        "number": record.number,
        "team_id": record.team_id,
        "status": record.status,
        "text": record.text,
        "requester_id": record.requester_id,
        "captured_by_id": record.captured_by_id,
        "channel_id": record.channel_id,
        "thread_ts": record.thread_ts,
        "created_at": ledger.iso_utc(record.created_at),
        "confirmed_at": ledger.iso_utc(record.confirmed_at) if record.confirmed_at else None,
        "decided_at": ledger.iso_utc(record.decided_at) if record.decided_at else None,
        "decided_by_id": record.decided_by_id,
        "events": [
            {
                "type": event.type,
                "actor_id": event.actor_id,
                "at": ledger.iso_utc(event.at),
                "payload": event.payload,
                "hash": event.hash,
            }
            for event in record.events
        ],
    }
