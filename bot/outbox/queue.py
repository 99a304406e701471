"""The outbox's queue: Slack side effects and deferred work, written in the transaction of
the change that caused them, so that they happen if and only if it commits.

`OutboxDispatcher` delivers them after the ack; `admin` is what operators see of them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import DriverTransaction, unit_of_work
from bot.models import OutboxMessage

# A delivered message is kept this long (what went out and when, for whoever asks why a card
# came late), then deleted by the scheduled pass, this many per transaction. Messages that
# failed for good stay until their record is purged.
KEEP_DELIVERED = timedelta(days=7)
PRUNE_BATCH = 1000


class JobKind(enum.StrEnum):
    """What an outbox job is for: mostly a Slack side effect, sent by `SlackDelivery`; a
    capture or a click is domain work, carried out by its use case."""

    POST_RECORD = "post_record"  # the card (commands), then the request in the thread
    REFRESH_RECORD = "refresh_record"  # card and request updated in place after a change
    NEW_REVISION = "new_revision"  # old request marked superseded, new one posted
    THREAD_REPLY = "thread_reply"  # a template posted in the record's thread
    EPHEMERAL = "ephemeral"  # a template only one user sees
    EVIDENCE_LINK = "evidence_link"  # keep the permalink of a confirming reply
    NUDGE = "nudge"  # private nudges to the watchers of a channel
    TROUBLE = "trouble"  # tell the person who captured that Slack is not taking the card
    SNAPSHOT_THREAD = "snapshot_thread"  # keep the thread as it stood when confirmed
    PUBLISH_HOME = "publish_home"  # a person's App Home tab, drawn again
    SEND_EVIDENCE = "send_evidence"  # a record's evidence file, by direct message
    DIGEST = "digest"  # the morning's digest: the channel's summary, or an owner's DM
    CAPTURE_MESSAGE = "capture_message"  # fetch a message and capture it (reaction, nudge)
    CAPTURE = "capture"  # a /confirm capture, numbered and acked, to store
    CLICK = "click"  # a press on a record's button, acked, to apply


# Carries out one job: sends it to Slack, or does the domain work it holds.
JobHandler = Callable[[OutboxMessage], None]

_OUTBOX = cast(Table, OutboxMessage.__table__)
_QUEUE = insert(_OUTBOX)  # built once: the ack path runs it on every request
_CARRIED_OUT = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("message_id"),
        _OUTBOX.c.delivered_at.is_(None),
        _OUTBOX.c.failed_at.is_(None),
    )
    .values(lease_until=None, delivered_at=bindparam("now"), last_error=None)
)


def enqueue(
    session: Session,
    now: datetime,
    *,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    record_id: int | None = None,
) -> OutboxMessage:
    """Queue a message with the session's other changes (written at its flush)."""
    message = OutboxMessage(**_new_row(now, team_id, kind, payload, record_id))
    session.add(message)
    return message


def enqueue_now(
    turn: DriverTransaction,
    now: datetime,
    *,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    request_key: str | None = None,
) -> None:
    """Queue a message in the ack path's short transaction (`commit_together`).
    `request_key` names the Slack request it was accepted from, so that a
    second delivery of that request fails on the unique key instead of queueing twice."""
    turn.execute(_QUEUE, {**_new_row(now, team_id, kind, payload), "request_key": request_key})


def _new_row(
    now: datetime,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    record_id: int | None = None,
) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "record_id": record_id,
        "kind": kind,
        "payload": payload,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "notified": False,
    }


def prune_delivered(session_factory: sessionmaker[Session], now: datetime) -> int:
    """Delete messages delivered more than KEEP_DELIVERED ago; returns how many."""
    removed = 0
    while True:
        with unit_of_work(session_factory) as session:
            batch = (
                session.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.delivered_at < now - KEEP_DELIVERED)
                    .limit(PRUNE_BATCH)
                )
                .scalars()
                .all()
            )
            if batch:
                session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(batch)))
        removed += len(batch)
        if len(batch) < PRUNE_BATCH:
            return removed


class AlreadyCarriedOut(Exception):
    """Another dispatcher carried this job out first: it took the job over when this one's
    lease ran out."""


def mark_carried_out(session: Session, message_id: int, now: datetime) -> None:
    """A job done in the database (a capture, a click) is marked done at the end of the
    transaction that does it, so that a crash can neither lose it nor have it done twice.
    Raises AlreadyCarriedOut, to roll that transaction back, if it was done meanwhile."""
    marked = session.connection().execute(_CARRIED_OUT, {"message_id": message_id, "now": now})
    if marked.rowcount != 1:
        raise AlreadyCarriedOut(message_id)
