"""Checking an evidence document with nothing but the document: no database, no Slack.

An evidence document (see bot/evidence/build.py and docs/evidence.md) carries one record,
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

from bot import checkpoints, ledger, merkle
from bot.evidence.document import (
    ANSWER_TYPES,
    FORMAT,
    HASH_RULE,
    NOT_COVERED,
    NOT_SEALED,
    SEALED,
    Check,
    Document,
    Event,
    EvidenceReport,
    History,
    event_digest,
    replay,
    thread_digest,
)


class _Failure(Exception):
    """One check's first failure, worded for the person reading the report."""


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


def _name(event: Event) -> str:
    return f"event {event.get('seq')} ({event.get('type')}, {event.get('at')})"


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
        if event["seq"] == 1 and event["prev_hash"] != ledger.GENESIS_HASH:
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


def _check_history(document: Document, report: EvidenceReport) -> str:
    """The record's own chain: no event of the record left out before the file's last."""
    previous, linked, legacy = ledger.GENESIS_HASH, 0, 0
    for position, event in enumerate(document["events"], 1):
        link, count = event.get("record_prev"), event.get("record_count")
        if link is None and count is None:
            if linked:
                raise _Failure(
                    f"{_name(event)}: has no link to the record's previous event, though an "
                    "earlier one has: only the record's first events may predate the links"
                )
            legacy += 1
        elif count != position:
            raise _Failure(
                f"{_name(event)}: is the record's event number {count!r}, "
                f"but the file lists it as number {position}: events of the record are missing"
            )
        elif link != previous:
            raise _Failure(
                f"{_name(event)}: links to the record's previous event {str(link)[:16]}…, but "
                f"the file's previous event is {previous[:16]}…: an event of the record is "
                "missing or was replaced"
            )
        else:
            linked += 1
        previous = event["hash"]
    older = f"; the first {legacy} predate these links" if legacy else ""
    return f"{linked} events linked to the record's previous one and counted{older}"


def _check_proofs(document: Document, report: EvidenceReport) -> str:
    proofs: dict[int, dict[str, Any]] = {}
    for proof in document["proofs"]:
        if proof["seq"] in proofs:
            raise _Failure(f"two proofs for event {proof['seq']}")
        proofs[proof["seq"]] = proof
    events = {event["seq"]: event for event in document["events"]}
    if stray := sorted(set(proofs) - set(events)):
        raise _Failure(f"a proof for event {stray[0]}, which the document does not contain")
    for seq, event in events.items():
        if seq not in proofs:
            raise _Failure(f"{_name(event)}: no proof entry (sealed or '{NOT_SEALED}')")
        _check_proof(event, proofs[seq], report)
    return f"{len(events)} inclusion proofs checked"


def _check_proof(event: Event, proof: dict[str, Any], report: EvidenceReport) -> None:
    day = str(event["at"])[:10]  # the checkpoints' day is the event's UTC date
    if proof["day"] != day:
        raise _Failure(f"{_name(event)}: its proof is for {proof['day']}, not {day}")
    if proof["status"] == NOT_SEALED:
        report.unsealed += 1
        raise _Failure(
            f"{_name(event)}: not sealed yet, so it cannot be checked fully; export the file "
            f"again once {day} has its checkpoint (`sayso checkpoint`, the day after)"
        )
    if proof["status"] != SEALED:
        raise _Failure(f"{_name(event)}: unknown proof status {proof['status']!r}")
    size, root = proof["tree_size"], proof["root"]
    if report.heads.setdefault(day, (size, root)) != (size, root):
        raise _Failure(f"{_name(event)}: its proof cites another head for {day} than the others")
    if not isinstance(size, int) or not isinstance(proof["index"], int):
        raise _Failure(f"{_name(event)}: its proof's index and tree size must be numbers")
    events_root = _events_root(proof, f"{_name(event)}: its proof")
    holds = merkle.verify_inclusion(
        bytes.fromhex(event["hash"]),
        proof["index"],
        size,
        [bytes.fromhex(step) for step in proof["path"]],
        bytes.fromhex(events_root),
    )
    if not holds:
        raise _Failure(
            f"{_name(event)}: its inclusion proof (leaf {proof['index']} of {size}) does not "
            f"lead to the root {str(root)[:16]}… of {day}"
        )


def _events_root(proof: dict[str, Any], what: str) -> str:
    """The events tree's root that `proof` cites, once it is shown to give the published one."""
    root, events_root, records_root = proof["root"], proof["events_root"], proof["records_root"]
    if records_root is None:
        # A checkpoint made before records trees published the events tree's root alone.
        if events_root != root:
            raise _Failure(f"{what} cites an events root that is not its day's root")
        return str(events_root)
    if checkpoints.published_root(events_root, records_root) != root:
        raise _Failure(
            f"{what}: its events root and records root do not give the published root "
            f"{str(root)[:16]}…"
        )
    return str(events_root)


def _check_complete(document: Document, report: EvidenceReport) -> str:
    """The record's leaf in the newest checkpoint's records tree: the file's last event is the
    record's last as of that checkpoint, and its events are all of them."""
    sealed = document["completeness"]
    if sealed.get("status") != SEALED:
        raise _Failure(
            "the file cannot show that it holds the record's whole history: no checkpoint with "
            "a records tree covers the record yet; export it again after the next checkpoint"
        )
    day, leaf, number = sealed["day"], sealed["leaf"], document["record"]["number"]
    events = document["events"]
    if (leaf["record"], sealed["index"]) != (number, number - 1):
        raise _Failure(
            f"its records-tree leaf is record {leaf['record']!r} at index {sealed['index']!r}, "
            f"not record {number} at index {number - 1}"
        )
    if isinstance(leaf["count"], int) and leaf["count"] < len(events):
        raise _Failure(
            f"the checkpoint of {day} covers the record's first {leaf['count']} events, the "
            f"file lists {len(events)}: export it again after the next checkpoint"
        )
    if leaf["count"] != len(events):
        raise _Failure(
            f"the checkpoint of {day} counts {leaf['count']!r} events of the record, the file "
            f"lists {len(events)}: events of the record are missing"
        )
    if leaf["head"] != events[-1]["hash"]:
        raise _Failure(
            f"the record's last event as of the checkpoint of {day} is {str(leaf['head'])[:16]}…,"
            f" not the file's last, {_name(events[-1])}: the file leaves out the record's later "
            "events"
        )
    root = sealed["root"]
    if not isinstance(sealed["records_size"], int) or sealed["records_root"] is None:
        raise _Failure(f"the checkpoint of {day} has no records tree size and root")
    holds = merkle.verify_inclusion(
        checkpoints.record_leaf(number, leaf["head"], leaf["count"]),
        sealed["index"],
        sealed["records_size"],
        [bytes.fromhex(step) for step in sealed["path"]],
        bytes.fromhex(sealed["records_root"]),
    )
    if not holds:
        raise _Failure(
            f"the record's leaf in the records tree of {day} does not lead to its records root "
            f"{str(sealed['records_root'])[:16]}…"
        )
    _events_root(sealed, f"the records-tree proof of {day}")
    size = sealed["tree_size"]
    if report.heads.setdefault(day, (size, root)) != (size, root):
        raise _Failure(f"the records-tree proof cites another head for {day} than the events")
    report.complete_as_of = day
    return (
        f"the file's {len(events)} events are the record's whole history as of the checkpoint "
        f"of {day} (leaf {number - 1} of {sealed['records_size']} in its records tree)"
    )


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


# The events that record where Slack shows the record (delivery.py), with its thread.
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
    ("history", _check_history),
    ("proofs", _check_proofs),
    ("complete", _check_complete),
    ("record", _check_record),
    ("revisions", _check_revisions),
    ("confirmations", _check_confirmations),
    ("thread", _check_thread),
    ("verdict", _check_verdict),
]
