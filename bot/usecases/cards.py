"""What the record's messages show: a view of a record for the templates, computed once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.models import Answer, Record, RecordStatus
from bot.records.changes import Piece, word_changes
from bot.records.lifecycle import Capture

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
    # What changed since the previous revision (`records.changes.word_changes`).
    diff: list[Piece] | None
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
    # The source message's own rich_text blocks, shown while the text is still the one
    # captured from it (revision 1); None for a command, a form, or after an amendment.
    source_blocks: list[dict[str, Any]] | None = None


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
        source_blocks=capture.source_blocks,
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
        diff=word_changes(previous, record.text) if previous is not None else None,
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
        source_blocks=record.source_blocks if record.revision == 1 else None,
    )
