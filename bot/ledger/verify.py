"""`sayso verify`: walk every workspace's chain and recompute it from the stored rows.

A changed event no longer matches its own hash; a deleted or reordered one breaks the next
event's link (or the sequence); events removed from the end no longer reach the head the
workspace row remembers. Then each record is rebuilt from its events (`replay.replay`) and
compared with its row and its requesters' rows: a field changed without an event is named.

After `sayso purge`, a purged record's events stay as blank `erased` rows: their own hash can
no longer be recomputed, but the links on both sides still hold them in place, and each must
be declared by a later `purged` event of the same chain that a genuine purge wrote (see
`purge.purge` and `Erasures`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Executable, Row, String, Text, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from bot.db import canonical_json
from bot.ledger import checkpoints, merkle, replay
from bot.ledger.erasures import Erasures
from bot.ledger.hashchain import (
    ERASED,
    GENESIS_HASH,
    PURGED,
    content_hash_of_json,
    stored_iso,
)
from bot.ledger.progress import STEP, Progress
from bot.models import AuditEvent, Checkpoint, Record, Requester, UTCDateTime, Workspace

BATCH = 10_000


@dataclass(frozen=True)
class Problem:
    team_id: str
    record: int | None
    seq: int | None
    event_type: str | None
    what: str


@dataclass
class ChainReport:
    team_id: str
    events: int = 0
    head: str = GENESIS_HASH
    # Events whose content a purge removed (counted in `events` too).
    erased: int = 0


@dataclass
class Report:
    chains: list[ChainReport] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def events(self) -> int:
        return sum(chain.events for chain in self.chains)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "workspaces": [asdict(chain) for chain in self.chains],
            "problem": asdict(self.problem) if self.problem else None,
        }


def verify(session: Session, progress: Progress | None = None) -> Report:
    """`progress`: told of each thousand events checked, out of them all."""
    report = Report()
    heads = {w.team_id: w for w in session.execute(select(Workspace)).scalars()}
    chain: ChainReport | None = None
    erasures = Erasures("")
    sealed = _Sealed(session, "")
    if progress is not None:
        total = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        progress.begin("verifying", total, "events")
    seen = 0
    for row in _events(session):
        seen += 1
        if seen == STEP:
            seen = 0
            if progress is not None:
                progress.advance(STEP)
        team_id, seq, number, event_type, actor_id, at, payload, prev, digest, *own_chain = row
        if chain is None or chain.team_id != team_id:
            if chain is not None and (
                problem := _check_end(session, chain, heads, erasures, sealed)
            ):
                report.problem = problem
                return report
            chain = ChainReport(team_id)
            sealed = _Sealed(session, team_id)
            known = heads.get(team_id)
            erasures = Erasures(team_id, known.last_record_number if known else 0)
            report.chains.append(chain)
        # The usual event, checked on the spot; anything else is looked at closely.
        if (
            seq != chain.events + 1
            or prev != chain.head
            or event_type == ERASED
            or digest
            != content_hash_of_json(
                team_id,
                seq,
                number,
                event_type,
                actor_id,
                stored_iso(at),
                payload,
                prev,
                *own_chain,
            )
        ) and (problem := _check_event(chain, row)):
            report.problem = problem
            return report
        chain.events += 1
        chain.head = digest
        if sealed.days:
            sealed.saw(at, seq, digest)
        if event_type == ERASED:
            chain.erased += 1
            erasures.saw_erased(row)
        elif event_type == PURGED and (flaw := erasures.saw_purge(row)):
            report.problem = Problem(team_id, None, flaw.seq, flaw.event_type, flaw.what)
            return report
    if chain is not None and (problem := _check_end(session, chain, heads, erasures, sealed)):
        report.problem = problem
        return report
    for team_id in sorted(set(heads) - {c.team_id for c in report.chains}):
        empty = ChainReport(team_id)
        if problem := _check_head(empty, heads):
            report.problem = problem
            return report
    report.problem = _check_records(session)
    return report


class _Sealed:
    """One workspace's stored checkpoints, checked as the chain pass goes by: each sealed
    day's events tree is rebuilt leaf by leaf from the hashes the pass reads (memory: a few
    hashes per day), and the newest checkpoint's records tree once, record by record. An
    older checkpoint's records tree is a function of events the chain already checked, and
    its root must still be the one over its two trees; `--against` recomputes any day in full."""

    def __init__(self, session: Session, team_id: str) -> None:
        query = select(Checkpoint).where(Checkpoint.team_id == team_id)
        self.days = {made.day.isoformat(): made for made in session.execute(query).scalars()}
        self.trees: dict[str, merkle.Frontier] = {}
        self.last_seq: dict[str, int] = {}

    def saw(self, at: Any, seq: int, digest: str) -> None:
        # A time as stored starts with its UTC date (`stored_iso`).
        day = (at if isinstance(at, str) else stored_iso(at))[:10]
        if day in self.days:
            if day not in self.trees:
                self.trees[day] = merkle.Frontier()
            self.trees[day].append(bytes.fromhex(digest))
            self.last_seq[day] = seq

    def check(self, session: Session) -> Problem | None:
        for day, made in sorted(self.days.items()):
            tree = self.trees.get(day, merkle.Frontier())
            events_root = tree.root.hex()
            if (tree.size, events_root) != (made.size, made.events_root or made.root):
                return self._problem(
                    made,
                    f"no longer matches that day's events ({tree.size} events, events root "
                    f"{events_root[:16]}…)",
                )
            if made.records_root is not None and made.root != checkpoints.published_root(
                events_root, made.records_root
            ):
                return self._problem(made, "is not the root over its events and records trees")
        newest = max(self.days.values(), key=lambda made: made.day, default=None)
        if newest is None or newest.records_root is None:
            return None
        upto = self.last_seq[newest.day.isoformat()]
        now = checkpoints.records_root(session, newest.team_id, upto)
        if now != (newest.records_root, newest.records_size):
            return self._problem(
                newest,
                f"no longer matches that day's records (records tree of {now[1]} records, root "
                f"{now[0][:16]}…): a record's history up to then changed",
            )
        return None

    @staticmethod
    def _problem(made: Checkpoint, what: str) -> Problem:
        return Problem(
            made.team_id,
            None,
            None,
            None,
            f"the checkpoint of {made.day} ({made.size} events, root {made.root[:16]}…) {what}",
        )


def _events(session: Session) -> Iterator[Any]:
    query = (
        select(
            AuditEvent.team_id,
            AuditEvent.seq,
            Record.number,
            AuditEvent.type,
            AuditEvent.actor_id,
            _as_stored(AuditEvent.at),
            # As stored: canonical JSON text, hashed without decoding (`content_hash_of_json`).
            cast(AuditEvent.payload, Text).label("payload"),
            AuditEvent.prev_hash,
            AuditEvent.hash,
            # The record's own chain, hashed when present (`content_hash_of_json`).
            AuditEvent.record_prev,
            AuditEvent.record_count,
        )
        .outerjoin(Record, AuditEvent.record_id == Record.id)
        .order_by(AuditEvent.team_id, AuditEvent.seq)
    )
    # Core, not the ORM: plain rows, streamed in batches, are most of what verify costs.
    return _stream(session, query)


def _check_event(chain: ChainReport, row: Row[Any]) -> Problem | None:
    def problem(what: str) -> Problem:
        return Problem(row.team_id, row.number, row.seq, row.type, what)

    expected_seq = chain.events + 1
    if row.seq != expected_seq:
        return problem(
            f"expected event {expected_seq} next, found event {row.seq}: "
            "events are missing or out of order"
        )
    if row.prev_hash != chain.head:
        return problem(
            f"links to {row.prev_hash[:16]}… but the previous event's hash is "
            f"{chain.head[:16]}…: an earlier event was changed, removed or moved"
        )
    if row.type == ERASED:
        # Nothing left to hash: the links on both sides hold it, a `purged` event declares it.
        if row.number is not None or row.actor_id or row.payload != "{}":
            return problem("an erased event still holds an actor, a record or a payload")
        return None
    at = stored_iso(row.at)
    recomputed = content_hash_of_json(
        row.team_id,
        row.seq,
        row.number,
        row.type,
        row.actor_id,
        at,
        row.payload,
        row.prev_hash,
        row.record_prev,
        row.record_count,
    )
    if recomputed != row.hash:
        # Written before payloads were stored canonically: decode and encode them again.
        try:
            payload = json.loads(row.payload)
        except ValueError:
            return problem("its payload is not JSON any more: the event was changed")
        recomputed = content_hash_of_json(
            row.team_id,
            row.seq,
            row.number,
            row.type,
            row.actor_id,
            at,
            canonical_json(payload),
            row.prev_hash,
            row.record_prev,
            row.record_count,
        )
    if recomputed != row.hash:
        return problem(
            f"content does not match its hash (stored {row.hash[:16]}…, "
            f"recomputed {recomputed[:16]}…): the event was changed"
        )
    return None


def _check_end(
    session: Session,
    chain: ChainReport,
    heads: dict[str, Workspace],
    erasures: Erasures,
    sealed: _Sealed,
) -> Problem | None:
    if problem := _check_head(chain, heads):
        return problem
    if flaw := erasures.check(session):
        return Problem(chain.team_id, flaw.record, flaw.seq, flaw.event_type, flaw.what)
    return sealed.check(session)


def _check_head(chain: ChainReport, heads: dict[str, Workspace]) -> Problem | None:
    workspace = heads.get(chain.team_id)
    if workspace is None:
        return Problem(chain.team_id, None, None, None, "events of an unknown workspace")
    if (workspace.last_event_seq, workspace.head_hash) != (chain.events, chain.head):
        return Problem(
            chain.team_id,
            None,
            workspace.last_event_seq,
            None,
            f"the chain ends at event {chain.events} ({chain.head[:16]}…) but the workspace "
            f"recorded event {workspace.last_event_seq} ({workspace.head_hash[:16]}…) as its "
            "head: events were removed from the end",
        )
    return None


def _check_records(session: Session) -> Problem | None:
    """Each record's row and requesters' rows must say what its history says. Records,
    requesters and events are read in record order, side by side: one record at a time."""
    record_columns = [getattr(Record, column) for column, _ in replay.RECORD_FIELDS]
    records = _stream(
        session,
        select(Record.id, Record.team_id, Record.number, *map(_as_stored, record_columns)).order_by(
            Record.id
        ),
    )
    requester_columns = [getattr(Requester, column) for column, _ in replay.REQUESTER_FIELDS]
    requesters = _Following(
        _stream(
            session,
            select(Requester.record_id, *map(_as_stored, requester_columns)).order_by(
                Requester.record_id, Requester.position
            ),
        )
    )
    events = _Following(
        _stream(
            session,
            select(
                AuditEvent.record_id,
                AuditEvent.seq,
                AuditEvent.type,
                AuditEvent.actor_id,
                _as_stored(AuditEvent.at),
                cast(AuditEvent.payload, Text),
            )
            .where(AuditEvent.record_id.is_not(None), AuditEvent.type.in_(replay.CHANGING))
            .order_by(AuditEvent.record_id, AuditEvent.seq),
        )
    )
    record_times = _times(record_columns, offset=3)
    requester_times = _times(requester_columns, offset=1)
    for row in records:
        record_id, team_id, number = row[:3]
        history = replay.replay(
            replay.Event(seq, kind, actor, stored_iso(at), _decoded(payload))
            for _, seq, kind, actor, at, payload in events.take(record_id)
        )
        if history is None:
            return Problem(team_id, number, None, None, "the record has no captured event")
        found = replay.first_difference(
            history,
            _with_iso_times(row, record_times)[3:],
            [_with_iso_times(r, requester_times)[1:] for r in requesters.take(record_id)],
        )
        if found is not None:
            return Problem(team_id, number, found.origin.seq, found.origin.type, found.what)
    return None


def _decoded(payload: str) -> Any:
    """json.loads, without its check for leading spaces: a stored payload has none
    (canonical JSON, or SQLAlchemy's json.dumps before it)."""
    try:
        return _DECODER.raw_decode(payload)[0]
    except ValueError:
        return json.loads(payload)


_DECODER = json.JSONDecoder()


def _as_stored(column: Any) -> Any:
    """A time column read as text, skipping its type's processing (`stored_iso` reads
    it); any other column as it is."""
    if isinstance(column.type, UTCDateTime):
        return _TimeText(column).label(column.key)
    return column


class _TimeText(FunctionElement[str]):
    """A time as text: iso_utc's own form where the database can write it (PostgreSQL, whose
    driver would otherwise build a datetime per row), else the column as stored (SQLite)."""

    type = String()
    inherit_cache = True
    name = "time_text"


@compiles(_TimeText)
def _time_as_stored(element: _TimeText, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_TimeText, "postgresql")
def _time_as_iso(element: _TimeText, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"""to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def _times(columns: list[Any], offset: int) -> tuple[int, ...]:
    """Where in a row the time columns are."""
    return tuple(
        offset + i for i, column in enumerate(columns) if isinstance(column.type, UTCDateTime)
    )


def _with_iso_times(row: Sequence[Any], times: tuple[int, ...]) -> list[Any]:
    values = list(row)
    for at in times:
        if values[at] is not None:
            values[at] = stored_iso(values[at])
    return values


def _stream(session: Session, query: Executable) -> Iterator[Any]:
    # Per statement: set on the connection, it would stay for the rest of the transaction.
    result = session.connection().execute(query, execution_options={"yield_per": BATCH})
    while batch := result.fetchmany(BATCH):
        yield from batch


class _Following:
    """Rows that follow the records (ordered by record id first), taken one record's at a
    time as the records go by."""

    def __init__(self, rows: Iterator[Any]) -> None:
        self._groups = ((key, list(group)) for key, group in groupby(rows, key=itemgetter(0)))
        self._next = next(self._groups, None)

    def take(self, record_id: int) -> list[Any]:
        while self._next is not None and self._next[0] < record_id:
            self._next = next(self._groups, None)
        if self._next is None or self._next[0] != record_id:
            return []
        rows = self._next[1]
        self._next = next(self._groups, None)
        return rows
