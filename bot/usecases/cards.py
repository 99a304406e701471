"""What the record's messages show: a view of a record for the templates, computed once."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime

from bot.models import Answer, Record, RecordStatus
from bot.records.lifecycle import Capture
from bot.slack import mrkdwn
from bot.slack.rendering import Mrkdwn

# Chinese is compared character by character (it has no spaces), other text word by word.
_TOKENS = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W\u3400-\u9fff\uf900-\ufaff]+|\s+|[^\w\s]")
# A record in one of these states was closed by someone, named on its card from its history.
CLOSED_BY_SOMEONE = frozenset({RecordStatus.WITHDRAWN, RecordStatus.DONE, RecordStatus.CANCELLED})


@dataclass(frozen=True)
class RequesterView:
    user_id: str
    answer: str
    org_name: str | None


@dataclass(frozen=True)
class RecordView:
    team_id: str
    number: int
    kind: str
    status: str
    revision: int
    text: str
    diff: Mrkdwn | None
    requesters: list[RequesterView]
    requester_ids: list[str]
    waiting_ids: list[str]
    confirmed_ids: list[str]
    captured_by_id: str
    owner_id: str
    risk: str
    risk_note: str | None
    due_at: datetime | None
    decided_at: datetime | None
    decided_by_id: str | None
    closed_by_id: str | None
    closed_at: datetime | None
    source_permalink: str | None
    is_open: bool
    # Who wrote the current revision, when it is not the first (its request names them).
    revised_by_id: str | None = None


def accepted_view(capture: Capture, number: int) -> RecordView:
    """A record as it will be stored from this capture (`intake.accept_capture`), for its ack."""
    requester_ids = list(dict.fromkeys(capture.requester_ids))
    return RecordView(
        team_id=capture.team_id,
        number=number,
        kind=capture.kind,
        status=RecordStatus.PENDING,
        revision=1,
        text=capture.text,
        diff=None,
        requesters=[RequesterView(user_id, Answer.PENDING, None) for user_id in requester_ids],
        requester_ids=requester_ids,
        waiting_ids=requester_ids,
        confirmed_ids=[],
        captured_by_id=capture.captured_by_id,
        owner_id=capture.owner_id or capture.captured_by_id,
        risk=capture.risk,
        risk_note=capture.risk_note,
        due_at=capture.due_at,
        decided_at=None,
        decided_by_id=None,
        closed_by_id=None,
        closed_at=None,
        source_permalink=None,
        is_open=True,
    )


def record_view(record: Record) -> RecordView:
    closing = (
        next((e for e in reversed(record.events) if e.type in CLOSED_BY_SOMEONE), None)
        if record.status in CLOSED_BY_SOMEONE
        else None
    )
    previous = record.revisions[-2].text if len(record.revisions) > 1 else None
    return RecordView(
        team_id=record.team_id,
        number=record.number,
        kind=record.kind,
        status=record.status,
        revision=record.revision,
        text=record.text,
        diff=word_diff(previous, record.text) if previous is not None else None,
        requesters=[RequesterView(r.user_id, r.answer, r.org_name) for r in record.requesters],
        requester_ids=record.requester_ids,
        waiting_ids=[r.user_id for r in record.requesters if r.answer == Answer.PENDING],
        confirmed_ids=[r.user_id for r in record.requesters if r.answer == Answer.CONFIRMED],
        captured_by_id=record.captured_by_id,
        owner_id=record.owner_id,
        risk=record.risk,
        risk_note=record.risk_note,
        due_at=record.due_at,
        decided_at=record.decided_at,
        decided_by_id=record.decided_by_id,
        closed_by_id=closing.actor_id if closing else None,
        closed_at=closing.at if closing else None,
        source_permalink=record.source_permalink,
        is_open=record.status in (RecordStatus.PENDING, RecordStatus.CONFIRMED),
        revised_by_id=record.revisions[-1].author_id if len(record.revisions) > 1 else None,
    )


def word_diff(before: str, after: str) -> Mrkdwn:
    """The change as mrkdwn: removed text struck through, added text in bold."""
    old, new = _TOKENS.findall(before), _TOKENS.findall(after)
    # difflib's "autojunk" heuristic keeps this near-linear; without it, text that repeats a
    # short token takes time cubic in its length (an amendment must never stall a worker).
    pieces: list[str] = []
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, old, new).get_opcodes():
        removed = mrkdwn.escape("".join(old[a1:a2])).strip()
        added = mrkdwn.escape("".join(new[b1:b2])).strip()
        if op == "equal":
            pieces.append(mrkdwn.escape("".join(old[a1:a2])))
            continue
        if removed:
            pieces.append(f" ~{removed}~ ")
        if added:
            pieces.append(f" *{added}* ")
    return Mrkdwn(re.sub(r"\s{2,}", " ", "".join(pieces)).strip())
