"""Finding records by a `Query`: words and filters.

Words match anywhere inside the text (Chinese has no spaces between words), all of them
must match; results come newest first. Words of three characters or more use the trigram
index (FTS5 on SQLite, pg_trgm on PostgreSQL); shorter ones fall back to LIKE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select, text
from sqlalchemy.orm import Session, selectinload

from bot.ledger import hashchain
from bot.models import Record, Requester


@dataclass
class Query:
    words: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    risks: list[str] = field(default_factory=list)
    requester_id: str | None = None
    owner_id: str | None = None
    channel_id: str | None = None
    before: datetime | None = None
    after: datetime | None = None


def statement(session: Session, team_id: str, query: Query, limit: int) -> Select[Any]:
    found = select(Record).where(Record.team_id == team_id)
    for word in query.words:
        found = found.where(_contains(session, word))
    if query.statuses:
        found = found.where(Record.status.in_(query.statuses))
    if query.risks:
        found = found.where(Record.risk.in_(query.risks))
    if query.requester_id:
        found = found.where(Record.requesters.any(Requester.user_id == query.requester_id))
    if query.owner_id:
        found = found.where(Record.owner_id == query.owner_id)
    if query.channel_id:
        found = found.where(Record.channel_id == query.channel_id)
    if query.before:
        found = found.where(Record.created_at < query.before)
    if query.after:
        found = found.where(Record.created_at >= query.after)
    return found.order_by(Record.created_at.desc(), Record.id.desc()).limit(limit)


def find(
    session: Session, query: Query, team_id: str | None, *, newest_first: bool
) -> list[Record]:
    """The records that match, of `team_id` or of every workspace, by when they were captured
    (at most 100,000 of each workspace)."""
    teams = [team_id] if team_id else hashchain.team_ids(session)
    found = [
        record
        for team in teams
        for record in session.execute(
            statement(session, team, query, limit=100_000).options(
                selectinload(Record.events)  # as_dict writes each history out
            )
        ).scalars()
    ]
    found.sort(key=lambda r: (r.created_at, r.id), reverse=newest_first)
    return found


def _contains(session: Session, word: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "sqlite" and len(word) >= 3:
        # The trigram index finds the word anywhere inside the text, ignoring case.
        phrase = '"' + word.replace('"', '""') + '"'
        indexed = (
            select(text("rowid"))
            .select_from(text("records_fts"))
            .where(text("records_fts MATCH :phrase").bindparams(phrase=phrase))
        )
        return Record.id.in_(indexed.scalar_subquery())
    # PostgreSQL's pg_trgm index serves this ILIKE; short words are scanned for.
    return Record.text.ilike("%" + _escape_like(word) + "%", escape="\\")


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
