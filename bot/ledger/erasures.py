"""Erased events must come from a genuine `sayso purge`, checked by `sayso verify`.

An erased event keeps only what links the chain, so its own hash cannot be recomputed: what
holds it is the `purged` event that declares it. Anyone who can write to the database can also
append a `purged` event with a valid hash, so a declaration alone proves nothing. What a real
purge leaves, and what is checked here, chain by chain:

- the `purged` event agrees with itself: it was appended at the head it names, its counts are
  those of its lists, and the erased events of each record it names (`record_seqs`) add up to
  exactly the events it lists as erased;
- every erased event is declared by exactly one purge, and every declared event is erased;
- each record it names is gone from the database (a purge deletes the record it erases);
- the events it erased for a record are that record's whole history: their own record chain
  (`record_prev`, `record_count`) starts at the record's first event, and no later event
  continues it;
- each such record's last event is older than the purge's cut-off (`before`).

A purge written before events carried their record's chain declares no `record_seqs`: for its
events only the declarations and the records' absence can be checked.

What this cannot tell: a closed record erased whole by hand, its row deleted and a purge
declared with every detail right, is what `sayso purge` would have done (an erased event keeps
no status, so a record still to be carried out looks the same), and a purge keeps the published
checkpoints' roots by design. What remains is outside the database: the record's thread in
Slack, and the `purged` event itself, which names who purged, when and which numbers.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from bot.ledger.hashchain import ERASED, GENESIS_HASH, PURGED, iso_utc, seq_ranges, stored_iso
from bot.models import AuditEvent, Record

Ranges = list[tuple[int, int]]
_CHUNK = 500


@dataclass(frozen=True)
class Flaw:
    """What is wrong, where: verify turns it into its Problem."""

    seq: int | None
    record: int | None
    event_type: str
    what: str


@dataclass(frozen=True)
class _Claim:
    """What one `purged` event says it erased."""

    seq: int
    before: str
    erased: Ranges
    records: list[int]
    # Per record number, its erased seqs; None for a purge from before events carried it.
    by_record: dict[int, Ranges] | None


@dataclass
class Erasures:
    """One chain's erased events, in the order verify meets them, and the purges declaring them."""

    team_id: str
    # The workspace row's counter: no record above it was ever captured.
    last_record_number: int = 0
    seen: Ranges = field(default_factory=list)
    claims: list[_Claim] = field(default_factory=list)
    # Records the purges so far erased: a record is purged once.
    purged_numbers: set[int] = field(default_factory=set)

    def saw_erased(self, row: Row[Any]) -> None:
        if self.seen and self.seen[-1][1] == row.seq - 1:
            self.seen[-1] = (self.seen[-1][0], row.seq)
        else:
            self.seen.append((row.seq, row.seq))

    def saw_purge(self, row: Row[Any]) -> Flaw | None:
        """Read a `purged` event (its own hash already checked): does it agree with itself?"""

        def flaw(what: str) -> Flaw:
            return Flaw(row.seq, None, PURGED, what)

        try:
            payload = json.loads(row.payload)
            erased = _ranges(payload["erased"])
            records = [
                n for first, last in _ranges(payload["records"]) for n in range(first, last + 1)
            ]
            stated = (int(payload["event_count"]), int(payload["record_count"]))
            head = (int(payload["head_seq"]), str(payload["head"]))
            before = str(payload["before"])
            by_record = (
                {int(n): _ranges(found) for n, found in payload["record_seqs"].items()}
                if "record_seqs" in payload
                else None
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return flaw("its list of erased events is unreadable or names events after it")
        if any(not 0 < first <= last < row.seq for first, last in erased):
            return flaw("its list of erased events is unreadable or names events after it")
        if head != (row.seq - 1, row.prev_hash):
            return flaw(
                f"it names event {head[0]} ({head[1][:16]}…) as the head it was appended at, "
                f"which is not the head of the chain before it (event {row.seq - 1}, "
                f"{row.prev_hash[:16]}…): it was not written by `sayso purge`"
            )
        listed = _count(erased)
        if stated != (listed, len(records)):
            return flaw(
                f"it says it erased {_events(stated[0])} of {stated[1]} record(s), but lists "
                f"{_events(listed)} of {len(records)} record(s)"
            )
        if before > stored_iso(row.at):
            return flaw(f"its cut-off ({before}) is later than the purge itself")
        if by_record is not None:
            if unnamed := sorted(set(records) - set(by_record)):
                return flaw(f"it names records it did not erase: {_numbers(unnamed)}")
            if strays := sorted(set(by_record) - set(records)):
                return flaw(f"it erased events of records it does not name: {_numbers(strays)}")
            per_record = [seq for found in by_record.values() for seq in _seqs(found)]
            if seq_ranges(per_record) != [list(r) for r in _normal(erased)]:
                return flaw(
                    "the events it lists per record do not add up to the events it lists as erased"
                )
        self.claims.append(_Claim(row.seq, before, erased, records, by_record))
        return None

    def check(self, session: Session) -> Flaw | None:
        """At the end of the chain: declared and erased agree, and each purge was genuine."""
        declared = sorted(r for claim in self.claims for r in claim.erased)
        for (_, last), (first, _) in pairwise(declared):
            if first <= last:
                return Flaw(first, None, ERASED, "two purges declare the same erased event")
        if (seq := _first_outside(self.seen, declared)) is not None:
            return Flaw(
                seq,
                None,
                ERASED,
                "the event was erased but no `purged` event declares it: its content was "
                "removed outside `sayso purge`",
            )
        if (seq := _first_outside(declared, self.seen)) is not None:
            return Flaw(
                seq,
                None,
                ERASED,
                "a `purged` event lists this event as erased, but it is not: the purge does not "
                "say what it erased",
            )
        for claim in self.claims:
            if found := self._check_claim(session, claim):
                return found
        return None

    def _check_claim(self, session: Session, claim: _Claim) -> Flaw | None:
        named = sorted(set(claim.records) | set(claim.by_record or ()))
        if named and named[-1] > self.last_record_number:
            return Flaw(
                claim.seq,
                named[-1],
                PURGED,
                f"the purge at event {claim.seq} says it erased record #{named[-1]}, which was "
                f"never captured (the last record number is {self.last_record_number})",
            )
        if twice := sorted(set(named) & self.purged_numbers):
            return Flaw(
                claim.seq,
                twice[0],
                PURGED,
                f"record #{twice[0]} is said to be purged twice, here and by an earlier purge",
            )
        self.purged_numbers.update(named)
        for chunk in _chunks(named):
            kept = session.execute(
                select(Record.number)
                .where(Record.team_id == self.team_id, Record.number.in_(chunk))
                .order_by(Record.number)
                .limit(1)
            ).scalar_one_or_none()
            if kept is not None:
                return Flaw(
                    _first_seq(claim, kept),
                    kept,
                    ERASED,
                    f"the purge at event {claim.seq} says it erased record #{kept}, but record "
                    f"#{kept} is still in the database: its events were erased by hand",
                )
        owners = _Owners(claim.by_record or {})
        declared = _Owners({0: claim.erased})
        heads: dict[int, tuple[str, int, datetime]] = {}
        for row in self._erased_rows(session, claim.erased):
            if declared.of(row.seq) is None:
                continue  # erased by another purge, between two of this one's
            number = owners.of(row.seq)
            if number is None:
                if row.record_prev is not None:
                    return Flaw(
                        row.seq,
                        None,
                        ERASED,
                        f"the purge at event {claim.seq} erased this event of a record but "
                        "does not say whose they were",
                    )
                continue
            last_hash, count, _ = heads.get(number, (GENESIS_HASH, 0, row.at))
            if row.record_prev is not None and (row.record_prev, row.record_count) != (
                last_hash,
                count + 1,
            ):
                return Flaw(
                    row.seq,
                    number,
                    ERASED,
                    f"the events the purge at event {claim.seq} erased as record #{number}'s are "
                    f"not record #{number}'s whole history: this one is event "
                    f"{row.record_count} of its record, following another",
                )
            heads[number] = (row.hash, count + 1, row.at)
        for number, (last_hash, _, last_at) in sorted(heads.items()):
            if iso_utc(last_at) >= claim.before:
                return Flaw(
                    claim.seq,
                    number,
                    PURGED,
                    f"record #{number} was active after the purge's cut-off ({claim.before}): "
                    "a purge erases only records closed before it",
                )
            continued = session.execute(
                select(AuditEvent.seq).where(
                    AuditEvent.team_id == self.team_id, AuditEvent.record_prev == last_hash
                )
            ).first()
            if continued is not None:
                return Flaw(
                    continued.seq,
                    number,
                    ERASED,
                    f"record #{number} goes on after the events the purge at event {claim.seq} "
                    f"erased: they are not record #{number}'s whole history",
                )
        return None

    def _erased_rows(self, session: Session, erased: Ranges) -> Iterable[Row[Any]]:
        if not erased:
            return []
        low, high = min(first for first, _ in erased), max(last for _, last in erased)
        return session.connection().execute(
            select(
                AuditEvent.seq,
                AuditEvent.at,
                AuditEvent.hash,
                AuditEvent.record_prev,
                AuditEvent.record_count,
            )
            .where(
                AuditEvent.team_id == self.team_id,
                AuditEvent.seq.between(low, high),
                AuditEvent.type == ERASED,
            )
            .order_by(AuditEvent.seq),
            execution_options={"stream_results": True, "yield_per": 10_000},
        )


class _Owners:
    """Which record an erased seq belonged to, by the purge's per-record lists."""

    def __init__(self, by_record: dict[int, Ranges]) -> None:
        spans = sorted(
            (first, last, number) for number, found in by_record.items() for first, last in found
        )
        self._starts = [first for first, _, _ in spans]
        self._spans = spans

    def of(self, seq: int) -> int | None:
        at = bisect_right(self._starts, seq) - 1
        if at < 0 or self._spans[at][1] < seq:
            return None
        return self._spans[at][2]


def _ranges(value: Any) -> Ranges:
    return [(int(first), int(last)) for first, last in value]


def _normal(ranges: Ranges) -> Ranges:
    """Sorted, with touching ranges joined: two lists of the same seqs compare equal."""
    joined: Ranges = []
    for first, last in sorted(ranges):
        if joined and first <= joined[-1][1] + 1:
            joined[-1] = (joined[-1][0], max(last, joined[-1][1]))
        else:
            joined.append((first, last))
    return joined


def _seqs(ranges: Ranges) -> Iterable[int]:
    return (seq for first, last in ranges for seq in range(first, last + 1))


def _count(ranges: Ranges) -> int:
    return sum(last - first + 1 for first, last in ranges)


def _first_outside(these: Ranges, those: Ranges) -> int | None:
    """The first seq of `these` that `those` does not cover."""
    cover = _normal(those)
    starts = [first for first, _ in cover]
    for first, last in _normal(these):
        at = bisect_right(starts, first) - 1
        if at < 0 or cover[at][1] < first:
            return first
        if cover[at][1] < last:
            return cover[at][1] + 1
    return None


def _first_seq(claim: _Claim, number: int) -> int | None:
    found = (claim.by_record or {}).get(number)
    return found[0][0] if found else None


def _events(count: int) -> str:
    return f"{count} event" if count == 1 else f"{count} events"


def _numbers(numbers: list[int]) -> str:
    return ", ".join(f"#{n}" for n in numbers)


def _chunks(numbers: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(numbers), _CHUNK):
        yield numbers[start : start + _CHUNK]
