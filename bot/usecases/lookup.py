"""Pulling up past records, in Slack and only for those entitled to see them.

A record is shown to the members of the channel it was captured in and to its requesters,
capturer and owner, never to another workspace (the installation's team scopes every query).
The channels a person is in come from users.conversations, kept for a few minutes per person;
a search asks Slack at most once before it answers (all pages of one call), and waits for it
`SLACK_WAIT` at most: then the channels Slack told within the hour do, or, when there are none,
nothing is shown on a guess and the person is asked to try again. `may_see` is the one rule,
for a person and for everyone in a channel (the digest posted there); searches and lists apply
it inside the query (`search.Viewer`), so ten results are the ten newest the person may see.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as WaitedTooLong
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import reading
from bot.errors import AccessUnchecked, SaysoError
from bot.models import Answer, Record, RecordStatus, Requester, Risk
from bot.records import lifecycle, search
from bot.records.digest import Digest
from bot.records.search import Query, Viewer
from bot.slack.gateway import DeliveryError, SlackGateway
from bot.slack.query import QueryError, parse_query
from bot.usecases import intake
from bot.usecases.cards import RecordView, record_view

CHANNELS_FRESH_FOR = timedelta(minutes=5)
# When Slack does not answer in time, a person's channels as Slack last told them still do.
CHANNELS_KEPT_FOR = timedelta(hours=1)
# Seconds a search waits for Slack to list the person's channels: the answer must reach
# Slack within its 3 seconds. The call goes on, and its answer is kept for the next search.
SLACK_WAIT = 1.5
SHOWN = 10
# Who is in which channels is asked of Slack on these threads, so that a request can stop
# waiting without stopping the call.
_ASKING_SLACK = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sayso-lookup")
# What users.conversations answers for someone it does not know (no channel of theirs).
NO_SUCH_PERSON = frozenset({"user_not_found"})
LISTS = ("open", "mine", "pending", "risky", "overdue")


class NotEntitled(SaysoError):
    """Said plainly, without a word of the record's text."""

    template = "not_entitled"


class BeingRecorded(SaysoError):
    """Told only to whoever captured it: to anyone else a number says nothing."""

    template = "being_recorded"


class BadQuery(SaysoError):
    template = "bad_query"


class Shown(Protocol):
    """What the rule reads of a record (a stored Record, or a digest's item)."""

    @property
    def channel_id(self) -> str: ...
    @property
    def requester_ids(self) -> Sequence[str]: ...
    @property
    def captured_by_id(self) -> str: ...
    @property
    def owner_id(self) -> str: ...


@dataclass(frozen=True)
class Audience:
    """Who will read what Sayso shows: one person, or everyone in a channel (a message
    posted there is read by its members, and by whoever joins it later)."""

    user_id: str | None = None
    channel_id: str | None = None


def may_see(
    audience: Audience, record: Shown, channels_of: Callable[[str], frozenset[str]]
) -> bool:
    """Whether the record may be shown to them: to its requesters, whoever captured it, its
    owner, and the members of the channel it was captured in (`search.may_see` says the same
    in SQL).

    A channel is none of the record's people, and its members are whoever is in it now or
    later: a record of another channel is sure to be theirs only when it is that channel's
    own. `channels_of` may raise AccessUnchecked: then nothing is shown on a guess."""
    if audience.channel_id is not None:
        return record.channel_id == audience.channel_id
    user_id = audience.user_id
    if user_id is None:
        return False  # nobody in particular: nothing
    if user_id in record.requester_ids or user_id in (record.captured_by_id, record.owner_id):
        return True
    return record.channel_id in channels_of(user_id)


@dataclass(frozen=True)
class Found:
    record: RecordView
    channel_id: str
    thread_permalink: str | None
    created_at: datetime


@dataclass(frozen=True)
class Detail:
    record: RecordView
    channel_id: str
    thread_permalink: str | None
    revisions: list[tuple[int, str]]
    events: list[tuple[str, str, datetime]]


@dataclass(frozen=True)
class _Channels:
    told_at: datetime
    ids: frozenset[str]


class Finder:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        gateway: SlackGateway,
        clock: Clock,
        team_id: str,
        slack_wait: float = SLACK_WAIT,
    ) -> None:
        self._session_factory = session_factory
        self._gateway = gateway
        self._clock = clock
        self._team_id = team_id
        self._slack_wait = slack_wait
        self._channels: dict[str, _Channels] = {}
        self._asking: dict[str, Future[frozenset[str]]] = {}
        # Channels people left while Slack was being asked theirs: its answer may predate it.
        self._left: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def show(self, user_id: str, number: int) -> Detail:
        with reading(self._session_factory) as session:
            record = self._stored_or_accepted(session, user_id, number)
            # The same answer whether the record is missing or hidden: guessing numbers
            # must not tell which exist.
            if not self._may_see(record, user_id):
                raise NotEntitled("not entitled", number=number)
            return Detail(
                record=record_view(record),
                channel_id=record.channel_id,
                thread_permalink=record.thread_permalink,
                revisions=[(v.number, v.text) for v in record.revisions[:-1]],
                events=[(e.type, e.actor_id, e.at) for e in record.events[-6:]],
            )

    def _stored_or_accepted(self, session: Session, user_id: str, number: int) -> Record:
        """The record; or, if #number was acked but is not stored yet, BeingRecorded for
        whoever captured it."""
        try:
            return lifecycle.get(session, self._team_id, number)
        except SaysoError:
            accepted = intake.accepted_capture(session, self._team_id, number)
        if accepted is None:
            try:  # stored between the two looks (PostgreSQL reads each statement afresh)
                return lifecycle.get(session, self._team_id, number)
            except SaysoError:
                raise NotEntitled("no such record", number=number) from None
        if accepted.captured_by_id == user_id:
            raise BeingRecorded("acked, not stored yet", number=number)
        raise NotEntitled("no such record", number=number)

    def search(self, user_id: str, line: str) -> list[Found]:
        try:
            query = parse_query(line)
        except QueryError as error:
            raise BadQuery(str(error), problem=str(error)) from None
        return self._newest(user_id, query)

    def listing(self, user_id: str, which: str) -> list[Found]:
        now = self._clock.now()
        open_statuses = (RecordStatus.PENDING, RecordStatus.CONFIRMED)
        chosen: list[ColumnElement[bool]]
        if which == "mine":
            chosen = [
                Record.status.in_(open_statuses),
                or_(Record.owner_id == user_id, Record.captured_by_id == user_id),
            ]
        elif which == "pending":
            chosen = [Record.status == RecordStatus.PENDING]
        elif which == "risky":
            chosen = [Record.status.in_(open_statuses), Record.risk.in_((Risk.MEDIUM, Risk.HIGH))]
        elif which == "overdue":
            chosen = [Record.status.in_(open_statuses), Record.due_at < now]
        else:
            chosen = [Record.status.in_(open_statuses)]
        return self._newest(user_id, Query(), chosen)

    def _newest(
        self, user_id: str, query: Query, also: Sequence[ColumnElement[bool]] = ()
    ) -> list[Found]:
        viewer = Viewer(user_id, self._channels_of(user_id))
        with reading(self._session_factory) as session:
            found = search.newest(session, self._team_id, query, viewer, SHOWN, also)
            return [self._found(record) for record in found]

    def home(self, user_id: str) -> dict[str, list[Found]]:
        """The App Home tab: what waits for this person, what they carry, what is new. Each
        record once, in the first of these sections it belongs to (a record someone captured
        and carries is theirs to carry out, not also "asked" and "recent")."""
        open_statuses = (RecordStatus.PENDING, RecordStatus.CONFIRMED)
        mine = select(Record).where(Record.team_id == self._team_id)
        shown: list[int] = []
        with reading(self._session_factory) as session:

            def found(query: Select[Any], limit: int = SHOWN) -> list[Found]:
                if shown:
                    query = query.where(Record.id.not_in(shown))
                rows = list(
                    session.execute(query.order_by(Record.id.desc()).limit(limit)).scalars()
                )
                shown.extend(r.id for r in rows)
                return [self._found(r) for r in rows]

            to_confirm = found(
                mine.where(
                    Record.status == RecordStatus.PENDING,
                    Record.requesters.any(
                        (Requester.user_id == user_id) & (Requester.answer == Answer.PENDING)
                    ),
                )
            )
            owned = found(mine.where(Record.status.in_(open_statuses), Record.owner_id == user_id))
            awaiting = found(
                mine.where(Record.status == RecordStatus.PENDING, Record.captured_by_id == user_id)
            )
        recent = self._newest(user_id, Query(), [Record.id.not_in(shown)] if shown else ())
        return {"to_confirm": to_confirm, "owned": owned, "awaiting": awaiting, "recent": recent}

    def _found(self, record: Record) -> Found:
        return Found(
            record_view(record), record.channel_id, record.thread_permalink, record.created_at
        )

    def _may_see(self, record: Record, user_id: str) -> bool:
        return may_see(Audience(user_id=user_id), record, self._channels_of)

    def may_see(self, audience: Audience, record: Shown) -> bool:
        """The rule, with the person's channels as Slack says (AccessUnchecked if it cannot)."""
        return may_see(audience, record, self._channels_of)

    def shown_digest(self, built: Digest, audience: Audience) -> Digest:
        """A digest as its readers may see it: the records they may not, only counted."""
        return built.shown_to(lambda item: self.may_see(audience, item))

    def _channels_of(self, user_id: str) -> frozenset[str]:
        """The channels `user_id` is in, as Slack said within CHANNELS_FRESH_FOR; asked
        again after that, waiting `slack_wait` at most for the answer."""
        now = self._clock.now()
        with self._lock:
            known = self._channels.get(user_id)
            if known is not None and now - known.told_at < CHANNELS_FRESH_FOR:
                return known.ids
            asking = self._asking.get(user_id)
            if asking is None:
                asking = _ASKING_SLACK.submit(self._ask_slack, user_id)
                self._asking[user_id] = asking
        try:
            return asking.result(timeout=self._slack_wait)
        except (WaitedTooLong, AccessUnchecked) as error:
            if known is not None and now - known.told_at < CHANNELS_KEPT_FOR:
                return known.ids
            if isinstance(error, AccessUnchecked):
                raise
            raise AccessUnchecked("slack is slow", what="channel") from None

    def left(self, user_id: str, channel_id: str) -> None:
        """Slack says `user_id` left `channel_id`, or was removed from it
        (member_left_channel): it is no longer theirs, whatever Slack listed before."""
        with self._lock:
            known = self._channels.get(user_id)
            if known is not None:
                self._channels[user_id] = _Channels(known.told_at, known.ids - {channel_id})
            if user_id in self._asking:
                self._left.setdefault(user_id, set()).add(channel_id)

    def _ask_slack(self, user_id: str) -> frozenset[str]:
        try:
            try:
                channels = frozenset(self._gateway.user_channels(user_id))
            except DeliveryError as error:
                if error.reason not in NO_SUCH_PERSON:
                    # Slack is down or busy, or refuses (a scope not granted, a token gone):
                    # not known, so not remembered either, and said rather than taken for
                    # "in no channel".
                    raise AccessUnchecked(error.reason, what="channel") from error
                channels = frozenset()  # a person Slack does not know: no channel of theirs
            with self._lock:
                channels -= self._left.pop(user_id, set())
                self._channels[user_id] = _Channels(self._clock.now(), channels)
            return channels
        finally:
            with self._lock:
                self._asking.pop(user_id, None)
                self._left.pop(user_id, None)
