"""The evidence document's format: its constants, the report of a check, how an event is
hashed, and what a record's events say it is now. Shared by building and checking."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.db import canonical_json
from bot.ledger import hashchain

FORMAT = "sayso-evidence/2"
FORMAT_PREFIX = "sayso-evidence/"
SEALED = "sealed"
NOT_SEALED = "not yet sealed"
ANSWER_TYPES = ("confirmed", "rejected")
TEXT_TYPES = ("captured", "amended")
HASH_RULE = (
    "hash = SHA-256 hex of the UTF-8 bytes of the JSON object {team_id, seq, record, type, "
    "actor, at, payload, prev} with team_id = document team_id, record = record.number, "
    "prev = the event's prev_hash and the other values copied from the event, plus "
    "record_prev and record_count when the event has them (not null); keys sorted at "
    'every level, separators "," and ":", no spaces, non-ASCII characters written as '
    "themselves (not \\u escapes)."
)
# What no hash covers, said in the file itself and checked word for word: names and the rest
# come from Slack's directory or the database at export time, the verdict from the exporter.
NOT_COVERED = (
    "Not covered by any hash: people's names, real names, time zones and organizations (the "
    "hashes cover user IDs only), the permalinks, the generation time, and the verdict block "
    "written when the file was generated (verify-evidence runs its checks again; its "
    "statement about the whole workspace chain cannot be checked from the file)."
)

Document = dict[str, Any]
Event = dict[str, Any]

# The actor of the events Sayso itself writes; no person behind it.
SAYSO_ACTOR = "sayso"


class CheckFailure(Exception):
    """One check's first failure, worded for the person reading the report."""


def event_name(event: Event) -> str:
    return f"event {event.get('seq')} ({event.get('type')}, {event.get('at')})"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class EvidenceReport:
    checks: list[Check] = field(default_factory=list)
    # day -> (tree size, root): the published heads the proofs lead to.
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    events: int = 0
    unsealed: int = 0
    # The checkpoint whose records tree shows the events are the record's whole history.
    complete_as_of: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def problem(self) -> str | None:
        failed = next((check for check in self.checks if not check.ok), None)
        return None if failed is None else f"{failed.name}: {failed.detail}"

    @property
    def pending(self) -> bool:
        """Not a forgery: events newer than the last daily checkpoint, which nobody can check
        from the file until their day is sealed. Still no pass: exported again, it checks."""
        failed = next((check for check in self.checks if not check.ok), None)
        return failed is not None and failed.name == "proofs" and self.unsealed > 0

    def summary(self) -> str:
        if self.pending:
            return f"NOT CHECKABLE YET: {self.problem}"
        if not self.ok:
            return f"FAILED: {self.problem}"
        days = ", ".join(
            f"{day} ({size} events, root {root[:16]}…)"
            for day, (size, root) in sorted(self.heads.items())
        )
        return (
            f"{self.events} events recomputed and linked, each proven in the checkpoint of "
            f"{days}; the record's whole history as of the checkpoint of {self.complete_as_of}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "pending": self.pending,
            "problem": self.problem,
            "summary": self.summary(),
            "checks": [asdict(check) for check in self.checks],
            "heads": {
                day: {"size": size, "root": root}
                for day, (size, root) in sorted(self.heads.items())
            },
        }


def event_content(team_id: str, record_number: int, event: Event) -> dict[str, Any]:
    """The object whose canonical JSON is hashed; see hashchain.content_hash."""
    content = {
        "team_id": team_id,
        "seq": event["seq"],
        "record": record_number,
        "type": event["type"],
        "actor": event["actor"],
        "at": event["at"],
        "payload": event["payload"],
        "prev": event["prev_hash"],
    }
    if event.get("record_prev") is not None and event.get("record_count") is not None:
        content.update(record_prev=event["record_prev"], record_count=event["record_count"])
    return content


def canonical_event(team_id: str, record_number: int, event: Event) -> str:
    return canonical_json(event_content(team_id, record_number, event))


def event_digest(team_id: str, record_number: int, event: Event) -> str:
    # Hashed from the document's own strings (not re-parsed times), so that every character
    # of the file that the hash covers is really covered.
    return hashlib.sha256(canonical_event(team_id, record_number, event).encode()).hexdigest()


def thread_digest(messages: list[Any]) -> str:
    """What the `thread_snapshot` event stores for its copy of the thread (`SlackDelivery`)."""
    return hashlib.sha256(hashchain.canonical_bytes({"m": messages})).hexdigest()


@dataclass
class History:
    """What the events say the record is now: replayed exactly as `records.lifecycle` changes it."""

    wordings: list[Event] = field(default_factory=list)
    status: str | None = None
    # user id -> the answer event that still stands (an amendment or reopening clears them).
    answers: dict[str, Event] = field(default_factory=dict)
    decision: Event | None = None

    @property
    def captured(self) -> Event | None:
        first = self.wordings[0] if self.wordings else None
        return first if first is not None and first["type"] == "captured" else None


def replay(events: list[Event]) -> History:
    history = History()
    for event in events:
        kind, payload = event["type"], event["payload"]
        if kind in TEXT_TYPES:
            history.wordings.append(event)
            _ask_again(history)
        elif kind in ANSWER_TYPES:
            history.answers[event["actor"]] = event
            history.status = payload.get("status", history.status)
            if history.status in ANSWER_TYPES:
                history.decision = event
        elif isinstance(payload.get("status"), str):
            # withdrawn, done, cancelled, reopened: a reopening to "pending" asks again.
            history.status = payload["status"]
            if history.status == "pending":
                _ask_again(history)
    return history


def _ask_again(history: History) -> None:
    history.status = "pending"
    history.answers.clear()
    history.decision = None
