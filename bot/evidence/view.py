"""What the evidence templates print, worked out from the document: names for user ids,
times people read, one row per event, confirmation and day."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import emoji

from bot.evidence.document import (
    ANSWER_TYPES,
    NOT_COVERED,
    SAYSO_ACTOR,
    SEALED,
    Document,
    Event,
    canonical_event,
)
from bot.evidence.wording import Wording
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


def view_of(document: Document, words: Wording) -> dict[str, Any]:
    """Everything the templates print, worked out here so the templates only lay it out."""
    people = document.get("people") or {}
    record = document["record"]
    zone = zone_of(document)
    w = _Words(words, people, zone)
    statement = document.get("not_covered")
    return {
        "zone": zone or "UTC",
        "workspace": _named(document.get("workspace_name"), document["team_id"], words),
        "channel": None if words.legacy else _channel(document),
        "names": not words.legacy and bool(_names(document)),
        "facts": _facts(record, w, None if words.legacy else _channel(document)),
        "links": _links(record, words),
        "requesters": [_requester_row(r, w) for r in record["requesters"]],
        "confirmations": [_confirmation_row(c, w) for c in document["confirmations"]],
        "revisions": [_revision_row(r, w) for r in document["revisions"]],
        "thread": _thread_view(document, w),
        "events": _event_rows(document, w),
        "days": _days(document["proofs"]),
        "unsealed": [p["seq"] for p in document["proofs"] if p["status"] != SEALED],
        "complete": _complete(document.get("completeness") or {}),
        # The statement the data holds (checked word for word), in the reader's language.
        "not_covered": words.text("evidence.not_covered")
        if statement == NOT_COVERED
        else statement,
        "verification": document.get("verification"),
    }


class _Words:
    """What every row needs: the wording, the people, the zone."""

    def __init__(self, words: Wording, people: dict[str, Any], zone: str | None) -> None:
        self.words, self.people, self.zone = words, people, zone

    def person(self, user_id: str | None) -> str:
        return _person(self.people, user_id, self.words)

    def when(self, value: str | None) -> str:
        return when(value, self.zone)


def _names(document: Document) -> tuple[str, ...]:
    """The workspace and channel names Slack gave at export (no hash covers them)."""
    found = (document.get("workspace_name"), document.get("channel_name"))
    return tuple(name for name in found if isinstance(name, str) and name)


def _named(name: Any, ident: str, words: Wording) -> str:
    if words.legacy or not isinstance(name, str) or not name:
        return ident
    return f"{name} ({ident})"


def _channel(document: Document) -> str:
    channel_id = document["record"]["channel_id"]
    name = document.get("channel_name")
    return f"#{name} ({channel_id})" if isinstance(name, str) and name else str(channel_id)


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


def _links(record: dict[str, Any], words: Wording) -> list[tuple[str, str]]:
    pairs = [
        (words.text("facts.source_message"), record.get("source_permalink")),
        (words.text("facts.thread"), record.get("thread_permalink")),
    ]
    return [(label, str(url)) for label, url in pairs if _is_web(url)]


def _is_web(url: Any) -> bool:
    # Only links to the web: a hand-edited file must not smuggle in a javascript: URL.
    return isinstance(url, str) and url.startswith(("https://", "http://"))


def _person(people: dict[str, Any], user_id: str | None, words: Wording) -> str:
    if not user_id:
        return "—"
    if user_id == SAYSO_ACTOR:
        return words.text("words.bot")
    known = people.get(user_id)
    if not known:
        return user_id
    org = f", {known['org_name']}" if known.get("org_name") else ""
    real = known.get("real_name")
    label = f"{real} (@{known['name']}{org})" if real else f"@{known['name']}{org}"
    return f"{label} {user_id}"


def _short_person(people: dict[str, Any], user_id: str, words: Wording) -> str:
    """For narrow columns: the name alone; the full label is in the record's facts."""
    known = people.get(user_id)
    if user_id == SAYSO_ACTOR:
        return words.text("words.bot_short")
    if not known:
        return user_id
    return str(known.get("real_name") or f"@{known['name']}")


def _facts(record: dict[str, Any], w: _Words, channel: str | None) -> list[tuple[str, str]]:
    words = w.words
    risk = record["risk"] + (f" — {record['risk_note']}" if record.get("risk_note") else "")
    decided = (
        words.text(
            "facts.decided_value",
            at=w.when(record["decided_at"]),
            who=w.person(record["decided_by_id"]),
        )
        if record.get("decided_at")
        else "—"
    )
    captured = words.text(
        "facts.captured_value",
        at=w.when(record["created_at"]),
        who=w.person(record["captured_by_id"]),
        source=record["source"],
    )
    thread = record.get("thread_ts") or "—"
    return [
        (words.text("facts.status"), words.state(record["status"])),
        (words.text("facts.kind"), record["kind"]),
        (words.text("facts.revision"), str(record["revision"])),
        (
            words.text("facts.requested_by"),
            "; ".join(w.person(r["user_id"]) for r in record["requesters"]),
        ),
        (words.text("facts.captured"), captured),
        (words.text("facts.owner"), w.person(record["owner_id"])),
        (words.text("facts.risk"), risk),
        (words.text("facts.due"), w.when(record.get("due_at"))),
        (words.text("facts.decided"), decided),
        (
            words.text("facts.channel"),
            words.text(
                "facts.channel_value", channel=channel or record["channel_id"], thread=thread
            ),
        ),
    ]


def _requester_row(requester: dict[str, Any], w: _Words) -> dict[str, Any]:
    return {
        "who": w.person(requester["user_id"]),
        "org": requester.get("org_name")
        or (w.people.get(requester["user_id"]) or {}).get("org_name")
        or "—",
        "answer": requester["answer"],
        "revision": requester.get("answered_revision") or "—",
        "at": w.when(requester.get("answered_at")),
        "via": (requester.get("via") or "—")
        if w.words.legacy
        else _via(requester.get("via"), w.words),
    }


def _confirmation_row(confirmation: dict[str, Any], w: _Words) -> dict[str, Any]:
    local = _local(confirmation.get("local_time"), confirmation.get("tz"))
    return {
        "seq": confirmation["seq"],
        "who": w.person(confirmation["user_id"]),
        "org": confirmation.get("org_name") or "—",
        "answer": confirmation["answer"],
        "revision": confirmation.get("revision"),
        "via": _via(confirmation.get("via"), w.words),
        "at": w.when(confirmation["at"]),
        "local": local or w.words.text("words.zone_unknown"),
        "link": link if _is_web(link := confirmation.get("evidence_permalink")) else None,
        "evidence_ts": confirmation.get("evidence_ts"),
        "standing": confirmation["standing"],
    }


def _via(via: str | None, words: Wording) -> str:
    if via in ("button", "reply"):
        return words.text(f"words.{via}")
    return via or "—"


def _revision_row(revision: dict[str, Any], w: _Words) -> dict[str, Any]:
    return {
        "number": revision["number"],
        "text": revision["text"],
        "author": w.person(revision["author_id"]),
        "at": w.when(revision["created_at"]),
        "changes": revision["changes"] if revision["number"] > 1 else [],
    }


def _thread_view(document: Document, w: _Words) -> dict[str, Any] | None:
    thread = document.get("thread")
    if not thread:
        return None
    return {
        "taken_at": w.when(thread["taken_at"]),
        "seq": thread["seq"],
        "messages": [
            {
                "at": _ts_when(m.get("ts"), w.zone),
                "who": w.words.text("words.bot") if m.get("bot") else w.person(m.get("user")),
                "text": _as_seen(str(m.get("text") or ""), w.people),
                "edited": _ts_when((m.get("edited") or {}).get("ts"), w.zone)
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


def _event_rows(document: Document, w: _Words) -> list[dict[str, Any]]:
    team_id, number = document["team_id"], document["record"]["number"]
    proofs = {p["seq"]: p for p in document["proofs"]}
    return [
        {
            "seq": event["seq"],
            "type": event["type"],
            "at": w.when(event["at"]),
            "actor": _short_person(w.people, event["actor"], w.words),
            "summary": _summary(event, w.words),
            "hash": event["hash"],
            "prev_hash": event["prev_hash"],
            "record_prev": event.get("record_prev"),
            "record_count": event.get("record_count"),
            "canonical": canonical_event(team_id, number, event),
            "proof": proofs.get(event["seq"]),
        }
        for event in document["events"]
    ]


def _summary(event: Event, words: Wording) -> str:
    kind, payload = event["type"], event["payload"]
    if kind in ("captured", "amended"):
        text = preview(str(payload.get("text")), 80)
        return words.text("words.summary_text", revision=payload.get("revision", 1), text=text)
    if kind in ANSWER_TYPES:
        via = _via(payload.get("via"), words)
        return words.text("words.summary_answer", revision=payload.get("revision"), via=via)
    if kind.endswith("_edited"):
        old, new = (
            preview(str(payload.get("old_text")), 40),
            preview(str(payload.get("new_text")), 40),
        )
        return f"“{old}” → “{new}”"
    if kind.endswith("_deleted"):
        text = preview(str(payload.get("old_text")), 60)
        return words.text("words.summary_deleted", text=text)
    if kind == "thread_snapshot":
        return words.text("words.summary_thread", count=payload.get("messages"))
    if isinstance(payload.get("status"), str):
        return words.text("words.summary_status", status=words.state(payload["status"]))
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
