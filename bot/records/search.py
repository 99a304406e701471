"""Finding records by a `Query`: words and filters, newest first, as one person may see them.

Words match inside the text (Chinese has no spaces between words), ignoring case; all of them
must match. A word of three characters or more is looked up in a trigram index (FTS5's trigram
tokenizer on SQLite, pg_trgm on PostgreSQL) and found anywhere in the text. Shorter words have
no trigram: a Chinese word of one or two characters is looked up among the text's CJK
characters and pairs of characters, and a word of one or two letters or digits finds the words
that start with it (`30` finds "30s", `ui` finds "UI" but not "build"); both are kept in
`records.search_terms` (`bot.models.search_terms`), indexed as tokens.

The ten results are the ten newest matches the viewer may see, never fewer when more exist:
the access rule (`Viewer`) is part of the query, not a filter applied to its results. What is
cheap to walk newest first differs by database:

- SQLite: the newest records, a window of ids, their words checked here; then FTS5, which
  lists a word's matches newest first by itself, a growing batch at a time.
- PostgreSQL checks the words itself (`_checked`). Its GIN indexes list every match before
  the newest can be picked, so the first window of the newest records tells how common the
  words are: a rare word's matches are listed by the GIN indexes (`_listed_by_gin`); a common
  word's are walked newest first, channel by channel for a person in few channels
  (`_walked_by_source`), otherwise in windows of the newest records, up to `PROBED`.
- A filter on a person or a channel (`from:`, `owner:`, `in:`) walks that one's records by
  its own index, on either database; with no words and no such filter, a person in few
  channels has their records walked channel by channel too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, selectinload

from bot.ledger import hashchain
from bot.models import TRIGRAM, Record, Requester, is_cjk, search_terms

# Records read newest first, their words checked one by one, before the text index is asked:
# on SQLite the index lists its matches newest first itself, so one window is enough to find
# a common word's; on PostgreSQL, whose GIN index lists every match before the newest can be
# picked, windows four times larger each, up to PROBED records.
WINDOW = 2_000
PROBED = 42_000
# A viewer in this many channels or fewer sees few of the newest records: a common word's
# matches they may see are found faster channel by channel (`_walked_by_source`).
FEW_CHANNELS = 20
# Matches PostgreSQL's GIN index lists (then sorts) quickly enough; a word more common than
# that is looked for in more windows first.
INDEX_LISTS_FAST = 5_000
# The most candidates read from an index in one statement, after the windows.
MAX_BATCH = 2_000


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


@dataclass(frozen=True)
class Viewer:
    """Who is looking: they may see the records of the channels they are in, and those they
    captured, own or were asked to confirm."""

    user_id: str
    channel_ids: frozenset[str]


_RUNS = re.compile(r"\w+")


# --- what is indexed ---------------------------------------------------------------------


def indexed_columns(written: str) -> dict[str, Any]:
    """What a record row stores about its text for searching: set wherever text is written."""
    return {"search_terms": search_terms(written)}


def folded(written: str) -> str:
    """`written` lowercased the way both databases compare it: PostgreSQL's lower() and FTS5
    lower one character at a time, so a sigma is a sigma wherever it stands (Python writes
    ς at the end of a word) and a dotted capital I is an i (Python adds a combining dot)."""
    return written.lower().replace("\u03c2", "\u03c3").replace("i\u0307", "i")


@dataclass(frozen=True)
class _Words:
    """A query's words, split by the index that finds them."""

    long: tuple[str, ...]  # folded, three characters or more: checked in the text
    short: tuple[str, ...]  # terms of search_terms
    # The long words as typed: what the trigram indexes are asked for, which fold case
    # themselves (FTS5 leaves a dotted capital I as it is, and finds it so).
    typed: tuple[str, ...] = ()

    @classmethod
    def of(cls, words: Iterable[str]) -> _Words:
        long, short, typed = [], [], []
        for as_typed in words:
            word = as_typed.lower()
            if len(word) >= TRIGRAM:
                long.append(folded(word))
                typed.append(as_typed)
            elif all(is_cjk(c) for c in word):
                short.append(word)  # itself a term: a CJK character or pair
            else:
                short.extend(search_terms(word).split() or [word])
        return cls(
            tuple(dict.fromkeys(long)), tuple(dict.fromkeys(short)), tuple(dict.fromkeys(typed))
        )

    @property
    def pieces(self) -> tuple[str, ...]:
        """What the trigram index is asked for each long word: its most telling run of three
        letters or digits or more (one with digits, else the longest). A trigram index must
        read each trigram's whole list, and the common trigrams of `edge-7555` ("edg", "dge")
        took 17 ms where "7555" takes 0.3; the caller checks the whole word."""
        chosen = []
        for word in self.typed:
            runs = [run for run in _RUNS.findall(word) if len(run) >= TRIGRAM]
            runs.sort(key=lambda run: (not any(c.isdigit() for c in run), -len(run)))
            chosen.append(runs[0] if runs else word)
        return tuple(dict.fromkeys(chosen))

    def found_in(self, written: str, terms: str) -> bool:
        lowered = folded(written)
        if not all(w in lowered for w in self.long):
            return False
        return not self.short or set(self.short) <= set(terms.split())


# --- the query -----------------------------------------------------------------------------


def may_see(viewer: Viewer) -> ColumnElement[bool]:
    """The access rule, in SQL (the same as `lookup.may_see`)."""
    return or_(
        Record.channel_id.in_(sorted(viewer.channel_ids)) if viewer.channel_ids else false(),
        Record.captured_by_id == viewer.user_id,
        Record.owner_id == viewer.user_id,
        _asked(viewer.user_id),
    )


def _asked(user_id: str) -> ColumnElement[bool]:
    """The records `user_id` is a requester of."""
    return Record.id.in_(select(Requester.record_id).where(Requester.user_id == user_id))


def _filtered(
    team_id: str, query: Query, viewer: Viewer | None, also: Sequence[ColumnElement[bool]]
) -> list[ColumnElement[bool]]:
    conditions = [Record.team_id == team_id, *also]
    if query.statuses:
        conditions.append(Record.status.in_(query.statuses))
    if query.risks:
        conditions.append(Record.risk.in_(query.risks))
    if query.requester_id:
        conditions.append(
            Record.id.in_(
                select(Requester.record_id).where(Requester.user_id == query.requester_id)
            )
        )
    if query.owner_id:
        conditions.append(Record.owner_id == query.owner_id)
    if query.channel_id:
        conditions.append(Record.channel_id == query.channel_id)
    if query.before:
        conditions.append(Record.created_at < query.before)
    if query.after:
        conditions.append(Record.created_at >= query.after)
    if viewer is not None:
        conditions.append(may_see(viewer))
    return conditions


def newest(
    session: Session,
    team_id: str,
    query: Query,
    viewer: Viewer | None,
    limit: int,
    also: Sequence[ColumnElement[bool]] = (),
) -> list[Record]:
    """The `limit` newest records of `team_id` that match (and pass `also`) and that `viewer`
    may see (every one, for None), newest first."""
    span = _Span.of(session, team_id, query)
    also = [*also, *span.conditions]
    # The filters, and the access rule apart: a walk of the viewer's own channels and records
    # (`_walked_by_source`) needs no rule, and planning it once per channel took 6 ms.
    filters = _filtered(team_id, query, None, also)
    conditions = [*filters, may_see(viewer)] if viewer is not None else filters
    selective = bool(query.requester_id or query.owner_id or query.channel_id)
    if not query.words:
        if viewer is not None and not selective and len(viewer.channel_ids) <= FEW_CHANNELS:
            # Walking every record newest first would pass over those of the many channels
            # the viewer is not in (every record, for someone in none).
            return _loaded(session, _walked_by_source(session, team_id, viewer, filters, limit))
        ids = session.execute(
            select(Record.id).where(*conditions).order_by(Record.id.desc()).limit(limit)
        )
        return _loaded(session, list(ids.scalars()))
    words = _Words.of(query.words)
    if session.get_bind().dialect.name == "sqlite":
        # Someone in no channel may see only their own records: few, walked by their indexes,
        # where FTS5 would list every match of a common word to find none of theirs.
        own = viewer is not None and not viewer.channel_ids
        found = _newest_sqlite(session, span, selective or own, words, conditions, limit)
    else:
        found = _newest_postgres(
            session, span, query.requester_id, selective, viewer, words, filters, limit
        )
    return _loaded(session, found[:limit])


def _newest_sqlite(
    session: Session,
    span: _Span,
    selective: bool,
    words: _Words,
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> list[int]:
    """The newest window of records, their words checked here; then the older matches from
    the text index (FTS5 lists them newest first, lazily), a growing batch at a time."""
    below = span.newest(session) + 1
    floor = max(below - WINDOW, span.low + 1)
    rows = session.execute(
        select(Record.id, Record.text, Record.search_terms)
        .where(*conditions, Record.id >= floor, Record.id < below)
        .order_by(Record.id.desc())
    ).all()
    found = [row.id for row in rows if words.found_in(row.text, row.search_terms)]
    below = floor
    # As many as are missing at first (each candidate is read, and checked for the access
    # rule, one by one), more when the whole words turned some down.
    batch = limit - len(found)
    while len(found) < limit and below > span.low + 1:
        older = [*conditions, Record.id < below]
        if selective:  # a person's or a channel's records: few, walked by their index
            rows = session.execute(
                select(Record.id, Record.text, Record.search_terms)
                .where(*older)
                .order_by(Record.id.desc())
                .limit(batch)
            ).all()
        else:
            indexed = _indexed(words, older, span.low, below)
            rows = session.execute(indexed.limit(batch)).all()
        found += [row.id for row in rows if words.found_in(row.text, row.search_terms)]
        if len(rows) < batch:
            break
        below, batch = rows[-1].id, min(batch * 4, MAX_BATCH)
    return found


def _newest_postgres(
    session: Session,
    span: _Span,
    requester_id: str | None,
    selective: bool,
    viewer: Viewer | None,
    words: _Words,
    filters: list[ColumnElement[bool]],
    limit: int,
) -> list[int]:
    """PostgreSQL checks the words itself, row by row (`_checked`), in the newest records
    first. Its GIN indexes list every match of a word before the newest can be picked, so
    they are asked only for a word the first window shows to be rare; a common word's older
    matches are found by walking, newest first, the records the viewer may see (when they are
    in few channels) or the newest records a window at a time."""
    checked = _checked(words)
    conditions = [*filters, may_see(viewer)] if viewer is not None else filters
    if requester_id:
        return _walked_by_requester(session, requester_id, span, [*conditions, *checked], limit)
    if selective:
        # A person's or a channel's records: walked newest first by their own index.
        walked = select(Record.id).where(*conditions, *checked).order_by(Record.id.desc())
        return list(session.execute(walked.limit(limit)).scalars())
    newest_id = span.newest(session)
    below = newest_id + 1
    floor = max(below - WINDOW, span.low + 1)
    # The first window: every match, whether the viewer may see it or not, tells how common
    # the words are.
    rows = session.execute(
        select(Record.id, and_(*conditions).label("passes"))
        .where(Record.team_id == span.team_id, Record.id >= floor, Record.id < below, *checked)
        .order_by(Record.id.desc())
    ).all()
    found = [row.id for row in rows if row.passes]
    common = len(rows) * newest_id > INDEX_LISTS_FAST * (below - floor)
    below = floor
    if len(found) >= limit or below <= span.low + 1:
        return found
    older = [*conditions, *checked, Record.id < below]
    if not common:
        return found + _listed_by_gin(session, span.team_id, words, older, limit - len(found))
    if viewer is not None and len(viewer.channel_ids) <= FEW_CHANNELS:
        mine = [*filters, *checked, Record.id < below]
        return found + _walked_by_source(session, span.team_id, viewer, mine, limit - len(found))
    budget, window = PROBED - WINDOW, WINDOW * 4
    while budget > 0 and below > span.low + 1 and len(found) < limit:
        floor = max(below - window, span.low + 1)
        found += session.execute(
            select(Record.id)
            .where(*older, Record.id >= floor, Record.id < below)
            .order_by(Record.id.desc())
            .limit(limit - len(found))
        ).scalars()
        budget, below, window = budget - window, floor, window * 4
        older = [*conditions, *checked, Record.id < below]
    if len(found) >= limit or below <= span.low + 1:
        return found
    return found + _listed_by_gin(session, span.team_id, words, older, limit - len(found))


def _walked_by_requester(
    session: Session,
    user_id: str,
    span: _Span,
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> list[int]:
    """The newest `limit` records that pass `conditions` among those `user_id` was asked to
    confirm: their ids listed newest first by ix_requesters_user, a growing batch at a time,
    each batch's records checked by their primary key. (Asked in one statement, PostgreSQL's
    planner at times walked every record newest first to merge the two lists: 0.6 s.)"""
    found: list[int] = []
    # A tenth of the person's records or fewer may pass: the first batch is ten times the limit.
    below, batch = span.high, min(limit * 10, MAX_BATCH)
    while len(found) < limit:
        listed = select(Requester.record_id).where(
            Requester.user_id == user_id, Requester.record_id > span.low
        )
        if below is not None:
            listed = listed.where(Requester.record_id < below)
        ids = list(
            session.execute(listed.order_by(Requester.record_id.desc()).limit(batch)).scalars()
        )
        if not ids:
            break
        found += session.execute(
            select(Record.id)
            .where(Record.id.in_(ids), *conditions)
            .order_by(Record.id.desc())
            .limit(limit - len(found))
        ).scalars()
        if len(ids) < batch:
            break
        below, batch = ids[-1], min(batch * 4, MAX_BATCH)
    return found


def _listed_by_gin(
    session: Session,
    team_id: str,
    words: _Words,
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> list[int]:
    """The newest `limit` records that pass `conditions` among those the GIN indexes list for
    `words` (materialized, so that the planner does not walk the primary key instead, hoping
    to meet the matches soon)."""
    candidates = (
        select(Record.id)
        .where(Record.team_id == team_id, *postgres_words(words.pieces, words.short))
        .cte("candidates")
        .prefix_with("MATERIALIZED")
    )
    found = (
        select(Record.id)
        .join(candidates, candidates.c.id == Record.id)
        .where(*conditions)
        .order_by(Record.id.desc())
        .limit(limit)
    )
    return list(session.execute(found).scalars())


def _walked_by_source(
    session: Session,
    team_id: str,
    viewer: Viewer,
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> list[int]:
    """The newest `limit` records that pass `conditions` (the filters, not the access rule:
    each place walked is one the viewer may see), from each place the viewer may see records
    of, walked newest first by its own index and stopped at `limit`: each of their channels,
    and the records they captured, own or were asked to confirm."""
    sources = [Record.channel_id == channel for channel in sorted(viewer.channel_ids)]
    sources += [
        Record.captured_by_id == viewer.user_id,
        Record.owner_id == viewer.user_id,
        _asked(viewer.user_id),
    ]
    walks = [
        select(Record.id)
        .where(Record.team_id == team_id, source, *conditions)
        .order_by(Record.id.desc())
        .limit(limit)
        .subquery()
        for source in sources
    ]
    merged = union_all(*(select(walk.c.id) for walk in walks)).subquery()
    newest_first = select(merged.c.id).distinct().order_by(merged.c.id.desc()).limit(limit)
    return list(session.execute(newest_first).scalars())


# Ids follow capture times: a record is inserted in the transaction that captures it, so its
# id and its created_at are in the same order, give or take the moments between a capture's
# clock and its insert: far less than this.
DATES_SETTLE = timedelta(days=1)


@dataclass(frozen=True)
class _Span:
    """The ids a search walks: above `low`, below `high` (None: up to the newest), bounds
    that `before:` and `after:` set besides their dates' own conditions, so that a search in
    March does not walk every record since."""

    team_id: str
    low: int = 0
    high: int | None = None

    @classmethod
    def of(cls, session: Session, team_id: str, query: Query) -> _Span:
        """The first record captured DATES_SETTLE after `before` bounds every record captured
        before it; the last one captured DATES_SETTLE before `after`, every one after it. Of
        any workspace: ids are given in one sequence."""
        high = low = None
        if query.before:
            later = select(Record.id).where(Record.created_at >= query.before + DATES_SETTLE)
            high = session.execute(later.order_by(Record.created_at).limit(1)).scalar()
        if query.after:
            earlier = select(Record.id).where(Record.created_at < query.after - DATES_SETTLE)
            low = session.execute(earlier.order_by(Record.created_at.desc()).limit(1)).scalar()
        return cls(team_id, low or 0, high)

    @property
    def conditions(self) -> list[ColumnElement[bool]]:
        bounds = [Record.id > self.low] if self.low else []
        return bounds + ([Record.id < self.high] if self.high is not None else [])

    def newest(self, session: Session) -> int:
        """The newest id within the span, or one above it: the walks start below it."""
        if self.high is not None:
            return self.high - 1
        # Of every workspace: the walks check the workspace, and SQLite's planner may read a
        # whole index for one workspace's newest id.
        return session.execute(select(func.max(Record.id))).scalar() or 0


def _checked(words: _Words) -> list[ColumnElement[bool]]:
    """The words' conditions on PostgreSQL, written so that no text index serves them: each
    row read is checked as it comes (the same tests as ILIKE and the terms' array)."""
    found: list[ColumnElement[bool]] = [
        func.strpos(func.replace(func.lower(Record.text), "\u03c2", "\u03c3"), word) > 0
        for word in words.long
    ]
    found += [func.strpos(" " + Record.search_terms + " ", f" {term} ") > 0 for term in words.short]
    return found


def _indexed(
    words: _Words, conditions: list[ColumnElement[bool]], low: int, below: int
) -> Select[int, str, str]:
    """Candidates for `words` among the ids above `low` and below `below`, newest first, from
    SQLite's text indexes: for each long word its most telling piece (`_Words.pieces`), whose
    matches the caller checks for the whole word."""
    found = select(Record.id, Record.text, Record.search_terms)
    return _through_indexes(found, "sqlite", words.pieces, words.short, conditions, (low, below))


def matching(
    session: Session,
    team_id: str,
    query: Query,
    viewer: Viewer | None,
    also: Sequence[ColumnElement[bool]] = (),
) -> Select[int]:
    """The ids of every match, newest first."""
    conditions = _filtered(team_id, query, viewer, also)
    if not query.words:
        return select(Record.id).where(*conditions).order_by(Record.id.desc())
    words = _Words.of(query.words)
    dialect = session.get_bind().dialect.name
    # FTS5 is asked for the words as typed (it does not fold a dotted capital I), PostgreSQL's
    # ILIKE for them folded as its lower() folds the text.
    long = words.typed if dialect == "sqlite" else words.long
    return _through_indexes(select(Record.id), dialect, long, words.short, conditions)


# What is selected: the ids, or the ids with what the words are checked in.
Selected = TypeVar("Selected", Select[int], Select[int, str, str])


def _through_indexes(
    found: Selected,
    dialect: str,
    long: Sequence[str],
    short: Sequence[str],
    conditions: list[ColumnElement[bool]],
    between: tuple[int, int | None] = (0, None),
) -> Selected:
    """`found`, restricted to the records the text indexes find for `long` and `short` words,
    newest first. FTS5 on SQLite lists its matches by rowid (= records.id), newest first when
    asked, from below the top of `between` down to its bottom (bounds given on its own rowid:
    SQLite does not carry those on records.id over to it): the database stops at the limit
    instead of sorting every match. PostgreSQL's GIN indexes list every match first."""
    if dialect != "sqlite":
        return found.where(*conditions, *postgres_words(long, short)).order_by(Record.id.desc())
    driver = None
    if long:
        found = found.join(_FTS, _FTS.c.rowid == Record.id).where(
            text("records_fts MATCH :long").bindparams(long=_phrases(long))
        )
        driver = _FTS.c.rowid
    if short:
        found = found.join(_TERMS_FTS, _TERMS_FTS.c.rowid == Record.id).where(
            text("records_terms MATCH :short").bindparams(short=_phrases(short))
        )
        driver = _TERMS_FTS.c.rowid if driver is None else driver
    assert driver is not None
    low, below = between
    bounds = ([driver > low] if low else []) + ([driver < below] if below is not None else [])
    return found.where(*conditions, *bounds).order_by(driver.desc())


def postgres_words(long: Sequence[str], short: Sequence[str]) -> list[ColumnElement[bool]]:
    """The words' conditions on PostgreSQL, each served by a GIN index: pg_trgm's for
    ILIKE, ix_records_search_terms for the terms (its expression written the same way)."""
    found: list[ColumnElement[bool]] = [
        Record.text.ilike("%" + _any_sigma(_escape_like(word)) + "%", escape="\\") for word in long
    ]
    if short:
        terms = func.string_to_array(
            Record.search_terms, literal_column("' '"), type_=postgresql.ARRAY(Text)
        )
        found.append(terms.contains(cast(postgresql.array(short), postgresql.ARRAY(Text))))
    return found


def _loaded(session: Session, ids: list[int]) -> list[Record]:
    if not ids:
        return []
    # The histories too, in one statement: a closed record's card names who closed it, and
    # reading them record by record cost a statement per result.
    loaded = select(Record).where(Record.id.in_(ids)).options(selectinload(Record.events))
    rows = {r.id: r for r in session.execute(loaded).scalars()}
    return [rows[i] for i in ids]


_FTS = table("records_fts", column("rowid"))
_TERMS_FTS = table("records_terms", column("rowid"))


def _phrases(words: Iterable[str]) -> str:
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


def _any_sigma(pattern: str) -> str:
    """A sigma of either form matches either: ILIKE lowers `ΟΔΟΣ` to "οδοσ", a word typed
    lowercase keeps its "ς" (the words are checked exactly afterwards, `folded`)."""
    return re.sub("[\u03c2\u03c3]", "_", pattern)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- every workspace, for the command line --------------------------------------------------


def find(
    session: Session, query: Query, team_id: str | None, *, newest_first: bool
) -> list[Record]:
    """The records that match, of `team_id` or of every workspace, by when they were captured
    (at most 100,000 of each workspace)."""
    teams = [team_id] if team_id else hashchain.team_ids(session)
    found: list[Record] = []
    for team in teams:
        ids = matching(session, team, query, None).limit(100_000).subquery()
        found.extend(
            session.execute(
                select(Record)
                .join(ids, Record.id == ids.c.id)
                .options(selectinload(Record.events))  # as_dict writes each history out
            ).scalars()
        )
    found.sort(key=lambda r: (r.created_at, r.id), reverse=newest_first)
    return found
