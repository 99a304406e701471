"""The checks that tie a file's events to the published checkpoints: the record's own chain,
each event's inclusion proof into its day, and the record's leaf in the newest checkpoint's
records tree, which shows that the file holds the record's whole history.
"""

from __future__ import annotations

from typing import Any

from bot.evidence.document import (
    NOT_SEALED,
    SEALED,
    CheckFailure,
    Document,
    Event,
    EvidenceReport,
    event_name,
)
from bot.ledger import checkpoints, hashchain, merkle


def check_history(document: Document, report: EvidenceReport) -> str:
    """The record's own chain: no event of the record left out before the file's last."""
    previous, linked, legacy = hashchain.GENESIS_HASH, 0, 0
    for position, event in enumerate(document["events"], 1):
        link, count = event.get("record_prev"), event.get("record_count")
        if link is None and count is None:
            if linked:
                raise CheckFailure(
                    f"{event_name(event)}: has no link to the record's previous event, though an "
                    "earlier one has: only the record's first events may predate the links"
                )
            legacy += 1
        elif count != position:
            raise CheckFailure(
                f"{event_name(event)}: is the record's event number {count!r}, "
                f"but the file lists it as number {position}: events of the record are missing"
            )
        elif link != previous:
            raise CheckFailure(
                f"{event_name(event)}: links to the record's previous event {str(link)[:16]}…, but "
                f"the file's previous event is {previous[:16]}…: an event of the record is "
                "missing or was replaced"
            )
        else:
            linked += 1
        previous = event["hash"]
    older = f"; the first {legacy} predate these links" if legacy else ""
    return f"{linked} events linked to the record's previous one and counted{older}"


def check_proofs(document: Document, report: EvidenceReport) -> str:
    proofs: dict[int, dict[str, Any]] = {}
    for proof in document["proofs"]:
        if proof["seq"] in proofs:
            raise CheckFailure(f"two proofs for event {proof['seq']}")
        proofs[proof["seq"]] = proof
    events = {event["seq"]: event for event in document["events"]}
    if stray := sorted(set(proofs) - set(events)):
        raise CheckFailure(f"a proof for event {stray[0]}, which the document does not contain")
    for seq, event in events.items():
        if seq not in proofs:
            raise CheckFailure(f"{event_name(event)}: no proof entry (sealed or '{NOT_SEALED}')")
        _check_proof(event, proofs[seq], report)
    return f"{len(events)} inclusion proofs checked"


def _check_proof(event: Event, proof: dict[str, Any], report: EvidenceReport) -> None:
    day = str(event["at"])[:10]  # the checkpoints' day is the event's UTC date
    if proof["day"] != day:
        raise CheckFailure(f"{event_name(event)}: its proof is for {proof['day']}, not {day}")
    if proof["status"] == NOT_SEALED:
        report.unsealed += 1
        raise CheckFailure(
            f"{event_name(event)}: not sealed yet, so it cannot be checked fully; export the file "
            f"again once {day} has its checkpoint (`sayso checkpoint`, the day after)"
        )
    if proof["status"] != SEALED:
        raise CheckFailure(f"{event_name(event)}: unknown proof status {proof['status']!r}")
    size, root = proof["tree_size"], proof["root"]
    if report.heads.setdefault(day, (size, root)) != (size, root):
        raise CheckFailure(
            f"{event_name(event)}: its proof cites another head for {day} than the others"
        )
    if not isinstance(size, int) or not isinstance(proof["index"], int):
        raise CheckFailure(f"{event_name(event)}: its proof's index and tree size must be numbers")
    events_root = _events_root(proof, f"{event_name(event)}: its proof")
    holds = merkle.verify_inclusion(
        bytes.fromhex(event["hash"]),
        proof["index"],
        size,
        [bytes.fromhex(step) for step in proof["path"]],
        bytes.fromhex(events_root),
    )
    if not holds:
        raise CheckFailure(
            f"{event_name(event)}: its inclusion proof (leaf {proof['index']} of {size}) does not "
            f"lead to the root {str(root)[:16]}… of {day}"
        )


def _events_root(proof: dict[str, Any], what: str) -> str:
    """The events tree's root that `proof` cites, once it is shown to give the published one."""
    root, events_root, records_root = proof["root"], proof["events_root"], proof["records_root"]
    if records_root is None:
        # A checkpoint made before records trees published the events tree's root alone.
        if events_root != root:
            raise CheckFailure(f"{what} cites an events root that is not its day's root")
        return str(events_root)
    if checkpoints.published_root(events_root, records_root) != root:
        raise CheckFailure(
            f"{what}: its events root and records root do not give the published root "
            f"{str(root)[:16]}…"
        )
    return str(events_root)


def check_complete(document: Document, report: EvidenceReport) -> str:
    """The record's leaf in the newest checkpoint's records tree: the file's last event is the
    record's last as of that checkpoint, and its events are all of them."""
    sealed = document["completeness"]
    if sealed.get("status") != SEALED:
        raise CheckFailure(
            "the file cannot show that it holds the record's whole history: no checkpoint with "
            "a records tree covers the record yet; export it again after the next checkpoint"
        )
    day, leaf, number = sealed["day"], sealed["leaf"], document["record"]["number"]
    events = document["events"]
    if (leaf["record"], sealed["index"]) != (number, number - 1):
        raise CheckFailure(
            f"its records-tree leaf is record {leaf['record']!r} at index {sealed['index']!r}, "
            f"not record {number} at index {number - 1}"
        )
    if isinstance(leaf["count"], int) and leaf["count"] < len(events):
        raise CheckFailure(
            f"the checkpoint of {day} covers the record's first {leaf['count']} events, the "
            f"file lists {len(events)}: export it again after the next checkpoint"
        )
    if leaf["count"] != len(events):
        raise CheckFailure(
            f"the checkpoint of {day} counts {leaf['count']!r} events of the record, the file "
            f"lists {len(events)}: events of the record are missing"
        )
    if leaf["head"] != events[-1]["hash"]:
        raise CheckFailure(
            f"the record's last event as of the checkpoint of {day} is "
            f"{str(leaf['head'])[:16]}…, not the file's last, {event_name(events[-1])}: the file "
            "leaves out the record's later events"
        )
    root = sealed["root"]
    if not isinstance(sealed["records_size"], int) or sealed["records_root"] is None:
        raise CheckFailure(f"the checkpoint of {day} has no records tree size and root")
    holds = merkle.verify_inclusion(
        checkpoints.record_leaf(number, leaf["head"], leaf["count"]),
        sealed["index"],
        sealed["records_size"],
        [bytes.fromhex(step) for step in sealed["path"]],
        bytes.fromhex(sealed["records_root"]),
    )
    if not holds:
        raise CheckFailure(
            f"the record's leaf in the records tree of {day} does not lead to its records root "
            f"{str(sealed['records_root'])[:16]}…"
        )
    _events_root(sealed, f"the records-tree proof of {day}")
    size = sealed["tree_size"]
    if report.heads.setdefault(day, (size, root)) != (size, root):
        raise CheckFailure(f"the records-tree proof cites another head for {day} than the events")
    report.complete_as_of = day
    return (
        f"the file's {len(events)} events are the record's whole history as of the checkpoint "
        f"of {day} (leaf {number - 1} of {sealed['records_size']} in its records tree)"
    )
