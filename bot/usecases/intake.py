"""Requests accepted before their ack and carried out right after it, by the outbox.

A `/confirm` capture and a press on one of a record's buttons cannot be refused once they
are well formed and signed: the number is the workspace's next, the button press is checked
against the record when it is applied, and a refusal reaches the person privately either
way. So before the ack only the promise is made durable (the record's number reserved, and
the request itself queued as an outbox job, in one transaction of two statements), and the
outbox carries it out a moment later with the whole domain: the record and its history, the
hash chain, the card. Slack gives an ack three seconds and the person who typed is waiting
for it; the rest can take its turn, and under a burst it does (`AckGate`). Acks that come
while another one commits share the next commit (`db.commit_together`): on PostgreSQL they
then stop queueing one by one for the workspace's row.

A capture of a message (a reaction, a nudge, the message shortcut's form) is different: the
message may have been captured already, so it is stored, or refused, before anyone is told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import logs
from bot.db import DriverTransaction, commit_together, reading
from bot.ledger import hashchain
from bot.models import UNDELIVERED, OutboxMessage, Workspace
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records.lifecycle import Capture

# Built once: the ack path runs them on every request, and building them costs more than
# running them.
_WORKSPACES = cast(Table, Workspace.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_RESERVE_NUMBER = (
    update(_WORKSPACES)
    .where(_WORKSPACES.c.team_id == bindparam("team"))
    .values(last_record_number=_WORKSPACES.c.last_record_number + 1)
    .returning(_WORKSPACES.c.last_record_number)
)
_QUEUED_PAYLOAD = select(_OUTBOX.c.payload).where(
    _OUTBOX.c.team_id == bindparam("team"), _OUTBOX.c.request_key == bindparam("key")
)


def accept_capture(
    session_factory: sessionmaker[Session],
    now: datetime,
    capture: Capture,
    response_url: str | None,
) -> int:
    """Reserve the record's number and queue its capture; returns the number. A request
    Slack delivered twice (the same capture key) gets the number the first one got."""
    capture_payload = capture.as_payload()

    def reserve_and_queue(turn: DriverTransaction) -> int:
        number = _reserve_number(turn, capture.team_id, now)
        queue.enqueue_now(
            turn,
            now,
            team_id=capture.team_id,
            kind=JobKind.CAPTURE,
            payload={"number": number, "capture": capture_payload, "response_url": response_url},
            request_key=capture.capture_key,
        )
        return number

    try:
        number = commit_together(session_factory, reserve_and_queue)
    except IntegrityError:
        if capture.capture_key is None:
            raise
        first = _first_number(session_factory, capture.team_id, capture.capture_key)
        if first is None:
            raise
        number = first
    logs.note_record(number)
    return number


def accept_click(
    session_factory: sessionmaker[Session], now: datetime, team_id: str, click: dict[str, Any]
) -> None:
    """Queue a press on a record's button, to be applied right after the ack."""

    def enqueue_capture(turn: DriverTransaction) -> None:
        queue.enqueue_now(turn, now, team_id=team_id, kind=JobKind.CLICK, payload=click)

    commit_together(session_factory, enqueue_capture)
    logs.note_record(click["number"])


def accepted_capture(session: Session, team_id: str, number: int) -> Capture | None:
    """The capture accepted as #number and still waiting to be stored, if it is."""
    waiting = session.execute(
        select(_OUTBOX.c.payload).where(
            _OUTBOX.c.team_id == team_id,
            _OUTBOX.c.kind == JobKind.CAPTURE.value,
            text(UNDELIVERED),
        )
    ).scalars()
    for payload in waiting:
        if payload["number"] == number:
            return Capture.from_payload(payload["capture"])
    return None


def _reserve_number(turn: DriverTransaction, team_id: str, now: datetime) -> int:
    reserved = turn.execute(_RESERVE_NUMBER, {"team": team_id}).fetchone()
    if reserved is None:  # the workspace's first record
        turn.execute(*hashchain.new_workspace(turn.dialect_name, team_id, now))
        reserved = turn.execute(_RESERVE_NUMBER, {"team": team_id}).fetchone()
    return int(reserved[0])


def _first_number(session_factory: sessionmaker[Session], team_id: str, key: str) -> int | None:
    """The number given to the first delivery of a request, from its queued job (the key
    clashes only while that job is kept: a week, far beyond Slack's retries)."""
    with reading(session_factory) as session:
        payload = session.execute(_QUEUED_PAYLOAD, {"team": team_id, "key": key}).scalar()
        return int(payload["number"]) if payload is not None else None
