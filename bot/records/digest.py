"""The daily digest of unresolved risks: what one workspace, or one owner, must see today.

Built from a few Core queries (what is still open, what closed since the last digest, and
their requesters), sorted into sections in memory: a morning with a hundred thousand open
records costs the same round trips as a quiet one (the digest benchmark: 100,000 in about 2 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.ledger import published
from bot.ledger.published import Published
from bot.models import Record, RecordStatus, Requester, Risk, WorkspaceSettings
from bot.records import settings_store

OPEN = (RecordStatus.PENDING, RecordStatus.CONFIRMED)
CLOSED_BADLY = (RecordStatus.REJECTED, "expired")
PUBLISHED_DAYS = 7
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
    captured_by_id: str


SECTIONS = ("awaiting", "risky", "overdue", "due_today", "closed")
_UNRESOLVED = ("awaiting", "risky", "overdue")


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
    # The workspace's checkpoints of the last week, oldest first: Slack keeps them where
    # nobody with the database can change them (`published.check`).
    checkpoints: list[Published] = field(default_factory=list)
    # Per section, the numbers of the records its readers may not see: counted, never shown.
    withheld: dict[str, frozenset[int]] = field(default_factory=dict)

    @property
    def unresolved(self) -> int:
        numbers = {i.number for i in (*self.awaiting, *self.risky, *self.overdue)}
        return len(numbers.union(*(self.withheld.get(s, ()) for s in _UNRESOLVED)))

    @property
    def all_clear(self) -> bool:
        return not (self.unresolved or self.due_today or self.closed or any(self.withheld.values()))

    def withheld_in(self, section: str) -> int:
        return len(self.withheld.get(section, ()))

    def shown_to(self, may_see: Callable[[Item], bool]) -> Digest:
        """This digest for readers who may not see every record in it: the others are only
        counted (the totals stay the same), without a word of their text."""
        shown = replace(self, withheld=dict(self.withheld))
        for section in SECTIONS:
            kept: list[Item] = []
            hidden = set(self.withheld.get(section, ()))
            for item in getattr(self, section):
                if may_see(item):
                    kept.append(item)
                else:
                    hidden.add(item.number)
            setattr(shown, section, kept)
            if hidden:
                shown.withheld[section] = frozenset(hidden)
        return shown


def build(
    session: Session,
    team_id: str,
    now: datetime,
    zone: str,
    since: datetime,
    *,
    stored_zone_wins: bool = True,
    owner_id: str | None = None,
) -> tuple[Digest, dict[str, Digest]]:
    """The channel digest and each owner's, for the local day that contains `now`.

    `zone` is the environment's default: the time zone the workspace chose in `/confirm
    settings` wins, so a digest built when it is delivered, or elsewhere, has the same day
    as the one scheduled; `sayso digest --dry-run --tz` passes `stored_zone_wins=False`, and
    so does an owner's digest, in the owner's own zone. `owner_id`: only that owner's records
    (their DM), read as such."""
    stored_zone = session.execute(
        select(WorkspaceSettings.timezone).where(WorkspaceSettings.team_id == team_id)
    ).scalar_one_or_none()
    tz = ZoneInfo(stored_zone if stored_zone and stored_zone_wins else zone)
    day = now.astimezone(tz).date()
    day_end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    # A week: each checkpoint is published at least once if a digest goes out once a week.
    sealed = published.since(session, team_id, day - timedelta(days=PUBLISHED_DAYS))
    channel = Digest(team_id, day, None, checkpoints=sealed)
    owners: dict[str, Digest] = {}

    def owner_digest(owner_id: str) -> Digest:
        if owner_id not in owners:
            owners[owner_id] = Digest(team_id, day, owner_id, checkpoints=sealed)
        return owners[owner_id]

    # Plain rows through Core, not ORM objects: a morning may read a hundred thousand.
    theirs = [Record.owner_id == owner_id] if owner_id is not None else []
    open_items = _items(session, team_id, Record.status.in_(OPEN), *theirs)
    closed_items = _items(
        session, team_id, Record.status.in_(CLOSED_BADLY), Record.decided_at >= since, *theirs
    )
    for item in open_items:
        for digest in (channel, owner_digest(item.owner_id)):
            if item.status == RecordStatus.PENDING:
                digest.awaiting.append(item)
            elif item.risk in (Risk.HIGH, Risk.MEDIUM):
                digest.risky.append(item)
            if item.due_at is not None and item.due_at < now:
                digest.overdue.append(item)
            elif item.due_at is not None and item.due_at < day_end:
                digest.due_today.append(item)
    for item in closed_items:
        channel.closed.append(item)
        owner_digest(item.owner_id).closed.append(item)
    for digest in (channel, *owners.values()):
        _sort(digest)
    return channel, owners


def owners(session: Session, team_id: str, since: datetime) -> list[str]:
    """Who would get a digest DM: the owners of open records and of records rejected or
    expired since `since` (each then gets theirs at the digest time in their own zone)."""
    return list(
        session.execute(
            select(Record.owner_id)
            .where(
                Record.team_id == team_id,
                Record.status.in_(OPEN)
                | (Record.status.in_(CLOSED_BADLY) & (Record.decided_at >= since)),
            )
            .distinct()
            .order_by(Record.owner_id)
        ).scalars()
    )


def scheduled(
    session: Session,
    team_id: str,
    fallback: settings_store.Policy,
    now: datetime,
    day: date | None = None,
    zone: str | None = None,
) -> tuple[Digest, dict[str, Digest]]:
    """The digests of `day` at the workspace's digest hour, or of `now`, in `zone` or else
    the workspace's: its own (`/confirm settings`), else `fallback` (the environment's)."""
    schedule = settings_store.policy(session, team_id, fallback).digest
    tz = zone or schedule.zone
    moment = datetime.combine(day, schedule.at, tzinfo=ZoneInfo(tz)) if day is not None else now
    return build(session, team_id, moment, tz, moment - timedelta(days=1), stored_zone_wins=False)


def _items(session: Session, team_id: str, *where: ColumnElement[bool]) -> list[Item]:
    requesters: dict[int, list[str]] = {}
    for record_id, user_id in session.execute(
        select(Requester.record_id, Requester.user_id)
        .join(Record, Record.id == Requester.record_id)
        .where(Record.team_id == team_id, *where)
        .order_by(Requester.record_id, Requester.position)
    ):
        requesters.setdefault(record_id, []).append(user_id)
    rows = session.execute(
        select(
            Record.id,
            Record.number,
            Record.text,
            Record.status,
            Record.risk,
            Record.owner_id,
            Record.channel_id,
            Record.created_at,
            Record.due_at,
            Record.thread_permalink,
            Record.captured_by_id,
        ).where(Record.team_id == team_id, *where)
    )
    return [
        Item(
            number,
            text,
            status,
            risk,
            requesters.get(record_id, []),
            owner_id,
            channel_id,
            created_at,
            due_at,
            thread_permalink,
            captured_by_id,
        )
        for (
            record_id,
            number,
            text,
            status,
            risk,
            owner_id,
            channel_id,
            created_at,
            due_at,
            thread_permalink,
            captured_by_id,
        ) in rows
    ]


def _sort(digest: Digest) -> None:
    # Awaiting: oldest first, the longest wait is the likeliest to be worked on unconfirmed.
    digest.awaiting.sort(key=lambda i: (i.created_at, i.number))
    digest.risky.sort(key=lambda i: (_RISK_ORDER.get(Risk(i.risk), 9), i.created_at))
    digest.overdue.sort(key=lambda i: (i.due_at or i.created_at, i.number))
    digest.due_today.sort(key=lambda i: (i.due_at or i.created_at, i.number))
    digest.closed.sort(key=lambda i: i.number)
