"""The hash-chained audit history: every event names the hash of the workspace's previous one."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.db import canonical_json
from bot.models import AuditEvent, Record, Workspace

GENESIS_HASH = "0" * 64
# Retention (`sayso purge`): a purged record's events stay in the chain as blank `erased` rows
# (seq, time and the two hashes only), each declared by a later `purged` event.
ERASED = "erased"
PURGED = "purged"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, microseconds kept: the one textual form of a time we store."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(content: dict[str, Any]) -> bytes:
    return canonical_json(content).encode()


def event_hash(event: AuditEvent, record_number: int | None) -> str:
    """SHA-256 of the event's canonical content: what `verify` recomputes, what proofs cite."""
    return content_hash(
        event.team_id,
        event.seq,
        record_number,
        event.type,
        event.actor_id,
        event.at,
        event.payload,
        event.prev_hash,
        event.record_prev,
        event.record_count,
    )


def team_ids(session: Session) -> list[str]:
    """Every workspace whose chain this database holds."""
    return list(session.execute(select(Workspace.team_id)).scalars())


def record_head(session: Session, record_id: int) -> tuple[str, int]:
    """The hash of the record's latest event and how many it has: what its next event links
    to. The caller holds the workspace lock, so no other event of the record slips in."""
    last = session.execute(
        select(AuditEvent.hash, AuditEvent.record_count)
        .where(AuditEvent.record_id == record_id)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).one_or_none()
    if last is None:
        return GENESIS_HASH, 0
    digest, count = last
    if count is None:  # written before events counted their record's history
        count = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.record_id == record_id)
        ).scalar_one()
    return digest, count


def lock_workspace(session: Session, team_id: str, now: datetime) -> Workspace:
    """Create the workspace row on first use, then lock it for this transaction.

    Record numbering and ledger appends both go through this row, so concurrent writers
    of one workspace are serialized (a row lock on PostgreSQL, the single writer on SQLite).
    """
    # FOR NO KEY UPDATE on PostgreSQL: exclusive among writers, yet it does not wait for the
    # key-share locks that inserting rows which reference the workspace take (a record stored
    # under a reserved number is inserted before this lock, `lifecycle.capture`).
    locked = select(Workspace).where(Workspace.team_id == team_id).with_for_update(key_share=True)
    workspace = session.execute(locked).scalar_one_or_none()
    if workspace is not None:
        return workspace
    session.execute(*new_workspace(session.get_bind().dialect.name, team_id, now))
    return session.execute(locked).scalar_one()


_NEW_WORKSPACE = {
    "postgresql": postgresql.insert(Workspace).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(Workspace).on_conflict_do_nothing(),
}


def new_workspace(dialect: str, team_id: str, now: datetime) -> tuple[Insert, dict[str, Any]]:
    """The workspace's row at the start of its chain: a statement built once, and its values.
    It inserts nothing if another writer made the row."""
    statement = _NEW_WORKSPACE["postgresql" if dialect == "postgresql" else "sqlite"]
    values = {
        "team_id": team_id,
        "last_record_number": 0,
        "last_event_seq": 0,
        "head_hash": GENESIS_HASH,
        "created_at": now,
    }
    return statement, values


def append(
    session: Session,
    workspace: Workspace,
    record: Record | None,
    event_type: str,
    actor_id: str,
    at: datetime,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the workspace's chain; the caller holds the workspace lock."""
    event = AuditEvent(
        team_id=workspace.team_id,
        seq=workspace.last_event_seq + 1,
        type=event_type,
        actor_id=actor_id,
        at=at,
        payload=payload or {},
        prev_hash=workspace.head_hash,
    )
    if record is not None:
        # The record's own chain inside the workspace's: an evidence file then shows that it
        # lists the record's whole history (the checkpoints' records tree).
        if record.id is None:
            session.flush()  # a record captured in this transaction: its row and events
        event.record_prev, count = record_head(session, record.id)
        event.record_count = count + 1
    if record is None or record in session:
        event.record = record
    else:
        event.record_id = record.id  # a detached copy, as the outbox delivers from
    event.hash = event_hash(event, record.number if record else None)
    workspace.last_event_seq = event.seq
    workspace.head_hash = event.hash
    session.add(event)
    return event


def content_hash(
    team_id: str,
    seq: int,
    record_number: int | None,
    event_type: str,
    actor_id: str,
    at: datetime,
    payload: dict[str, Any],
    prev_hash: str,
    record_prev: str | None = None,
    record_count: int | None = None,
) -> str:
    """SHA-256 of canonical_json({team_id, seq, record, type, actor, at, payload, prev}),
    plus record_prev and record_count for the events that carry them."""
    return content_hash_of_json(
        team_id,
        seq,
        record_number,
        event_type,
        actor_id,
        at,
        canonical_json(payload),
        prev_hash,
        record_prev,
        record_count,
    )


def content_hash_of_json(
    team_id: str,
    seq: int,
    record_number: int | None,
    event_type: str,
    actor_id: str,
    at: datetime | str,
    payload_json: str,
    prev_hash: str,
    record_prev: str | None = None,
    record_count: int | None = None,
) -> str:
    """The same hash from a payload already in canonical JSON (as it is stored): `verify`
    reads it as text and skips decoding and encoding it again, and may pass `at` already as
    iso_utc's text (stored_iso). The keys are written in sorted order by hand, exactly as
    canonical_json would write them; strings are escaped by json's own encoders, the ones
    json.dumps calls (without its per-call cost).

    record_count and record_prev (the record's own chain) are hashed only when the event has
    them: events written before they existed keep their hashes."""
    own_chain = (
        ""
        if record_count is None or record_prev is None
        else f',"record_count":{int(record_count)},"record_prev":{_ascii(record_prev)}'
    )
    content = (
        f'{{"actor":{_text(actor_id)},"at":"{at if isinstance(at, str) else iso_utc(at)}",'
        f'"payload":{payload_json},"prev":{_ascii(prev_hash)},'
        f'"record":{"null" if record_number is None else int(record_number)}{own_chain},'
        f'"seq":{int(seq)},'
        f'"team_id":{_text(team_id)},'
        f'"type":{_text(event_type)}}}'
    )
    return hashlib.sha256(content.encode()).hexdigest()


# json.dumps(value, ensure_ascii=False) and json.dumps(value) of a str, exactly.
_text = encode_basestring
_ascii = encode_basestring_ascii


def stored_iso(value: datetime | str) -> str:
    """iso_utc's text of a time as the driver returns it when the column is read without its
    type's processing (`verify` reads millions): SQLite's text, as SQLAlchemy writes
    it, iso_utc's text itself (PostgreSQL's to_char), or a naive UTC datetime. Text that is
    no time comes back as it is."""
    if isinstance(value, str):
        if value.endswith("Z"):
            return value
        if len(value) == 26:  # YYYY-MM-DD HH:MM:SS.ffffff, SQLAlchemy's form on SQLite
            return value.replace(" ", "T", 1) + "Z"
        try:
            return stored_iso(datetime.fromisoformat(value))
        except ValueError:
            return value
    if value.tzinfo is not None:
        return iso_utc(value)
    return value.isoformat(timespec="microseconds") + "Z"


def seq_ranges(numbers: list[int]) -> list[list[int]]:
    """[1, 2, 3, 7] -> [[1, 3], [7, 7]]: how a `purged` event lists what it removed."""
    found: list[list[int]] = []
    for number in sorted(numbers):
        if found and number == found[-1][1] + 1:
            found[-1][1] = number
        else:
            found.append([number, number])
    return found
