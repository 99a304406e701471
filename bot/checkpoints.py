"""Daily checkpoints: each UTC day's events of a workspace as one Merkle tree (RFC 6962).

The digest publishes a checkpoint's size and root in Slack, where the database's
administrator cannot rewrite it; an evidence file carries, for each of its events, the
inclusion proof that leads from the event's hash to that published root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import merkle
from bot.models import AuditEvent, Checkpoint


@dataclass(frozen=True)
class Inclusion:
    """Where one event sits in its day's tree, and the path that proves it."""

    day: date
    index: int
    size: int
    root: str
    proof: list[str]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _day_events(session: Session, team_id: str, day: date) -> list[tuple[int, str]]:
    start, end = _day_bounds(day)
    return [
        (seq, digest)
        for seq, digest in session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.team_id == team_id, AuditEvent.at >= start, AuditEvent.at < end)
            .order_by(AuditEvent.seq)
        )
    ]


def checkpoint(session: Session, team_id: str, day: date, now: datetime) -> Checkpoint | None:
    """The day's checkpoint, made once the day is over; None for a day without events."""
    existing = session.get(Checkpoint, (team_id, day))
    if existing is not None:
        return existing
    if _day_bounds(day)[1] > now:
        raise ValueError(f"{day} is not over yet; its events may still grow")
    events = _day_events(session, team_id, day)
    if not events:
        return None
    made = Checkpoint(
        team_id=team_id,
        day=day,
        first_seq=events[0][0],
        size=len(events),
        root=merkle.root([bytes.fromhex(h) for _, h in events]).hex(),
        chain_head=events[-1][1],
        created_at=now,
    )
    session.add(made)
    return made


def pending_days(session: Session, team_id: str, now: datetime) -> list[date]:
    """Finished days that have events but no checkpoint yet."""
    first = session.execute(
        select(AuditEvent.at).where(AuditEvent.team_id == team_id).order_by(AuditEvent.seq).limit(1)
    ).scalar_one_or_none()
    if first is None:
        return []
    done = set(
        session.execute(select(Checkpoint.day).where(Checkpoint.team_id == team_id)).scalars()
    )
    today = now.astimezone(UTC).date()
    day, days = first.astimezone(UTC).date(), []
    while day < today:
        if day not in done:
            days.append(day)
        day += timedelta(days=1)
    return days


def inclusion(session: Session, event: AuditEvent) -> Inclusion | None:
    """The proof for one event, if its day has a checkpoint."""
    day = event.at.astimezone(UTC).date()
    made = session.get(Checkpoint, (event.team_id, day))
    if made is None:
        return None
    events = _day_events(session, event.team_id, day)
    tree = merkle.Tree([bytes.fromhex(h) for _, h in events])
    # By position, not seq arithmetic: two writers' clocks may straddle midnight.
    index = [seq for seq, _ in events].index(event.seq)
    return Inclusion(
        day, index, made.size, made.root, [step.hex() for step in tree.inclusion_proof(index)]
    )


def mismatches(session: Session) -> list[tuple[Checkpoint, str]]:
    """Checkpoints whose day, as the database holds it now, no longer gives their root."""
    found = []
    for made in session.execute(
        select(Checkpoint).order_by(Checkpoint.team_id, Checkpoint.day)
    ).scalars():
        events = _day_events(session, made.team_id, made.day)
        now_root = merkle.root([bytes.fromhex(h) for _, h in events]).hex()
        if (len(events), now_root) != (made.size, made.root):
            found.append((made, now_root))
    return found
