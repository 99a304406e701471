"""`sayso verify`: walk every workspace's chain and recompute it from the stored rows.

A changed event no longer matches its own hash; a deleted or reordered one breaks the next
event's link (or the sequence); events removed from the end no longer reach the head the
workspace row remembers. A record whose text disagrees with its history is named too.

After `sayso purge`, a purged record's events stay as blank `erased` rows: their own hash can
no longer be recomputed, but the links on both sides still hold them in place, and each must
be declared by a later `purged` event of the same chain that a genuine purge wrote (see
bot/purge.py and bot/erasures.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Row, Text, cast, select
from sqlalchemy.orm import Session

from bot import checkpoints
from bot.erasures import Erasures
from bot.ledger import ERASED, GENESIS_HASH, PURGED, content_hash, content_hash_of_json
from bot.models import AuditEvent, Record, Workspace

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


def verify(session: Session) -> Report:
    report = Report()
    heads = {w.team_id: w for w in session.execute(select(Workspace)).scalars()}
    chain: ChainReport | None = None
    erasures = Erasures("")
    worded: dict[tuple[str, int], tuple[int, str, str]] = {}
    for row in _events(session):
        if chain is None or chain.team_id != row.team_id:
            if chain is not None and (problem := _check_end(session, chain, heads, erasures)):
                report.problem = problem
                return report
            chain = ChainReport(row.team_id)
            known = heads.get(row.team_id)
            erasures = Erasures(row.team_id, known.last_record_number if known else 0)
            report.chains.append(chain)
        problem = _check_event(chain, row)
        if problem:
            report.problem = problem
            return report
        chain.events += 1
        chain.head = row.hash
        if row.type in ("captured", "amended") and row.number is not None:
            text = json.loads(row.payload).get("text")
            worded[(row.team_id, row.number)] = (row.seq, row.type, text)
        elif row.type == ERASED:
            chain.erased += 1
            erasures.saw_erased(row)
        elif row.type == PURGED and (flaw := erasures.saw_purge(row)):
            report.problem = Problem(row.team_id, None, flaw.seq, flaw.event_type, flaw.what)
            return report
    if chain is not None and (problem := _check_end(session, chain, heads, erasures)):
        report.problem = problem
        return report
    for team_id in sorted(set(heads) - {c.team_id for c in report.chains}):
        empty = ChainReport(team_id)
        if problem := _check_head(empty, heads):
            report.problem = problem
            return report
    report.problem = _check_records(session, worded) or _check_checkpoints(session)
    return report


def _check_checkpoints(session: Session) -> Problem | None:
    for made, now_root in checkpoints.mismatches(session):
        return Problem(
            made.team_id,
            None,
            None,
            None,
            f"the checkpoint of {made.day} ({made.size} events, root {made.root[:16]}…) no "
            f"longer matches that day's events (root {now_root[:16]}…)",
        )
    return None


def _events(session: Session) -> Iterator[Any]:
    query = (
        select(
            AuditEvent.team_id,
            AuditEvent.seq,
            Record.number,
            AuditEvent.type,
            AuditEvent.actor_id,
            AuditEvent.at,
            # As stored: canonical JSON text, hashed without decoding (see ledger.py).
            cast(AuditEvent.payload, Text).label("payload"),
            AuditEvent.prev_hash,
            AuditEvent.hash,
            # The record's own chain, hashed when present (ledger.content_hash_of_json).
            AuditEvent.record_prev,
            AuditEvent.record_count,
        )
        .outerjoin(Record, AuditEvent.record_id == Record.id)
        .order_by(AuditEvent.team_id, AuditEvent.seq)
    )
    # Core, not the ORM: plain rows, streamed in batches, are most of what verify costs.
    # Per statement: set on the connection, it would stay for the rest of the transaction.
    result = session.connection().execute(query, execution_options={"stream_results": True})
    while batch := result.fetchmany(BATCH):
        yield from batch


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
    recomputed = content_hash_of_json(
        row.team_id,
        row.seq,
        row.number,
        row.type,
        row.actor_id,
        row.at,
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
        recomputed = content_hash(
            row.team_id,
            row.seq,
            row.number,
            row.type,
            row.actor_id,
            row.at,
            payload,
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
    session: Session, chain: ChainReport, heads: dict[str, Workspace], erasures: Erasures
) -> Problem | None:
    if problem := _check_head(chain, heads):
        return problem
    if flaw := erasures.check(session):
        return Problem(chain.team_id, flaw.record, flaw.seq, flaw.event_type, flaw.what)
    return None


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


def _check_records(
    session: Session, worded: dict[tuple[str, int], tuple[int, str, str]]
) -> Problem | None:
    """The record rows must say what their history says (the text of the latest revision)."""
    rows = session.execute(
        select(Record.team_id, Record.number, Record.text).order_by(Record.team_id, Record.number)
    )
    for team_id, number, text in rows:
        if (team_id, number) not in worded:
            return Problem(team_id, number, None, None, "the record has no captured event")
        seq, event_type, history_text = worded[(team_id, number)]
        if history_text != text:
            return Problem(
                team_id,
                number,
                seq,
                event_type,
                "the record's text differs from the text in its history",
            )
    return None
