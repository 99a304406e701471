"""What a search should have found, by brute force, to compare with what it returned.

A person may see a record when they are a member of its channel, one of its requesters, its
capturer or its owner. Words match as case-insensitive substrings of the text, all of them;
the filters are those of `bot.records.search.statement`. The answer is the ten newest
records that match and that the person may see, newest first.

One SQL pass per set of words fetches the candidates, newest first, with their requesters
(LIKE narrows them; Python checks each word again); the filters and the access rule run in
Python. Searches with the same words share the pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from bot.models import Record, Requester
from bot.records.search import Query

from . import TEAM
from .classes import SHOWN
from .people import Population


@dataclass(frozen=True)
class Candidate:
    id: int
    channel_id: str
    captured_by_id: str
    owner_id: str
    status: str
    risk: str
    created_at: datetime
    requester_ids: frozenset[str]


@dataclass
class Tally:
    checked: int = 0
    fewer: int = 0  # returned fewer records than brute force found
    differed: int = 0  # returned anything else than brute force found, order included
    fewer_few_channels: int = 0  # of `fewer`, searches by people in at most 3 channels
    examples: list[str] = field(default_factory=list)


class BruteForce:
    def __init__(self, connection: Connection, population: Population) -> None:
        self._connection = connection
        self._members = {channel: set(people) for channel, people in population.members.items()}
        self._candidates: dict[tuple[tuple[str, ...], str | None], list[Candidate]] = {}

    def newest_visible(self, person: str, query: Query) -> list[int]:
        shown: list[int] = []
        for candidate in self._matching_words(query):
            if _passes(candidate, query) and self._may_see(person, candidate):
                shown.append(candidate.id)
                if len(shown) == SHOWN:
                    break
        return shown

    def _may_see(self, person: str, candidate: Candidate) -> bool:
        return (
            person in candidate.requester_ids
            or person in (candidate.captured_by_id, candidate.owner_id)
            or person in self._members.get(candidate.channel_id, ())
        )

    def _matching_words(self, query: Query) -> list[Candidate]:
        words = tuple(word.lower() for word in query.words)
        # Without words, the channel narrows the pass instead (or nothing does).
        channel = None if words else query.channel_id
        key = (words, channel)
        if key not in self._candidates:
            self._candidates[key] = self._fetch(words, channel)
        return self._candidates[key]

    def _fetch(self, words: tuple[str, ...], channel: str | None) -> list[Candidate]:
        found = (
            select(
                Record.id,
                Record.channel_id,
                Record.captured_by_id,
                Record.owner_id,
                Record.status,
                Record.risk,
                Record.created_at,
                Record.text,
                Requester.user_id,
            )
            .outerjoin(Requester, Requester.record_id == Record.id)
            .where(Record.team_id == TEAM)
            .order_by(Record.id.desc())
        )
        for word in words:
            found = found.where(Record.text.icontains(word, autoescape=True))
        if channel is not None:
            found = found.where(Record.channel_id == channel)
        candidates: list[Candidate] = []
        current: Row[*tuple[Any, ...]] | None = None
        requesters: set[str] = set()
        # Ordered by id, a record's requesters come together.
        for row in self._connection.execute(found):
            if current is None or row.id != current.id:
                _keep(candidates, current, requesters, words)
                current, requesters = row, set()
            if row.user_id is not None:
                requesters.add(row.user_id)
        _keep(candidates, current, requesters, words)
        self._connection.rollback()
        return candidates


def _keep(
    candidates: list[Candidate],
    row: Row[*tuple[Any, ...]] | None,
    requesters: set[str],
    words: tuple[str, ...],
) -> None:
    if row is None:
        return
    lowered = row.text.lower()
    if all(word in lowered for word in words):
        candidates.append(
            Candidate(
                row.id,
                row.channel_id,
                row.captured_by_id,
                row.owner_id,
                row.status,
                row.risk,
                row.created_at,
                frozenset(requesters),
            )
        )


def _passes(candidate: Candidate, query: Query) -> bool:
    return (
        (not query.statuses or candidate.status in query.statuses)
        and (not query.risks or candidate.risk in query.risks)
        and (not query.requester_id or query.requester_id in candidate.requester_ids)
        and (not query.owner_id or candidate.owner_id == query.owner_id)
        and (not query.channel_id or candidate.channel_id == query.channel_id)
        and (not query.before or candidate.created_at < query.before)
        and (not query.after or candidate.created_at >= query.after)
    )
