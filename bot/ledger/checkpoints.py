"""Daily checkpoints: each UTC day's events of a workspace as one Merkle tree (RFC 6962),
and every record's latest event as of that day's last event as a second tree.

The digest publishes a checkpoint's size and root in Slack, where the database's
administrator cannot rewrite it; an evidence file carries, for each of its events, the
inclusion proof that leads from the event's hash to its day's events tree, and for its record
the proof that leads from the record's leaf (number, latest event, count) to the records tree.
The published root covers both: root = SHA-256(0x02 || events root || records root), so a
file can show that its last event is the record's last as of the checkpoint.

Records tree, as of event S: leaf i (from 0) is record number i + 1, its data the UTF-8 of
{"count":c,"head":"<hash>","record":i+1} (canonical JSON), with c the record's events up to S
and head the hash of the latest of them (genesis and 0 for a number with none yet), for every
number up to the highest that has an event by S. A purged record keeps its leaf: the `purged`
event names the seqs of each record it erased (`record_seqs`), and the erased rows keep their
hashes, so the tree is the same before and after a purge.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from hashlib import sha256

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import reading, unit_of_work
from bot.ledger import hashchain, merkle
from bot.models import AuditEvent, Checkpoint, Record

# The domain prefix of the published root over the two trees (0x00 and 0x01 are RFC 6962's
# leaf and node): a checkpoint's root can never be read as a node of either tree.
_BOTH = b"\x02"


@dataclass(frozen=True)
class Inclusion:
    """Where one event sits in its day's tree, and the path that proves it.

    `root` is the published root; the path leads to `events_root`, which is the same in a
    checkpoint made before records trees (`records_root` None)."""

    day: date
    index: int
    size: int
    root: str
    proof: list[str]
    events_root: str
    records_root: str | None
    records_size: int | None


@dataclass(frozen=True)
class DayRoot:
    """What a day's checkpoint publishes, computed from the events as the database holds them."""

    first_seq: int
    size: int
    last_seq: int
    chain_head: str
    events_root: str
    records_root: str
    records_size: int

    @property
    def root(self) -> str:
        return published_root(self.events_root, self.records_root)


@dataclass(frozen=True)
class RecordLeaf:
    """One record's place in a checkpoint's records tree, and the path that proves it."""

    day: date
    number: int
    head: str
    count: int
    index: int
    size: int
    records_root: str
    events_root: str
    root: str
    proof: list[str]


def published_root(events_root: str, records_root: str) -> str:
    """SHA-256(0x02 || events root || records root), over the raw 32-byte roots."""
    return sha256(_BOTH + bytes.fromhex(events_root) + bytes.fromhex(records_root)).hexdigest()


def record_leaf(number: int, head: str, count: int) -> bytes:
    """The records tree's leaf data for one record (hashed as a leaf, 0x00 first)."""
    return hashchain.canonical_bytes({"count": count, "head": head, "record": number})


def record_heads(session: Session, team_id: str, upto_seq: int) -> Iterator[tuple[int, str, int]]:
    """(number, latest event hash, count) of records 1..n as of event `upto_seq`, where n is
    the highest record number with an event by then, in number order: streamed, so that a
    records tree over a million records holds one record at a time."""
    purged = _purged_heads(session, team_id, upto_seq)  # the few a purge left without a row
    latest = (
        select(
            AuditEvent.record_id,
            func.max(AuditEvent.seq).label("last"),
            func.count().label("n"),
        )
        .where(
            AuditEvent.team_id == team_id,
            AuditEvent.seq <= upto_seq,
            AuditEvent.record_id.is_not(None),
        )
        .group_by(AuditEvent.record_id)
        .subquery()
    )
    live = session.connection().execute(
        select(Record.number, AuditEvent.hash, latest.c.n)
        .join(latest, Record.id == latest.c.record_id)
        .join(AuditEvent, (AuditEvent.team_id == team_id) & (AuditEvent.seq == latest.c.last))
        .order_by(Record.number),
        execution_options={"stream_results": True, "yield_per": 10_000},
    )
    expected = 1
    for number, digest, count in heapq.merge(
        ((n, h, c) for n, h, c in live), sorted((n, h, c) for n, (h, c) in purged.items())
    ):
        for missing in range(expected, number):
            yield missing, hashchain.GENESIS_HASH, 0
        yield number, digest, count
        expected = number + 1


def _purged_heads(session: Session, team_id: str, upto_seq: int) -> dict[int, tuple[str, int]]:
    heads: dict[int, tuple[str, int]] = {}
    for number, seqs in _purged_seqs(session, team_id, upto_seq):
        found: dict[int, str] = {
            seq: digest
            for seq, digest in session.execute(
                select(AuditEvent.seq, AuditEvent.hash).where(
                    AuditEvent.team_id == team_id, AuditEvent.seq.in_(seqs)
                )
            )
        }
        if found:
            heads[number] = (found[max(found)], len(found))
    return heads


def _purged_seqs(session: Session, team_id: str, upto_seq: int) -> Iterator[tuple[int, list[int]]]:
    """Per purged record, its erased events up to `upto_seq`, as its `purged` event lists them."""
    payloads = session.execute(
        select(AuditEvent.payload).where(
            AuditEvent.team_id == team_id, AuditEvent.type == hashchain.PURGED
        )
    ).scalars()
    for payload in payloads:
        for number, ranges in (payload.get("record_seqs") or {}).items():
            seqs = [
                seq
                for first, last in ranges
                for seq in range(int(first), int(last) + 1)
                if seq <= upto_seq
            ]
            if seqs:
                yield int(number), seqs


def records_root(session: Session, team_id: str, upto_seq: int) -> tuple[str, int]:
    """The records tree's root and size, built record by record (memory stays small)."""
    tree = merkle.Frontier()
    for head in record_heads(session, team_id, upto_seq):
        tree.append(record_leaf(*head))
    return tree.root.hex(), tree.size


def day_root(session: Session, team_id: str, day: date) -> DayRoot | None:
    """The one computation of what a day's checkpoint publishes (None: no events that day);
    making a checkpoint and checking one both go through here."""
    events = _day_events(session, team_id, day)
    if not events:
        return None
    last_seq = max(seq for seq, _ in events)
    records, records_size = records_root(session, team_id, last_seq)
    return DayRoot(
        first_seq=events[0][0],
        size=len(events),
        last_seq=last_seq,
        chain_head=events[-1][1],
        events_root=merkle.root([bytes.fromhex(h) for _, h in events]).hex(),
        records_root=records,
        records_size=records_size,
    )


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
    computed = day_root(session, team_id, day)
    if computed is None:
        return None
    made = Checkpoint(
        team_id=team_id,
        day=day,
        first_seq=computed.first_seq,
        size=computed.size,
        root=computed.root,
        chain_head=computed.chain_head,
        created_at=now,
        events_root=computed.events_root,
        records_root=computed.records_root,
        records_size=computed.records_size,
    )
    session.add(made)
    return made


def pending_days(session: Session, team_id: str, now: datetime) -> list[date]:
    """Finished UTC days that have events but no checkpoint yet. Days are sealed in order, so
    only the events from the newest checkpoint's first on are read (by the (team, seq) key):
    a pass every minute costs a day's events, not the ledger's."""
    newest = session.execute(
        select(Checkpoint.day, Checkpoint.first_seq)
        .where(Checkpoint.team_id == team_id)
        .order_by(Checkpoint.day.desc())
        .limit(1)
    ).one_or_none()
    after, from_seq = (newest.day, newest.first_seq) if newest is not None else (date.min, 0)
    today = now.astimezone(UTC).date()
    days: set[date] = set()
    moments = session.execute(
        select(AuditEvent.at).where(AuditEvent.team_id == team_id, AuditEvent.seq >= from_seq),
        execution_options={"yield_per": 10_000},
    ).scalars()
    for at in moments:
        day = at.astimezone(UTC).date()
        if after < day < today:
            days.add(day)
    return sorted(days)


def seal(session_factory: sessionmaker[Session], team_id: str, now: datetime) -> list[Checkpoint]:
    """Make the checkpoint of every finished day that has events and none yet, one transaction
    a day; the checkpoints made here. Safe with several replicas: the (team, day) key lets one
    of them make each, and the others move on."""
    with reading(session_factory) as session:
        days = pending_days(session, team_id, now)
    made = []
    for day in days:
        try:
            with unit_of_work(session_factory) as session:
                if session.get(Checkpoint, (team_id, day)) is not None:
                    continue
                sealed = checkpoint(session, team_id, day, now)
                session.flush()
        except IntegrityError:
            continue  # another replica sealed the day between our look and our insert
        if sealed is not None:
            made.append(sealed)
    return made


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
        day,
        index,
        made.size,
        made.root,
        [step.hex() for step in tree.inclusion_proof(index)],
        made.events_root or made.root,
        made.records_root,
        made.records_size,
    )


def record_inclusion(session: Session, team_id: str, number: int) -> RecordLeaf | None:
    """Record `number`'s leaf in the workspace's newest checkpoint, with its path; None when
    that checkpoint has no records tree or the record has no event by then."""
    made = session.execute(
        select(Checkpoint)
        .where(Checkpoint.team_id == team_id)
        .order_by(Checkpoint.day.desc())
        .limit(1)
    ).scalar_one_or_none()
    if made is None or made.records_root is None or made.events_root is None:
        return None
    start, end = _day_bounds(made.day)
    last_seq = session.execute(
        select(func.max(AuditEvent.seq)).where(
            AuditEvent.team_id == team_id, AuditEvent.at >= start, AuditEvent.at < end
        )
    ).scalar_one()
    heads = list(record_heads(session, team_id, last_seq))
    if number > len(heads) or heads[number - 1][2] == 0:
        return None
    tree = merkle.Tree([record_leaf(*head) for head in heads])
    _, head, count = heads[number - 1]
    return RecordLeaf(
        day=made.day,
        number=number,
        head=head,
        count=count,
        index=number - 1,
        size=tree.size,
        records_root=made.records_root,
        events_root=made.events_root,
        root=made.root,
        proof=[step.hex() for step in tree.inclusion_proof(number - 1)],
    )
