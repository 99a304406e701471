"""Finding records: words and filters from one line, as people type them in Slack.

`网络参数 status:pending risk:high from:@wang owner:@li in:#edge before:2026-12-01 after:...`

Words match anywhere inside the text (Chinese has no spaces between words), all of them
must match; results come newest first. Words of three characters or more use the trigram
index (FTS5 on SQLite, pg_trgm on PostgreSQL); shorter ones fall back to LIKE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import ColumnElement, Select, select, text
from sqlalchemy.orm import Session, selectinload

from bot.ledger import hashchain
from bot.models import Record, RecordStatus, Requester, Risk
from bot.slack import mrkdwn

_FILTER = re.compile(r"^(status|risk|from|owner|in|before|after):(.+)$", re.IGNORECASE)
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
_CHANNEL = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$|^([CGD][A-Z0-9]{2,})$")


class QueryError(ValueError):
    """A filter that cannot be understood; the message names it."""


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


def parse_query(line: str) -> Query:
    """Slack sends mentions and channels escaped (`<@U1|wang>`, `<#C1|edge>`)."""
    query = Query()
    for token in line.split():
        match = _FILTER.match(token)
        if match is None:
            query.words.append(mrkdwn.to_plain(token))
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name == "status":
            if value not in set(RecordStatus):
                raise QueryError(f"status:{value} (one of {', '.join(RecordStatus)})")
            query.statuses.append(value)
        elif name == "risk":
            if value not in set(Risk):
                raise QueryError(f"risk:{value} (one of {', '.join(Risk)})")
            query.risks.append(value)
        elif name in ("from", "owner"):
            user = _USER.match(value)
            if user is None:
                raise QueryError(f"{name}:{value} (mention someone, like {name}:@wang)")
            setattr(
                query,
                "requester_id" if name == "from" else "owner_id",
                user.group(1) or user.group(2),
            )
        elif name == "in":
            channel = _CHANNEL.match(value)
            if channel is None:
                raise QueryError(f"in:{value} (name a channel, like in:#edge-upgrade)")
            query.channel_id = channel.group(1) or channel.group(2)
        else:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise QueryError(f"{name}:{value} (a date like 2026-12-01)") from None
            moment = datetime.combine(day, time(), tzinfo=UTC)
            setattr(query, name, moment)
    return query


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
