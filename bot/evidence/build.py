"""Building an evidence document from the database: one record, its whole history, the
people in it and the proofs that tie each event to its day's checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.evidence.check import verify_evidence
from bot.evidence.document import (
    ANSWER_TYPES,
    FORMAT,
    HASH_RULE,
    NOT_COVERED,
    NOT_SEALED,
    SAYSO_ACTOR,
    SEALED,
    Document,
    Event,
    replay,
    thread_digest,
)
from bot.ledger import checkpoints, hashchain
from bot.ledger.verify import Report, verify
from bot.models import AuditEvent, Checkpoint, Record, Requester, SlackUser, ThreadSnapshot
from bot.records import changes, lifecycle


def build_evidence(
    session: Session,
    team_id: str,
    number: int,
    now: datetime,
    time_zone: str | None = None,
    language: str | None = None,
    names: Names | None = None,
) -> Document:
    """Record `number` of `team_id` with everything needed to check it without Sayso; its
    readable part shows times in `time_zone` (a tz database name), with their offsets, in
    `language` (en or zh-CN), with the workspace's and channel's `names` when Slack gave them."""
    record = lifecycle.get(session, team_id, number)
    events = [_event(event) for event in record.events]
    snapshot = _latest_snapshot(session, record)
    people = _people(session, team_id, _user_ids(record, events, snapshot))
    document: Document = {
        "format": FORMAT,
        "generated_at": hashchain.iso_utc(now),
        "team_id": team_id,
        "hash_rule": HASH_RULE,
        "record": {k: v for k, v in lifecycle.as_dict(record).items() if k != "events"},
        "people": people,
        "revisions": _revisions(record),
        "confirmations": _confirmations(record, events, people),
        "thread": _thread(snapshot, events),
        "events": events,
        "proofs": [_proof(session, event) for event in record.events],
        "completeness": _completeness(session, team_id, number),
        "not_covered": NOT_COVERED,
    }
    if time_zone:
        document["time_zone"] = time_zone
    if language:
        document["language"] = language
    if names is not None and names.workspace:
        document["workspace_name"] = names.workspace
    if names is not None and names.channel:
        document["channel_name"] = names.channel
    # Through JSON and back: enums become plain strings, and the checks below see exactly
    # what a file will hold.
    document = json.loads(json.dumps(document, ensure_ascii=False))
    report = verify_evidence(document)
    chain = verify(session)
    document["verification"] = {
        "checked_at": document["generated_at"],
        **report.as_dict(),
        "workspace_chain": _chain_summary(chain, team_id),
    }
    return document


@dataclass(frozen=True)
class Names:
    """What Slack calls the workspace and the record's channel, asked when the file is made;
    no hash covers them, and a file without them shows the IDs alone."""

    workspace: str | None = None
    channel: str | None = None


def _event(event: AuditEvent) -> Event:
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor_id,
        "at": hashchain.iso_utc(event.at),
        "payload": event.payload,
        "prev_hash": event.prev_hash,
        "record_prev": event.record_prev,
        "record_count": event.record_count,
        "hash": event.hash,
    }


def _proof(session: Session, event: AuditEvent) -> dict[str, Any]:
    # One tree per call: fine for a record's few dozen events; a day's tree is hashed in O(n).
    day = event.at.astimezone(UTC).date().isoformat()
    inclusion = checkpoints.inclusion(session, event)
    if inclusion is None:
        return {"seq": event.seq, "day": day, "status": NOT_SEALED}
    return {
        "seq": event.seq,
        "day": day,
        "status": SEALED,
        "index": inclusion.index,
        "tree_size": inclusion.size,
        "root": inclusion.root,
        "events_root": inclusion.events_root,
        "records_root": inclusion.records_root,
        "path": inclusion.proof,
    }


def _completeness(session: Session, team_id: str, number: int) -> dict[str, Any]:
    """The record's leaf in the newest checkpoint's records tree: its latest event and count
    as of that checkpoint, which the file's events must end with and add up to."""
    leaf = checkpoints.record_inclusion(session, team_id, number)
    if leaf is None:
        return {"status": NOT_SEALED}
    day = session.get(Checkpoint, (team_id, leaf.day))
    return {
        "status": SEALED,
        "day": leaf.day.isoformat(),
        "tree_size": day.size if day else None,
        "root": leaf.root,
        "events_root": leaf.events_root,
        "records_root": leaf.records_root,
        "records_size": leaf.size,
        "index": leaf.index,
        "leaf": {"record": leaf.number, "head": leaf.head, "count": leaf.count},
        "path": leaf.proof,
    }


def _latest_snapshot(session: Session, record: Record) -> ThreadSnapshot | None:
    return session.execute(
        select(ThreadSnapshot)
        .where(ThreadSnapshot.record_id == record.id)
        .order_by(ThreadSnapshot.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _thread(snapshot: ThreadSnapshot | None, events: list[Event]) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    digest = thread_digest(snapshot.messages)
    # The event that sealed this very copy: its payload holds the copy's hash.
    sealing = [
        e["seq"]
        for e in events
        if e["type"] == "thread_snapshot" and e["payload"].get("sha256") == digest
    ]
    return {
        "taken_at": hashchain.iso_utc(snapshot.taken_at),
        "seq": sealing[-1] if sealing else None,
        "messages": snapshot.messages,
    }


def _user_ids(record: Record, events: list[Event], snapshot: ThreadSnapshot | None) -> set[str]:
    ids = {record.captured_by_id, record.owner_id, *record.requester_ids}
    ids |= {revision.author_id for revision in record.revisions}
    ids |= {event["actor"] for event in events}
    ids |= {str(m.get("user")) for m in snapshot.messages if m.get("user")} if snapshot else set()
    return {i for i in ids if i and i != SAYSO_ACTOR}


def _people(session: Session, team_id: str, user_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Names, time zones and organizations as Slack last told us (the `slack_users` cache)."""
    rows = session.execute(
        select(SlackUser).where(SlackUser.team_id == team_id, SlackUser.user_id.in_(user_ids))
    ).scalars()
    return {
        row.user_id: {
            "name": row.name,
            "real_name": row.real_name,
            "tz": row.tz,
            "external": row.is_external,
            "org_team_id": row.org_team_id if row.is_external else None,
            "org_name": row.org_name if row.is_external else None,
        }
        for row in rows
    }


def word_changes(before: str, after: str) -> list[list[str]]:
    """[op, text] pieces, op in equal/delete/insert: equal+delete spell `before`,
    equal+insert spell `after` (the same pieces as the card's diff)."""
    return [[op, text] for op, text in changes.word_changes(before, after)]


def _revisions(record: Record) -> list[dict[str, Any]]:
    previous = ""
    revisions = []
    for revision in record.revisions:
        revisions.append(
            {
                "number": revision.number,
                "text": revision.text,
                "author_id": revision.author_id,
                "created_at": hashchain.iso_utc(revision.created_at),
                "changes": word_changes(previous, revision.text),
            }
        )
        previous = revision.text
    return revisions


def _confirmations(
    record: Record, events: list[Event], people: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    standing = {event["seq"] for event in replay(events).answers.values()}
    return [
        _confirmation(record, event, people.get(event["actor"], {}), event["seq"] in standing)
        for event in events
        if event["type"] in ANSWER_TYPES
    ]


def _confirmation(
    record: Record, event: Event, person: dict[str, Any], standing: bool
) -> dict[str, Any]:
    payload, requester = event["payload"], record.requester(event["actor"])
    evidence_ts = payload.get("evidence_ts")
    local = _local_time(datetime.fromisoformat(event["at"]), person.get("tz"))
    return {
        "seq": event["seq"],
        "answer": event["type"],
        "user_id": event["actor"],
        "name": person.get("name"),
        "real_name": person.get("real_name"),
        "org_name": (requester.org_name if requester else None) or person.get("org_name"),
        "org_team_id": (requester.org_team_id if requester else None) or person.get("org_team_id"),
        "revision": payload.get("revision"),
        "via": payload.get("via"),
        "at": event["at"],
        "tz": person.get("tz") if local else None,
        "local_time": local,
        "evidence_ts": evidence_ts,
        "evidence_permalink": _evidence_link(record, requester, evidence_ts),
        "standing": standing,
    }


def _local_time(moment: datetime, tz: str | None) -> str | None:
    """The same instant on the person's own clock; None when Slack gave no usable zone."""
    if not tz:
        return None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return moment.astimezone(zone).isoformat(timespec="microseconds")


def _evidence_link(
    record: Record, requester: Requester | None, evidence_ts: str | None
) -> str | None:
    if not evidence_ts:
        return None
    if requester is not None and requester.evidence_ts == evidence_ts:
        stored = requester.evidence_permalink
        if stored:
            return stored
    # An amendment clears the stored link of an older reply; Slack's links have one shape.
    return built_link(record, evidence_ts)


def built_link(record: Record, ts: str) -> str | None:
    known = [record.thread_permalink, record.source_permalink]
    known += [r.evidence_permalink for r in record.requesters]
    base = next((urlsplit(link) for link in known if link), None)
    if base is None:
        return None
    link = f"{base.scheme}://{base.netloc}/archives/{record.channel_id}/p{ts.replace('.', '')}"
    if record.thread_ts and record.thread_ts != ts:
        link += f"?thread_ts={record.thread_ts}&cid={record.channel_id}"
    return link


def _chain_summary(chain: Report, team_id: str) -> dict[str, Any]:
    mine = next((c for c in chain.chains if c.team_id == team_id), None)
    problem = chain.problem
    return {
        "ok": chain.ok,
        "events": mine.events if mine else 0,
        "head": mine.head if mine else None,
        "problem": None
        if problem is None
        else f"workspace {problem.team_id}, event {problem.seq}: {problem.what}",
    }
