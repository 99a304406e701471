"""Retention: `sayso purge --before DATE` deletes closed records whose last activity is older.

A record is purged when it is closed — done, cancelled, rejected, expired or withdrawn, never
pending or confirmed (still to be carried out) — when its last event is before the cut-off,
and when no Slack message of it is still waiting in the outbox. Its row goes, with everything
that hangs off it (requesters, revisions, thread snapshots, reminders, outbox rows).

Its audit events cannot simply go: the chain would break, and so would the daily Merkle
checkpoints already published in Slack. So each becomes a blank `erased` row that keeps only
what links the chain — seq, time, prev_hash and hash — and loses type, actor, record and
payload. One `purged` event, chained like any other, then says who purged when, which records
(numbers), which events it erased (seq ranges), and the chain head at the cut. `sayso verify`
accepts a blank `erased` row only where a later `purged` event declares it, and checks every
link and every other event's content as before; checkpoints still match, because their leaves
are the events' hashes, and the evidence files of the remaining records keep their proofs.
The erased rows keep their record_prev and record_count too (hashes and counts, no content),
and the `purged` event lists each record's erased seqs, so the checkpoints' records tree gives
a purged record the same leaf after the purge as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from bot.ledger import hashchain
from bot.ledger.progress import Progress
from bot.ledger.verify import Report, verify
from bot.models import AuditEvent, Base, OutboxMessage, Record, RecordStatus, Workspace

CLOSED = (
    RecordStatus.DONE,
    RecordStatus.CANCELLED,
    RecordStatus.REJECTED,
    RecordStatus.EXPIRED,
    RecordStatus.WITHDRAWN,
)
_CHUNK = 500


class PurgeRefused(Exception):
    """The chain does not verify: purging now would erase the evidence of what broke it."""


@dataclass
class Purge:
    """One workspace's purge: what it removes and, once done, the `purged` event."""

    team_id: str
    numbers: list[int] = field(default_factory=list)
    events: int = 0
    seq: int | None = None
    head: str | None = None

    @property
    def records(self) -> str:
        """#1, #3-5: the record numbers, compactly."""
        return ", ".join(
            f"#{a}" if a == b else f"#{a}-{b}" for a, b in hashchain.seq_ranges(self.numbers)
        )


@dataclass
class Outcome:
    before: datetime
    purges: list[Purge]
    report: Report
    # Per workspace, the records left for the next purge: a change to them was under way.
    busy: dict[str, list[int]] = field(default_factory=dict)


def cutoff(day: date) -> datetime:
    """--before 2026-01-01 means activity before that day began, in UTC."""
    return datetime.combine(day, time(), tzinfo=UTC)


def purge(
    session: Session,
    before: datetime,
    now: datetime,
    actor_id: str,
    team_id: str | None = None,
    apply: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    """Plan (and with `apply`, carry out) the purge in the caller's transaction.

    The chain is verified first and refused if broken, and verified again after: the caller
    commits only if this returns.
    """
    if before > now:
        raise ValueError("the cut-off is in the future")
    query = select(Workspace.team_id).order_by(Workspace.team_id)
    if team_id is not None:
        query = query.where(Workspace.team_id == team_id)
    teams = list(session.execute(query).scalars())
    # Locked before anything is read: no capture or click slips in between the check and the cut.
    locked = {team: hashchain.lock_workspace(session, team, now) for team in teams} if apply else {}
    checked = verify(session, progress)
    if not checked.ok:
        raise PurgeRefused(
            "the hash chain does not verify; purging now would erase the evidence of what "
            "changed it. Run `sayso verify`, and investigate first."
        )
    purges = []
    busy: dict[str, list[int]] = {}
    for team in teams:
        workspace = locked.get(team)
        found = _closed_before(session, team, before)
        if workspace is not None:
            found, busy_numbers = _take(session, found)
            if busy_numbers:
                busy[team] = busy_numbers
        if not found:
            continue
        ids = [record_id for record_id, _ in found]
        planned = Purge(team, [number for _, number in found])
        if workspace is None:
            planned.events = _count_events(session, ids)
        else:
            _purge(session, workspace, ids, planned, before, now, actor_id)
        purges.append(planned)
    report = verify(session, progress) if apply and purges else checked
    if not report.ok:
        raise RuntimeError(f"the chain no longer verifies after the purge: {report.problem}")
    return Outcome(before, purges, report, busy)


def _closed_before(session: Session, team_id: str, before: datetime) -> list[tuple[int, int]]:
    """(id, number) of the workspace's closed records last touched before the cut-off."""
    last = func.max(AuditEvent.at)
    waiting = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.record_id == Record.id,
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.failed_at.is_(None),
        )
        .exists()
    )
    query = (
        select(Record.id, Record.number)
        .join(AuditEvent, AuditEvent.record_id == Record.id)
        .where(Record.team_id == team_id, Record.status.in_(CLOSED), ~waiting)
        .group_by(Record.id, Record.number)
        .having(last < before)
        .order_by(Record.number)
    )
    return [(record_id, number) for record_id, number in session.execute(query)]


def _take(
    session: Session, found: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[int]]:
    """Lock the records to purge; those a change holds right now (a click reopening one,
    say) are left out and their numbers returned. Waiting for such a record would deadlock:
    its change locked the record first and needs the workspace's lock next, which the purge
    already holds (PostgreSQL; SQLite has one writer, so nothing else is under way)."""
    free: set[int] = set()
    for chunk in _chunks([record_id for record_id, _ in found]):
        free.update(
            session.execute(
                select(Record.id)
                .where(Record.id.in_(chunk), Record.status.in_(CLOSED))
                .with_for_update(skip_locked=True)
            ).scalars()
        )
    taken = [(record_id, number) for record_id, number in found if record_id in free]
    return taken, [number for record_id, number in found if record_id not in free]


def _count_events(session: Session, ids: list[int]) -> int:
    return sum(
        session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.record_id.in_(chunk))
        ).scalar_one()
        for chunk in _chunks(ids)
    )


def _purge(
    session: Session,
    workspace: Workspace,
    ids: list[int],
    planned: Purge,
    before: datetime,
    now: datetime,
    actor_id: str,
) -> None:
    seqs: list[int] = []
    by_record: dict[int, list[int]] = {}
    for chunk in _chunks(ids):
        for seq, number in session.execute(
            select(AuditEvent.seq, Record.number)
            .join(Record, AuditEvent.record_id == Record.id)
            .where(AuditEvent.record_id.in_(chunk))
        ):
            seqs.append(seq)
            by_record.setdefault(number, []).append(seq)
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.record_id.in_(chunk))
            .values(type=hashchain.ERASED, actor_id="", payload={}, record_id=None)
            .execution_options(synchronize_session=False)
        )
        for table, column in _hanging_off_records():
            session.execute(delete(table).where(table.c[column].in_(chunk)))
        session.execute(delete(Record).where(Record.id.in_(chunk)))
    planned.events = len(seqs)
    planned.head = workspace.head_hash
    event = hashchain.append(
        session,
        workspace,
        None,
        hashchain.PURGED,
        actor_id,
        now,
        {
            "before": hashchain.iso_utc(before),
            "statuses": sorted(CLOSED),
            "records": hashchain.seq_ranges(planned.numbers),
            "record_count": len(planned.numbers),
            "erased": hashchain.seq_ranges(seqs),
            # Which erased events were whose: the checkpoints' records tree keeps a purged
            # record's leaf, numbers and hashes only.
            "record_seqs": {
                str(number): hashchain.seq_ranges(found) for number, found in by_record.items()
            },
            "event_count": len(seqs),
            "head_seq": workspace.last_event_seq,
            "head": workspace.head_hash,
        },
    )
    planned.seq = event.seq
    session.flush()


def _hanging_off_records() -> Iterator[tuple[Table, str]]:
    """Every table with a foreign key to records but the ledger's, children first: tables
    added later are purged too without anyone remembering to list them here."""
    records = Record.__table__
    for table in reversed(Base.metadata.sorted_tables):
        if table is AuditEvent.__table__:
            continue
        for key in table.foreign_keys:
            if key.column.table is records:
                yield table, key.parent.name


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
