"""The daily digest of unresolved risks: what one workspace, or one owner, must see today.

Built from two queries (everything still open, and what closed since the last digest) and
sorted into sections in memory, so a morning with a hundred thousand open records costs the
same number of round trips as a quiet one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload, selectinload

from bot.models import Record, RecordStatus, Risk, Workspace

OPEN = (RecordStatus.PENDING, RecordStatus.CONFIRMED)
CLOSED_BADLY = (RecordStatus.REJECTED, "expired")
_RISK_ORDER = {Risk.HIGH: 0, Risk.MEDIUM: 1, Risk.LOW: 2, Risk.NONE: 3}


@dataclass(frozen=True)
class Item:
    number: int
    text: str
    status: str
    risk: str
    requester_ids: list[str]
    owner_id: str
    channel_id: str
    created_at: datetime
    due_at: datetime | None
    thread_permalink: str | None


@dataclass
class Digest:
    """One recipient's digest: the workspace's channel (owner None) or one owner's DM."""

    team_id: str
    day: date
    owner_id: str | None
    awaiting: list[Item] = field(default_factory=list)
    risky: list[Item] = field(default_factory=list)
    overdue: list[Item] = field(default_factory=list)
    due_today: list[Item] = field(default_factory=list)
    closed: list[Item] = field(default_factory=list)
    head_hash: str = ""

    @property
    def unresolved(self) -> int:
        return len({i.number for i in (*self.awaiting, *self.risky, *self.overdue)})

    @property
    def all_clear(self) -> bool:
        return not (self.unresolved or self.due_today or self.closed)


def build(
    session: Session, team_id: str, now: datetime, zone: str, since: datetime
) -> tuple[Digest, dict[str, Digest]]:
    """The channel digest and each owner's, for the local day that contains `now`."""
    tz = ZoneInfo(zone)
    day = now.astimezone(tz).date()
    day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    head = session.get(Workspace, team_id)
    channel = Digest(team_id, day, None, head_hash=head.head_hash if head else "")
    owners: dict[str, Digest] = {}

    def owner_digest(owner_id: str) -> Digest:
        if owner_id not in owners:
            owners[owner_id] = Digest(team_id, day, owner_id, head_hash=channel.head_hash)
        return owners[owner_id]

    # Requesters are needed; revisions and history are not: load them only if touched.
    loaded = (selectinload(Record.requesters), lazyload(Record.revisions), lazyload(Record.events))
    open_records = session.execute(
        select(Record).options(*loaded).where(Record.team_id == team_id, Record.status.in_(OPEN))
    ).scalars()
    for record in open_records:
        item = _item(record)
        for digest in (channel, owner_digest(record.owner_id)):
            if record.status == RecordStatus.PENDING:
                digest.awaiting.append(item)
            elif record.risk in (Risk.HIGH, Risk.MEDIUM):
                digest.risky.append(item)
            if record.due_at is not None and record.due_at < now:
                digest.overdue.append(item)
            elif record.due_at is not None and record.due_at < day_end:
                digest.due_today.append(item)
    closed = session.execute(
        select(Record)
        .options(*loaded)
        .where(
            Record.team_id == team_id,
            Record.status.in_(CLOSED_BADLY),
            Record.decided_at >= since,
        )
    ).scalars()
    for record in closed:
        item = _item(record)
        channel.closed.append(item)
        owner_digest(record.owner_id).closed.append(item)
    for digest in (channel, *owners.values()):
        _sort(digest)
    return channel, owners


def _item(record: Record) -> Item:
    return Item(
        number=record.number,
        text=record.text,
        status=record.status,
        risk=record.risk,
        requester_ids=record.requester_ids,
        owner_id=record.owner_id,
        channel_id=record.channel_id,
        created_at=record.created_at,
        due_at=record.due_at,
        thread_permalink=record.thread_permalink,
    )


def _sort(digest: Digest) -> None:
    # Awaiting: oldest first, the longest wait is the likeliest to be worked on unconfirmed.
    digest.awaiting.sort(key=lambda i: (i.created_at, i.number))
    digest.risky.sort(key=lambda i: (_RISK_ORDER.get(Risk(i.risk), 9), i.created_at))
    digest.overdue.sort(key=lambda i: (i.due_at or i.created_at, i.number))
    digest.due_today.sort(key=lambda i: (i.due_at or i.created_at, i.number))
    digest.closed.sort(key=lambda i: i.number)
