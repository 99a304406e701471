"""What the evidence templates print, worked out from the document: names for user ids,
times people read, one row per event, confirmation and day."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import emoji

from bot.evidence.document import (
    ANSWER_TYPES,
    SAYSO_ACTOR,
    SEALED,
    Document,
    Event,
    canonical_event,
)
from bot.localtime import shown
from bot.slack import mrkdwn
from bot.slack.rendering import preview


def when(value: str | None, zone: str | None = None) -> str:
    """An ISO UTC time as people read it, to the second, in the `zone` the file was made
    for, with its offset (`2026-11-26 17:30:00 +08:00`); the exact value is in the data.
    A file made before it named a zone reads as it always did, in UTC."""
    if not value:
        return "—"
    if zone:
        return shown(value, zone, seconds=True, empty="—")
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def zone_of(document: Document) -> str | None:
    """The zone the file shows its times in (`time_zone`, chosen when it was exported)."""
    zone = document.get("time_zone")
    return zone if isinstance(zone, str) and zone else None


def _local(value: str | None, tz: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {tz} (UTC{offset[:3]}:{offset[3:]})"


def view_of(document: Document) -> dict[str, Any]:
    """Everything the templates print, worked out here so the templates only lay it out."""
    people = document.get("people") or {}
    record = document["record"]
    zone = zone_of(document)
    return {
        "zone": zone or "UTC",
        "facts": _facts(record, people, zone),
        "links": _links(record),
        "requesters": [_requester_row(r, people, zone) for r in record["requesters"]],
        "confirmations": [_confirmation_row(c, people, zone) for c in document["confirmations"]],
        "revisions": [_revision_row(r, people, zone) for r in document["revisions"]],
        "thread": _thread_view(document, people, zone),
        "events": _event_rows(document, people, zone),
        "days": _days(document["proofs"]),
        "unsealed": [p["seq"] for p in document["proofs"] if p["status"] != SEALED],
        "complete": _complete(document.get("completeness") or {}),
        "not_covered": document.get("not_covered"),
        "verification": document.get("verification"),
    }


def _complete(sealed: dict[str, Any]) -> dict[str, Any] | None:
    """The record's leaf in the newest checkpoint's records tree, as the templates print it."""
    if sealed.get("status") != SEALED:
        return None
    leaf = sealed["leaf"]
    return {
        "day": sealed["day"],
        "count": leaf["count"],
        "head": leaf["head"],
        "index": sealed["index"],
        "records_size": sealed["records_size"],
        "records_root": sealed["records_root"],
        "events_root": sealed["events_root"],
        "tree_size": sealed["tree_size"],
        "root": sealed["root"],
        "path": sealed["path"],
    }


def _links(record: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [
        ("Source message", record.get("source_permalink")),
        ("Thread", record.get("thread_permalink")),
    ]
    return [(label, str(url)) for label, url in pairs if _is_web(url)]


def _is_web(url: Any) -> bool:
    # Only links to the web: a hand-edited file must not smuggle in a javascript: URL.
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def _person(people: dict[str, Any], user_id: str | None) -> str:
    if not user_id:
        return "—"
    if user_id == SAYSO_ACTOR:
        return "Sayso (the bot)"
    known = people.get(user_id)
    if not known:
        return user_id
    org = f", {known['org_name']}" if known.get("org_name") else ""
    real = known.get("real_name")
    label = f"{real} (@{known['name']}{org})" if real else f"@{known['name']}{org}"
    return f"{label} {user_id}"


def _short_person(people: dict[str, Any], user_id: str) -> str:
    """For narrow columns: the name alone; the full label is in the record's facts."""
    known = people.get(user_id)
    if user_id == SAYSO_ACTOR:
        return "Sayso"
    if not known:
        return user_id
    return str(known.get("real_name") or f"@{known['name']}")


def _facts(
    record: dict[str, Any], people: dict[str, Any], zone: str | None
) -> list[tuple[str, str]]:
    risk = record["risk"] + (f" — {record['risk_note']}" if record.get("risk_note") else "")
    decided = (
        f"{when(record['decided_at'], zone)} by {_person(people, record['decided_by_id'])}"
        if record.get("decided_at")
        else "—"
    )
    return [
        ("Status", record["status"]),
        ("Kind", record["kind"]),
        ("Revision", str(record["revision"])),
        ("Requested by", "; ".join(_person(people, r["user_id"]) for r in record["requesters"])),
        (
            "Captured",
            f"{when(record['created_at'], zone)} by {_person(people, record['captured_by_id'])}"
            f" (via {record['source']})",
        ),
        ("Owner", _person(people, record["owner_id"])),
        ("Risk", risk),
        ("Due", when(record.get("due_at"), zone)),
        ("Decided", decided),
        ("Channel", f"{record['channel_id']}, thread {record.get('thread_ts') or '—'}"),
    ]


def _requester_row(
    requester: dict[str, Any], people: dict[str, Any], zone: str | None
) -> dict[str, Any]:
    return {
        "who": _person(people, requester["user_id"]),
        "org": requester.get("org_name")
        or (people.get(requester["user_id"]) or {}).get("org_name")
        or "—",
        "answer": requester["answer"],
        "revision": requester.get("answered_revision") or "—",
        "at": when(requester.get("answered_at"), zone),
        "via": requester.get("via") or "—",
    }


def _confirmation_row(
    confirmation: dict[str, Any], people: dict[str, Any], zone: str | None
) -> dict[str, Any]:
    local = _local(confirmation.get("local_time"), confirmation.get("tz"))
    return {
        "seq": confirmation["seq"],
        "who": _person(people, confirmation["user_id"]),
        "org": confirmation.get("org_name") or "—",
        "answer": confirmation["answer"],
        "revision": confirmation.get("revision"),
        "via": _via(confirmation.get("via")),
        "at": when(confirmation["at"], zone),
        "local": local or "time zone unknown",
        "link": link if _is_web(link := confirmation.get("evidence_permalink")) else None,
        "evidence_ts": confirmation.get("evidence_ts"),
        "standing": confirmation["standing"],
    }


def _via(via: str | None) -> str:
    return {"button": "button", "reply": "reply in the thread"}.get(via or "", via or "—")


def _revision_row(
    revision: dict[str, Any], people: dict[str, Any], zone: str | None
) -> dict[str, Any]:
    return {
        "number": revision["number"],
        "text": revision["text"],
        "author": _person(people, revision["author_id"]),
        "at": when(revision["created_at"], zone),
        "changes": revision["changes"] if revision["number"] > 1 else [],
    }


def _thread_view(
    document: Document, people: dict[str, Any], zone: str | None
) -> dict[str, Any] | None:
    thread = document.get("thread")
    if not thread:
        return None
    return {
        "taken_at": when(thread["taken_at"], zone),
        "seq": thread["seq"],
        "messages": [
            {
                "at": _ts_when(m.get("ts"), zone),
                "who": "Sayso (the bot)" if m.get("bot") else _person(people, m.get("user")),
                "text": _as_seen(str(m.get("text") or ""), people),
                "edited": _ts_when((m.get("edited") or {}).get("ts"), zone)
                if m.get("edited")
                else "",
            }
            for m in thread["messages"]
        ],
    }


_BARE_MENTION = re.compile(r"<@([UW][A-Z0-9]{2,})>")


def _as_seen(slack_text: str, people: dict[str, Any]) -> str:
    """Slack's stored markup (entities, <@U…> mentions) as people saw it in the thread."""

    def named(match: re.Match[str]) -> str:
        known = people.get(match[1])
        return f"<@{match[1]}|{known['name']}>" if known else match[0]

    # Shortcodes as the emoji Slack showed (:+1: 👍): only here, where the thread is shown;
    # the data and what is hashed keep Slack's text as it was.
    return emoji.emojize(mrkdwn.to_plain(_BARE_MENTION.sub(named, slack_text)), language="alias")


def _ts_when(ts: Any, zone: str | None) -> str:
    """A Slack message ts is the message's Unix time: seconds, a dot, a counter."""
    try:
        moment = datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return "—"
    return shown(moment, zone, seconds=True) if zone else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _event_rows(
    document: Document, people: dict[str, Any], zone: str | None
) -> list[dict[str, Any]]:
    team_id, number = document["team_id"], document["record"]["number"]
    proofs = {p["seq"]: p for p in document["proofs"]}
    return [
        {
            "seq": event["seq"],
            "type": event["type"],
            "at": when(event["at"], zone),
            "actor": _short_person(people, event["actor"]),
            "summary": _summary(event),
            "hash": event["hash"],
            "prev_hash": event["prev_hash"],
            "record_prev": event.get("record_prev"),
            "record_count": event.get("record_count"),
            "canonical": canonical_event(team_id, number, event),
            "proof": proofs.get(event["seq"]),
        }
        for event in document["events"]
    ]


def _summary(event: Event) -> str:
    kind, payload = event["type"], event["payload"]
    if kind in ("captured", "amended"):
        return f"revision {payload.get('revision', 1)}: “{preview(str(payload.get('text')), 80)}”"
    if kind in ANSWER_TYPES:
        return f"revision {payload.get('revision')}, {_via(payload.get('via'))}"
    if kind.endswith("_edited"):
        old, new = (
            preview(str(payload.get("old_text")), 40),
            preview(str(payload.get("new_text")), 40),
        )
        return f"“{old}” → “{new}”"
    if kind.endswith("_deleted"):
        return f"deleted “{preview(str(payload.get('old_text')), 60)}”"
    if kind == "thread_snapshot":
        return f"{payload.get('messages')} messages copied"
    if isinstance(payload.get("status"), str):
        return f"status: {payload['status']}"
    return ""


def _days(proofs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    days: dict[str, dict[str, Any]] = {}
    for proof in proofs:
        day = days.setdefault(
            proof["day"],
            {"day": proof["day"], "sealed": False, "size": None, "root": None, "seqs": []},
        )
        day["seqs"].append(proof["seq"])
        if proof["status"] == SEALED:
            day.update(sealed=True, size=proof["tree_size"], root=proof["root"])
    return [days[day] for day in sorted(days)]
