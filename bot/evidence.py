"""Evidence files: one record, its whole history and the proofs that tie it to published heads.

`build_evidence` gathers a self-contained document (JSON-serializable, described in
docs/evidence.md); `render_evidence` writes it as JSON, Markdown or a printable HTML page. The
HTML and Markdown embed the full JSON, so `verify_evidence_file` checks any of the three:
first the embedded document (bot/evidence_check.py), then that the readable part is exactly
what that document renders to, so nobody can change what a reader sees and leave the data be.

`export_rows` and `render_rows` are the other export: one row per record, for spreadsheets
(CSV) and backups (JSON Lines).
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import checkpoints, ledger, records, slacktext
from bot.evidence_check import (
    ANSWER_TYPES,
    FORMAT,
    FORMAT_PREFIX,
    HASH_RULE,
    NOT_SEALED,
    SEALED,
    Check,
    Document,
    Event,
    EvidenceReport,
    canonical_event,
    replay,
    thread_digest,
    verify_evidence,
)
from bot.models import AuditEvent, Record, Requester, SlackUser, ThreadSnapshot
from bot.rendering import preview
from bot.verify import Report, verify

__all__ = [
    "FORMAT",
    "DamagedEvidence",
    "EvidenceReport",
    "NotEvidence",
    "build_evidence",
    "document_json",
    "export_rows",
    "read_evidence",
    "render_evidence",
    "render_rows",
    "verify_evidence",
    "verify_evidence_file",
]

DocumentFormat = Literal["json", "md", "html"]
RowFormat = Literal["csv", "jsonl"]
# Bumped whenever the templates change what they print: a file rendered by another layout
# cannot be compared with this one's rendering, and the report says so.
LAYOUT_PREFIX = "sayso-evidence-layout/"
LAYOUT = f"{LAYOUT_PREFIX}1"
EMBED_ID = "sayso-evidence"
SAYSO_ACTOR = "sayso"
# CJK characters one by one, other words whole: the same tokens as the card's word diff.
_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+|\s+|[^\w\s]")


class NotEvidence(ValueError):
    """The file is not a Sayso evidence file at all (as opposed to a damaged one)."""


# --- building ---------------------------------------------------------------------------------


def build_evidence(session: Session, team_id: str, number: int, now: datetime) -> Document:
    """Record `number` of `team_id` with everything needed to check it without Sayso."""
    record = records.get(session, team_id, number)
    events = [_event(event) for event in record.events]
    snapshot = _latest_snapshot(session, record)
    people = _people(session, team_id, _user_ids(record, events, snapshot))
    document: Document = {
        "format": FORMAT,
        "generated_at": ledger.iso_utc(now),
        "team_id": team_id,
        "hash_rule": HASH_RULE,
        "record": {k: v for k, v in records.as_dict(record).items() if k != "events"},
        "people": people,
        "revisions": _revisions(record),
        "confirmations": _confirmations(record, events, people),
        "thread": _thread(snapshot, events),
        "events": events,
        "proofs": [_proof(session, event) for event in record.events],
    }
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


def _event(event: AuditEvent) -> Event:
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor_id,
        "at": ledger.iso_utc(event.at),
        "payload": event.payload,
        "prev_hash": event.prev_hash,
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
        "path": inclusion.proof,
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
        "taken_at": ledger.iso_utc(snapshot.taken_at),
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
    equal+insert spell `after`."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    pieces: list[list[str]] = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, old, new).get_opcodes():
        if op == "equal":
            pieces.append(["equal", "".join(old[a1:a2])])
            continue
        if a2 > a1:
            pieces.append(["delete", "".join(old[a1:a2])])
        if b2 > b1:
            pieces.append(["insert", "".join(new[b1:b2])])
    return pieces


def _revisions(record: Record) -> list[dict[str, Any]]:
    previous = ""
    revisions = []
    for revision in record.revisions:
        revisions.append(
            {
                "number": revision.number,
                "text": revision.text,
                "author_id": revision.author_id,
                "created_at": ledger.iso_utc(revision.created_at),
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
    return _built_link(record, evidence_ts)


def _built_link(record: Record, ts: str) -> str | None:
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


# --- rendering --------------------------------------------------------------------------------


def document_json(document: Document) -> str:
    """Canonical and pretty: sorted keys, two-space indent, UTF-8 text kept as it is."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)


def render_evidence(document: Document, fmt: DocumentFormat) -> str:
    """The document as `json`, `md` or `html`; the same document always renders the same."""
    if fmt == "json":
        return document_json(document) + "\n"
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown evidence format {fmt!r}; use json, md or html")
    template = _environment().get_template(f"evidence.{fmt}.j2")
    return template.render(
        doc=document,
        view=_view(document),
        layout=LAYOUT,
        embed_id=EMBED_ID,
        embedded=_embedded(document, fmt),
    )


def _embedded(document: Document, fmt: DocumentFormat) -> Markup:
    text = document_json(document)
    # "<", ">" and "&" only ever occur inside JSON strings, where \u escapes mean the same:
    # inside <script> no entity is decoded and "</script" would end the element. In Markdown
    # a run of backticks inside a string could close the fence.
    if fmt == "html":
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    else:
        text = text.replace("`", "\\u0060")
    return Markup(text)


@functools.cache
def _environment() -> Environment:
    # Not the Slack renderer's environment: that one escapes for mrkdwn; this one for HTML,
    # always on, so user text can never become markup in an export.
    environment = Environment(
        loader=PackageLoader("templates", "exports"),
        autoescape=select_autoescape(default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(when=when, md=md_inline, mdquote=md_quote)
    return environment


def when(value: str | None) -> str:
    """An ISO UTC time as people read it, to the second; the exact value is in the data."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(value: str | None, tz: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {tz} (UTC{offset[:3]}:{offset[3:]})"


# Characters that start Markdown syntax anywhere in a line, and those that do at its start.
_MD_INLINE = re.compile(r"([\\`*_\[\]|~!])")
_MD_LINE_START = re.compile(r"^(\s*\d*)([#=+-]|(?<=\d)[.)])")


def md_inline(value: Any) -> Markup:
    """User text for a Markdown table cell: HTML-escaped (entities are valid Markdown), its
    syntax characters backslash-escaped, line breaks kept as <br>."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return Markup("<br>".join(_md_line(line) for line in lines))


def md_quote(value: Any) -> Markup:
    """User text as a Markdown block quote, line by line, nothing in it live."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return Markup("\n".join(f"> {_md_line(line)}".rstrip() for line in lines))


def _md_line(line: str) -> str:
    # Entities for what HTML would read as markup; quotes stay, Markdown shows them as typed.
    html = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MD_INLINE.sub(r"\\\1", html)
    return _MD_LINE_START.sub(r"\1\\\2", escaped)


def _view(document: Document) -> dict[str, Any]:
    """Everything the templates print, worked out here so the templates only lay it out."""
    people = document.get("people") or {}
    record = document["record"]
    return {
        "facts": _facts(record, people),
        "links": _links(record),
        "requesters": [_requester_row(r, people) for r in record["requesters"]],
        "confirmations": [_confirmation_row(c, people) for c in document["confirmations"]],
        "revisions": [_revision_row(r, people) for r in document["revisions"]],
        "thread": _thread_view(document, people),
        "events": _event_rows(document, people),
        "days": _days(document["proofs"]),
        "unsealed": [p["seq"] for p in document["proofs"] if p["status"] != SEALED],
        "verification": document.get("verification"),
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


def _facts(record: dict[str, Any], people: dict[str, Any]) -> list[tuple[str, str]]:
    risk = record["risk"] + (f" — {record['risk_note']}" if record.get("risk_note") else "")
    decided = (
        f"{when(record['decided_at'])} by {_person(people, record['decided_by_id'])}"
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
            f"{when(record['created_at'])} by {_person(people, record['captured_by_id'])}"
            f" (via {record['source']})",
        ),
        ("Owner", _person(people, record["owner_id"])),
        ("Risk", risk),
        ("Due", when(record.get("due_at"))),
        ("Decided", decided),
        ("Channel", f"{record['channel_id']}, thread {record.get('thread_ts') or '—'}"),
    ]


def _requester_row(requester: dict[str, Any], people: dict[str, Any]) -> dict[str, Any]:
    return {
        "who": _person(people, requester["user_id"]),
        "org": requester.get("org_name")
        or (people.get(requester["user_id"]) or {}).get("org_name")
        or "—",
        "answer": requester["answer"],
        "revision": requester.get("answered_revision") or "—",
        "at": when(requester.get("answered_at")),
        "via": requester.get("via") or "—",
    }


def _confirmation_row(confirmation: dict[str, Any], people: dict[str, Any]) -> dict[str, Any]:
    local = _local(confirmation.get("local_time"), confirmation.get("tz"))
    return {
        "seq": confirmation["seq"],
        "who": _person(people, confirmation["user_id"]),
        "org": confirmation.get("org_name") or "—",
        "answer": confirmation["answer"],
        "revision": confirmation.get("revision"),
        "via": _via(confirmation.get("via")),
        "at": when(confirmation["at"]),
        "local": local or "time zone unknown",
        "link": link if _is_web(link := confirmation.get("evidence_permalink")) else None,
        "evidence_ts": confirmation.get("evidence_ts"),
        "standing": confirmation["standing"],
    }


def _via(via: str | None) -> str:
    return {"button": "button", "reply": "reply in the thread"}.get(via or "", via or "—")


def _revision_row(revision: dict[str, Any], people: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": revision["number"],
        "text": revision["text"],
        "author": _person(people, revision["author_id"]),
        "at": when(revision["created_at"]),
        "changes": revision["changes"] if revision["number"] > 1 else [],
    }


def _thread_view(document: Document, people: dict[str, Any]) -> dict[str, Any] | None:
    thread = document.get("thread")
    if not thread:
        return None
    return {
        "taken_at": when(thread["taken_at"]),
        "seq": thread["seq"],
        "messages": [
            {
                "at": _ts_when(m.get("ts")),
                "who": "Sayso (the bot)" if m.get("bot") else _person(people, m.get("user")),
                "text": _as_seen(str(m.get("text") or ""), people),
                "edited": _ts_when((m.get("edited") or {}).get("ts")) if m.get("edited") else "",
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

    return slacktext.to_plain(_BARE_MENTION.sub(named, slack_text))


def _ts_when(ts: Any) -> str:
    """A Slack message ts is the message's Unix time: seconds, a dot, a counter."""
    try:
        moment = datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return "—"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _event_rows(document: Document, people: dict[str, Any]) -> list[dict[str, Any]]:
    team_id, number = document["team_id"], document["record"]["number"]
    proofs = {p["seq"]: p for p in document["proofs"]}
    return [
        {
            "seq": event["seq"],
            "type": event["type"],
            "at": when(event["at"]),
            "actor": _short_person(people, event["actor"]),
            "summary": _summary(event),
            "hash": event["hash"],
            "prev_hash": event["prev_hash"],
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


# --- reading and checking files ---------------------------------------------------------------


class DamagedEvidence(ValueError):
    """An evidence file whose embedded data cannot be read any more."""


class _EmbeddedJson(HTMLParser):
    """The text of <script id="sayso-evidence">; script content is raw text to the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = False
        self._inside = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and dict(attrs).get("id") == EMBED_ID:
            self.found = self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.parts.append(data)


_MD_FENCE = re.compile(r"^```json\n(.*?)\n```[ \t]*$", re.MULTILINE | re.DOTALL)


def read_evidence(text: str) -> tuple[Document, DocumentFormat]:
    """The document in a JSON, HTML or Markdown evidence file, and which of the three it is.

    Raises NotEvidence for anything else, DamagedEvidence when the embedded data is there but
    no longer parses."""
    body = text.lstrip("\ufeff").replace("\r\n", "\n")
    raw, fmt = _embedded_text(body)
    try:
        document = json.loads(raw)
    except ValueError as error:
        if fmt == "json" and FORMAT_PREFIX not in raw:
            raise NotEvidence("not a Sayso evidence file (not JSON)") from error
        raise DamagedEvidence(
            f"the embedded evidence is not valid JSON any more: {error}"
        ) from error
    if not isinstance(document, dict) or not str(document.get("format", "")).startswith(
        FORMAT_PREFIX
    ):
        raise NotEvidence('not a Sayso evidence file (no "format": "sayso-evidence/…")')
    if document["format"] != FORMAT:
        raise NotEvidence(f"{document['format']} is a format this Sayso cannot check ({FORMAT})")
    return document, fmt


def _embedded_text(body: str) -> tuple[str, DocumentFormat]:
    if body.lstrip().startswith("{"):
        return body, "json"
    if "<script" in body:
        parser = _EmbeddedJson()
        parser.feed(body)
        parser.close()
        if parser.found:
            return "".join(parser.parts), "html"
    fences = _MD_FENCE.findall(body)
    if fences and LAYOUT_PREFIX in body:
        return fences[-1], "md"
    raise NotEvidence("not a Sayso evidence file (no embedded evidence data found)")


def verify_evidence_file(text: str) -> EvidenceReport:
    """verify_evidence on the embedded document, then (HTML, Markdown) the readable part."""
    try:
        document, fmt = read_evidence(text)
    except DamagedEvidence as error:
        return EvidenceReport(checks=[Check("format", False, str(error))])
    report = verify_evidence(document)
    if fmt != "json":
        report.checks.append(_check_readable(text, document, fmt))
    return report


def _check_readable(text: str, document: Document, fmt: DocumentFormat) -> Check:
    marker = re.search(re.escape(LAYOUT_PREFIX) + r"\d+", text)
    if marker is None:
        return Check("readable", False, "the file lost its layout marker; it was edited")
    if marker.group() != LAYOUT:
        return Check(
            "readable",
            True,
            f"NOT compared: laid out as {marker.group()}, this Sayso renders {LAYOUT}; only "
            "the embedded data was checked, so read that, not the page",
        )
    try:
        expected = render_evidence(document, fmt)
    except (KeyError, TypeError, ValueError) as error:
        return Check("readable", False, f"the embedded data cannot be rendered ({error})")
    found, wanted = _lines(text), _lines(expected)
    for number, (got, want) in enumerate(zip(found, wanted, strict=False), 1):
        if got != want:
            return Check(
                "readable",
                False,
                f"line {number} of the file is not what its data renders: found "
                f"{_clip(got)}, expected {_clip(want)}: the readable part was changed",
            )
    if len(found) != len(wanted):
        return Check("readable", False, "the file has lines added or removed after its data")
    return Check("readable", True, "the readable part is exactly what its data renders")


def _lines(text: str) -> list[str]:
    # Editors may add a BOM, CRLF, trailing blanks or a final newline: none of that is content.
    body = text.lstrip("\ufeff").replace("\r\n", "\n").rstrip()
    return [line.rstrip() for line in body.split("\n")]


def _clip(line: str) -> str:
    return repr(line if len(line) <= 70 else line[:69] + "…")


# --- one row per record -----------------------------------------------------------------------

ROW_FIELDS = (
    "number",
    "team_id",
    "status",
    "kind",
    "text",
    "requesters",
    "owner_id",
    "owner",
    "risk",
    "risk_note",
    "due_at",
    "created_at",
    "captured_by_id",
    "confirmed_at",
    "thread_permalink",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_rows(session: Session, team_id: str | None = None) -> list[dict[str, Any]]:
    """One plain row per record (every workspace unless `team_id`), oldest first."""
    found = records.list_records(session, team_id)
    people = {
        (row.team_id, row.user_id): row for row in session.execute(select(SlackUser)).scalars()
    }
    return [_row(record, people) for record in found]


def _row(record: Record, people: dict[tuple[str, str], SlackUser]) -> dict[str, Any]:
    data = records.as_dict(record)

    def name(user_id: str) -> str | None:
        known = people.get((record.team_id, user_id))
        return (known.real_name or known.name) if known else None

    return {
        **{key: data.get(key) for key in ROW_FIELDS},
        "requesters": [
            {
                "user_id": r["user_id"],
                "name": name(r["user_id"]),
                "org_name": r["org_name"],
                "answer": r["answer"],
                "answered_at": r["answered_at"],
                "via": r["via"],
            }
            for r in data["requesters"]
        ],
        "owner": name(record.owner_id),
        "thread_permalink": _thread_link(record),
    }


def _thread_link(record: Record) -> str | None:
    if record.thread_permalink:
        return record.thread_permalink
    if record.thread_ts:
        return _built_link(record, record.thread_ts)
    return record.source_permalink


def render_rows(rows: Iterable[dict[str, Any]], fmt: RowFormat) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if fmt != "csv":
        raise ValueError(f"unknown row format {fmt!r}; use csv or jsonl")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(key, row[key]) for key in ROW_FIELDS})
    return out.getvalue()


def _cell(key: str, value: Any) -> str:
    if key == "requesters":
        value = "; ".join(
            f"{r['name'] or r['user_id']} <{r['user_id']}>"
            + (f" ({r['org_name']})" if r["org_name"] else "")
            + f": {r['answer']}"
            for r in value
        )
    text = "" if value is None else str(value)
    # Quoting the cell keeps "=HYPERLINK(...)" typed into an instruction from running.
    return "'" + text if text.startswith(_FORMULA_START) else text
