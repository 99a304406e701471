"""Checking an evidence document with nothing but the document: no database, no Slack.

An evidence document (see `build_evidence` and docs/evidence.md) carries one record,
every audit event of that record, for each event the Merkle inclusion proof into its day's
checkpoint, and the record's leaf in the newest checkpoint's records tree. `verify_evidence`
recomputes what can be recomputed, and fails on anything it cannot check fully:

- each event's SHA-256 from its canonical content (the exact rule is `HASH_RULE`);
- the chain link `prev_hash` where two of the record's events are consecutive in the
  workspace's chain, and the record's own chain: each event's `record_prev` is the hash of the
  file's previous event and its `record_count` its place (events older than these fields are
  accepted only as the record's first ones);
- each inclusion proof, up to its day's events root, and that root with the records root
  into the published root; an event not sealed yet fails;
- that the record's leaf (number, last event, count) in the newest checkpoint's records tree
  is the file's last event and count, and leads to that checkpoint's published root: the file
  holds the record's whole history as of that checkpoint;
- that the record, its revisions, confirmations and thread copy say what the events say, and
  the verdict written at generation is what the checks say now.

What it cannot check is that a day's (size, root) is the one Sayso posted in Slack: that is
the reader's last step, and the reason the report lists every root it relied on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.evidence.document import (
    ANSWER_TYPES,
    FORMAT,
    HASH_RULE,
    NOT_COVERED,
    Check,
    Document,
    Event,
    EvidenceReport,
    History,
    event_digest,
    replay,
    thread_digest,
)
from bot.evidence.document import CheckFailure as _Failure
from bot.evidence.document import event_name as _name
from bot.evidence.sealed import check_complete, check_history, check_proofs
from bot.ledger import hashchain


def verify_evidence(document: Document) -> EvidenceReport:
    """Every check on the document alone; `problem` names the first failure."""
    report = EvidenceReport()
    for name, check in _CHECKS:
        report.checks.append(_run(name, check, document, report))
    return report


def _run(
    name: str,
    check: Callable[[Document, EvidenceReport], str],
    document: Document,
    report: EvidenceReport,
) -> Check:
    try:
        return Check(name, True, check(document, report))
    except _Failure as failure:
        return Check(name, False, str(failure))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        # A hand-edited file may have any shape: say where it broke instead of crashing.
        return Check(name, False, f"the document is malformed ({type(error).__name__}: {error})")


def _check_format(document: Document, report: EvidenceReport) -> str:
    found = document.get("format") if isinstance(document, dict) else None
    if found != FORMAT:
        raise _Failure(
            f"{found!r} is a format this Sayso cannot check fully (it checks {FORMAT}); "
            "nothing in the file is accepted"
        )
    required = {
        "team_id": str,
        "generated_at": str,
        "record": dict,
        "events": list,
        "proofs": list,
        "revisions": list,
        "confirmations": list,
        "completeness": dict,
    }
    for key, kind in required.items():
        if not isinstance(document.get(key), kind):
            raise _Failure(f"'{key}' is missing or is not a {kind.__name__}")
    if document.get("hash_rule") != HASH_RULE:
        raise _Failure("its description of the hash rule was changed or removed")
    if document.get("not_covered") != NOT_COVERED:
        raise _Failure("its statement of what no hash covers was changed or removed")
    if document["record"].get("team_id") != document["team_id"]:
        raise _Failure("the record belongs to another workspace than the document names")
    if not document["events"]:
        raise _Failure("the document has no events")
    return f"{FORMAT}, record #{document['record']['number']} of {document['team_id']}"


def _check_hashes(document: Document, report: EvidenceReport) -> str:
    team_id, number = document["team_id"], document["record"]["number"]
    for event in document["events"]:
        stored = event["hash"]
        recomputed = event_digest(team_id, number, event)
        if recomputed != stored:
            raise _Failure(
                f"{_name(event)}: its content does not match its hash (stored "
                f"{str(stored)[:16]}…, recomputed {recomputed[:16]}…): the event was changed"
            )
    report.events = len(document["events"])
    return f"{report.events} event hashes recomputed"


def _check_links(document: Document, report: EvidenceReport) -> str:
    previous: Event | None = None
    links = 0
    for event in document["events"]:
        if not isinstance(event["seq"], int):
            raise _Failure(f"{_name(event)}: its sequence number is not a number")
        if event["seq"] == 1 and event["prev_hash"] != hashchain.GENESIS_HASH:
            raise _Failure(f"{_name(event)}: the first event must link to the genesis hash")
        if previous is not None:
            if event["seq"] <= previous["seq"]:
                raise _Failure(f"{_name(event)}: events are out of order or repeated")
            if event["seq"] == previous["seq"] + 1:
                links += 1
                if event["prev_hash"] != previous["hash"]:
                    raise _Failure(
                        f"{_name(event)}: links to {str(event['prev_hash'])[:16]}… but event "
                        f"{previous['seq']}'s hash is {str(previous['hash'])[:16]}…"
                    )
        previous = event
    return f"{links} links between consecutive events checked; seqs strictly increasing"


def _check_record(document: Document, report: EvidenceReport) -> str:
    record, history = document["record"], replay(document["events"])
    captured = history.captured
    if captured is None:
        raise _Failure("the record's first event is not its capture")
    latest = history.wordings[-1]
    _same("text", record["text"], latest["payload"].get("text"), f"the text of {_name(latest)}")
    _same("revision", record["revision"], len(history.wordings), "the number of wordings")
    _same("status", record["status"], history.status, "the status its events lead to")
    _check_captured_fields(record, captured)
    _check_requesters(record, history)
    decision = history.decision
    _same("decided_at", record.get("decided_at"), decision and decision["at"], "its decision")
    _same(
        "decided_by_id", record.get("decided_by_id"), decision and decision["actor"], "its decision"
    )
    confirmed = decision["at"] if decision and history.status != "rejected" else None
    _same("confirmed_at", record.get("confirmed_at"), confirmed, "its decision")
    _check_thread_ts(record, document["events"])
    if len(record["revisions"]) != len(history.wordings):
        raise _Failure(
            f"the record keeps {len(record['revisions'])} revisions, its events "
            f"{len(history.wordings)} wordings"
        )
    for number, (kept, wording) in enumerate(
        zip(record["revisions"], history.wordings, strict=True), 1
    ):
        _check_wording(f"the record's revision {number}", kept, wording, number)
    return "text, revision, status, answers and capture details agree with the events"


def _same(what: str, found: Any, expected: Any, source: str) -> None:
    if found != expected:
        raise _Failure(
            f"the record's {what} {_short(found)} differs from {source} ({_short(expected)})"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


# The events that record where Slack shows the record (`SlackDelivery`), with its thread.
_POSTED = ("card_posted", "revision_posted")
# The record's columns that its capture event states, and the payload key stating each.
_CAPTURED = {
    "kind": "kind",
    "risk": "risk",
    "risk_note": "risk_note",
    "due_at": "due_at",
    "owner_id": "owner",
    "channel_id": "channel",
    "source": "source",
    "source_ts": "source_ts",
}


def _check_thread_ts(record: dict[str, Any], events: list[Event]) -> None:
    posted = [e for e in events if e["type"] in _POSTED and "thread_ts" in e["payload"]]
    if posted:
        latest = posted[-1]
        _same("thread_ts", record.get("thread_ts"), latest["payload"]["thread_ts"], _name(latest))


def _check_captured_fields(record: dict[str, Any], captured: Event) -> None:
    payload, source = captured["payload"], f"its capture ({_name(captured)})"
    for column, key in _CAPTURED.items():
        if key in payload:
            _same(column, record.get(column), payload[key], source)
    if "requesters" in payload:
        ids = [r["user_id"] for r in record["requesters"]]
        _same("requesters", ids, payload["requesters"], source)
        _same("requester_id", record.get("requester_id"), ids[0], "its first requester")
    _same("captured_by_id", record["captured_by_id"], captured["actor"], source)
    _same("created_at", record["created_at"], captured["at"], source)


def _check_requesters(record: dict[str, Any], history: History) -> None:
    ids = {r["user_id"] for r in record["requesters"]}
    for actor, event in history.answers.items():
        if actor not in ids:
            raise _Failure(f"{_name(event)}: answered by {actor}, who is not a requester")
    for requester in record["requesters"]:
        who = requester["user_id"]
        standing = history.answers.get(who)
        found = (
            requester["answer"],
            requester.get("answered_at"),
            requester.get("answered_revision"),
            requester.get("via"),
            requester.get("evidence_ts"),
        )
        expected: tuple[Any, ...] = ("pending", None, None, None, None)
        if standing is not None:
            payload = standing["payload"]
            expected = (
                standing["type"],
                standing["at"],
                payload.get("revision"),
                payload.get("via"),
                payload.get("evidence_ts"),
            )
        if found != expected:
            source = _name(standing) if standing else "its events (no answer stands)"
            raise _Failure(f"{who}'s answer {_short(found)} differs from {source}")


def _check_wording(what: str, kept: dict[str, Any], wording: Event, number: int) -> None:
    payload = wording["payload"]
    if wording["type"] == "amended" and payload.get("revision") != number:
        raise _Failure(
            f"{_name(wording)}: names revision {payload.get('revision')}, expected {number}"
        )
    expected = (number, payload.get("text"), wording["actor"], wording["at"])
    found = (kept["number"], kept["text"], kept["author_id"], kept["created_at"])
    if found != expected:
        raise _Failure(f"{what} {_short(found)} differs from {_name(wording)}")


def _check_revisions(document: Document, report: EvidenceReport) -> str:
    wordings = replay(document["events"]).wordings
    revisions = document["revisions"]
    if len(revisions) != len(wordings):
        raise _Failure(f"{len(revisions)} revisions but {len(wordings)} wordings in the events")
    previous = ""
    for number, (revision, wording) in enumerate(zip(revisions, wordings, strict=True), 1):
        _check_wording(f"revision {number}", revision, wording, number)
        pieces = revision["changes"]
        before = "".join(text for op, text in pieces if op in ("equal", "delete"))
        after = "".join(text for op, text in pieces if op in ("equal", "insert"))
        if (before, after) != (previous, revision["text"]):
            raise _Failure(
                f"revision {number}: its list of changes does not turn the previous "
                "text into this one"
            )
        previous = revision["text"]
    return f"{len(revisions)} revisions agree with the events"


def _check_confirmations(document: Document, report: EvidenceReport) -> str:
    events = {event["seq"]: event for event in document["events"]}
    answers = [seq for seq, event in events.items() if event["type"] in ANSWER_TYPES]
    standing = {event["seq"] for event in replay(document["events"]).answers.values()}
    shown = [confirmation["seq"] for confirmation in document["confirmations"]]
    if shown != answers:
        raise _Failure(f"it lists the answers of events {shown}, the events hold {answers}")
    for confirmation in document["confirmations"]:
        _check_confirmation(confirmation, events[confirmation["seq"]], standing)
    return f"{len(answers)} answers agree with their events"


def _check_confirmation(confirmation: dict[str, Any], event: Event, standing: set[int]) -> None:
    payload = event["payload"]
    expected = (
        event["type"],
        event["actor"],
        event["at"],
        payload.get("via"),
        payload.get("revision"),
        payload.get("evidence_ts"),
        event["seq"] in standing,
    )
    found = (
        confirmation["answer"],
        confirmation["user_id"],
        confirmation["at"],
        confirmation["via"],
        confirmation["revision"],
        confirmation["evidence_ts"],
        confirmation["standing"],
    )
    if found != expected:
        raise _Failure(f"the confirmation {_short(found)} differs from {_name(event)}")
    local = confirmation.get("local_time")
    if local is not None and datetime.fromisoformat(local) != datetime.fromisoformat(event["at"]):
        raise _Failure(f"the local time {local} given for {_name(event)} is another moment")


def _check_thread(document: Document, report: EvidenceReport) -> str:
    thread = document.get("thread")
    if thread is None:
        if any(e["type"] == "thread_snapshot" for e in document["events"]):
            raise _Failure("the events hold a copy of the thread, the document does not")
        return "no copy of the thread in this document"
    event = next((e for e in document["events"] if e["seq"] == thread["seq"]), None)
    if event is None or event["type"] != "thread_snapshot":
        raise _Failure(f"the thread copy cites event {thread['seq']}, not a thread_snapshot")
    if thread["taken_at"] != event["at"]:
        raise _Failure(
            f"the thread copy says it was taken at {thread['taken_at']}, not at the "
            f"time of {_name(event)}"
        )
    messages = thread["messages"]
    digest = thread_digest(messages)
    if (digest, len(messages)) != (event["payload"]["sha256"], event["payload"]["messages"]):
        raise _Failure(
            f"the thread copy ({len(messages)} messages, sha256 {digest[:16]}…) does not match "
            f"{_name(event)}: a message was changed, added or removed"
        )
    return f"{len(messages)} thread messages match {_name(event)}"


NO_VERDICT = "no verdict block yet (it is written when the file is generated)"


def _check_verdict(document: Document, report: EvidenceReport) -> str:
    """The verdict printed at the top of the file must be what the checks say now: an edit to
    it, even one re-rendered into the readable part, is caught."""
    verdict = document.get("verification")
    if verdict is None:
        return NO_VERDICT
    expected = EvidenceReport(
        [*report.checks, Check("verdict", True, NO_VERDICT)],
        dict(report.heads),
        report.events,
        report.unsealed,
        report.complete_as_of,
    ).as_dict()
    found = {key: verdict.get(key) for key in expected}
    if found != expected:
        changed = next(key for key in expected if found[key] != expected[key])
        raise _Failure(
            f"the verdict written when the file was generated ({changed}) is not what the "
            "checks say: it was edited"
        )
    return "the verdict written when the file was generated is what the checks say now"


_CHECKS: list[tuple[str, Callable[[Document, EvidenceReport], str]]] = [
    ("format", _check_format),
    ("hashes", _check_hashes),
    ("links", _check_links),
    ("history", check_history),
    ("proofs", check_proofs),
    ("complete", check_complete),
    ("record", _check_record),
    ("revisions", _check_revisions),
    ("confirmations", _check_confirmations),
    ("thread", _check_thread),
    ("verdict", _check_verdict),
]
