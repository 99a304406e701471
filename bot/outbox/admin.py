"""The outbox as an operator sees it (`sayso outbox`): what waits, what failed for good,
and retrying or dropping what failed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from bot.models import OutboxMessage, Record

_OUTBOX = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class FailedMessage:
    """A message the outbox gave up on, as `sayso outbox` lists it."""

    id: int
    team_id: str
    kind: str
    record_number: int | None
    attempts: int
    created_at: datetime
    failed_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class Standing:
    """The outbox as an operator sees it: what still waits, and what failed for good."""

    waiting: int
    retrying: int  # of those waiting, the ones Slack refused at least once
    oldest_waiting: datetime | None
    failed: list[FailedMessage]


def standing(session: Session, team_id: str | None = None) -> Standing:
    waiting = [_OUTBOX.c.delivered_at.is_(None), _OUTBOX.c.failed_at.is_(None)]
    count, retrying, oldest = session.execute(
        select(
            func.count(),
            func.count(_OUTBOX.c.last_error),
            func.min(waiting_since()),
        ).where(*waiting, *_of_team(team_id))
    ).one()
    return Standing(count, retrying, oldest, failed_messages(session, team_id=team_id))


def failed_messages(
    session: Session, ids: Collection[int] | None = None, team_id: str | None = None
) -> list[FailedMessage]:
    """The messages that failed for good, oldest first: all, or those of `ids`."""
    chosen = [] if ids is None else [_OUTBOX.c.id.in_(ids)]
    rows = session.execute(
        select(_OUTBOX, Record.number)
        .outerjoin(Record, Record.id == _OUTBOX.c.record_id)
        .where(_OUTBOX.c.failed_at.is_not(None), *chosen, *_of_team(team_id))
        .order_by(_OUTBOX.c.id)
    ).all()
    return [
        FailedMessage(
            id=row.id,
            team_id=row.team_id,
            kind=row.kind,
            # A capture or a click that was never carried out has no record row to join:
            # the number its ack gave is in the job.
            record_number=row.number if row.number is not None else row.payload.get("number"),
            attempts=row.attempts,
            created_at=row.created_at,
            failed_at=row.failed_at,
            last_error=row.last_error,
        )
        for row in rows
    ]


def retry_failed(
    session: Session, now: datetime, ids: Collection[int] | None, team_id: str | None = None
) -> list[int]:
    """Make failed messages due again: those of `ids` that failed, or every failed one (of
    the workspace). Each gets its 24 hours of patience again, from now; whoever was told of
    its trouble is not told again. Its attempts still count: a post Slack may have taken on
    an earlier one is looked for before it is sent again (`SlackDelivery`).
    Returns the ids made due."""
    chosen = [] if ids is None else [_OUTBOX.c.id.in_(ids)]
    made_due = session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.failed_at.is_not(None), *chosen, *_of_team(team_id))
        .values(
            failed_at=None, lease_until=None, next_attempt_at=now, retried_at=now, last_error=None
        )
        .returning(_OUTBOX.c.id)
    ).scalars()
    return sorted(made_due)


def drop_failed(session: Session, ids: Collection[int]) -> list[FailedMessage]:
    """Delete the messages of `ids` that failed for good; returns what was deleted."""
    failed = failed_messages(session, ids)
    if not failed:
        return []
    # Only what is still failed: a retry may have made one due since it was read.
    deleted = set(
        session.execute(
            delete(_OUTBOX)
            .where(_OUTBOX.c.id.in_([m.id for m in failed]), _OUTBOX.c.failed_at.is_not(None))
            .returning(_OUTBOX.c.id)
        ).scalars()
    )
    return [message for message in failed if message.id in deleted]


def where_is(session: Session, ids: Collection[int]) -> dict[int, str]:
    """Each message's state: "delivered", "waiting" (with its last error, if any),
    "failed" (with why); a message that does not exist is left out."""
    rows = session.execute(
        select(
            _OUTBOX.c.id, _OUTBOX.c.delivered_at, _OUTBOX.c.failed_at, _OUTBOX.c.last_error
        ).where(_OUTBOX.c.id.in_(ids))
    ).all()
    states: dict[int, str] = {}
    for row in rows:
        if row.delivered_at is not None:
            states[row.id] = "delivered"
        elif row.failed_at is not None:
            states[row.id] = f"failed: {row.last_error}"
        elif row.last_error is not None:
            states[row.id] = f"waiting, to be tried again: {row.last_error}"
        else:
            states[row.id] = "waiting"
    return states


def waiting_since() -> Any:
    """When a message began to wait: when it was queued, or last retried by an operator."""
    return func.coalesce(_OUTBOX.c.retried_at, _OUTBOX.c.created_at)


def _of_team(team_id: str | None) -> list[Any]:
    return [] if team_id is None else [_OUTBOX.c.team_id == team_id]
