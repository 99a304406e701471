"""Use cases, one transaction each: change the records and queue what Slack must be told.

Slack calls that must happen before the ack (views.open needs a fresh trigger_id, users.info
for the typist's time zone) are made here before the transaction opens; everything else
Slack should see goes through the outbox and is delivered after the ack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import dates, outbox, phrases, records, slacktext
from bot.cards import RecordView, record_view
from bot.clock import Clock
from bot.db import unit_of_work
from bot.delivery import Kind
from bot.directory import Directory
from bot.errors import (
    AlreadyCaptured,
    DueDateUnreadable,
    MalformedPayload,
    ModalInvalid,
    NotAllowed,
    RecordNotFound,
    SaysoError,
)
from bot.i18n import translator
from bot.ids import ActionId, BlockId, CallbackId
from bot.models import (
    Answer,
    OutboxMessage,
    ProcessedEvent,
    Record,
    RecordStatus,
    Requester,
    Source,
    Watch,
)
from bot.records import MAX_REQUESTERS, Action, Capture
from bot.rendering import Renderer
from bot.slack import SlackGateway


@dataclass(frozen=True)
class Click:
    """Somebody pressed one of a record's buttons."""

    team_id: str
    channel_id: str
    user_id: str
    number: int
    revision: int
    action: ActionId
    thread_ts: str | None
    trigger_id: str | None = None


@dataclass(frozen=True)
class CommandCapture:
    capture: Capture
    due_phrase: str | None = None
    response_url: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """What the person who captured sees at once (rendered in their language)."""

    record: RecordView
    locale: str


FORGET_EVENTS_EVERY = 1000
_ANSWERS = {ActionId.CONFIRM: Answer.CONFIRMED, ActionId.REJECT: Answer.REJECTED}
_ACTIONS = {
    ActionId.WITHDRAW: Action.WITHDRAW,
    ActionId.DONE: Action.DONE,
    ActionId.CANCEL: Action.CANCEL,
    ActionId.REOPEN: Action.REOPEN,
}


class Sayso:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        directory: Directory,
        gateway: SlackGateway,
        renderer: Renderer,
        team_id: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        # The workspace this installation serves: every record it makes or shows is that
        # workspace's, whatever organization the person in a shared channel belongs to.
        self.team_id = team_id
        self._events_seen = 0
        self._session_factory = session_factory
        self._clock = clock
        self._directory = directory
        self._gateway = gateway
        self._renderer = renderer
        self._on_commit = on_commit

    # -- capture ---------------------------------------------------------------------------

    def locale_of(self, team_id: str, user_id: str) -> str:
        return self._directory.person(team_id, user_id, self._clock.now()).locale

    def capture_from_command(self, command: CommandCapture) -> Acknowledgement:
        capture = replace(command.capture, team_id=self.team_id)
        person = self._directory.person(capture.team_id, capture.captured_by_id, self._now())
        if command.due_phrase:
            try:
                due = dates.parse_due(command.due_phrase, person.tz, self._now())
            except dates.DueDateError as error:
                raise DueDateUnreadable(
                    "due date",
                    phrase=error.phrase,
                    reason=error.reason,
                    examples=", ".join(f"`{e}`" for e in dates.EXAMPLES),
                    when=self._now(),
                ) from error
            capture = replace(capture, due_at=due)
        record = self._capture(capture, command.response_url)
        return Acknowledgement(record_view(record), person.locale)

    def _capture(self, capture: Capture, response_url: str | None = None) -> Record:
        try:
            with unit_of_work(self._session_factory) as session:
                if capture.capture_key and (
                    again := records.by_capture_key(session, capture.team_id, capture.capture_key)
                ):
                    return again  # the same command or form, delivered twice
                record = records.capture(session, self._now(), capture)
                self._enqueue(session, record, Kind.POST_RECORD, response_url=response_url)
        except AlreadyCaptured:
            if not capture.capture_key:
                raise
            with unit_of_work(self._session_factory) as session:  # lost the race to a twin
                again = records.by_capture_key(session, capture.team_id, capture.capture_key)
                if again is None:
                    raise
                return again
        self._on_commit()
        return record

    def open_capture_modal(
        self,
        trigger_id: str,
        team_id: str,
        user_id: str,
        channel_id: str,
        source: dict[str, Any] | None = None,
    ) -> None:
        """The form behind `/confirm` alone and the message shortcut (pre-filled from it)."""
        source = source or {}
        metadata = {"channel": channel_id, **{k: v for k, v in source.items() if k != "text"}}
        view = self._renderer.render_view(
            "capture_modal",
            self.locale_of(team_id, user_id),
            callback_id=CallbackId.CAPTURE_MODAL.value,
            private_metadata=json.dumps(metadata),
            blocks=BlockId,
            author_id=source.get("author"),
            requester_ids=[source["author"]] if source.get("author") else [],
            text=source.get("text", ""),
            owner_id=user_id,
        )
        self._gateway.open_view(trigger_id, view)

    def submit_capture_form(
        self,
        capture: Capture,
        due_date: str | None,
        due_time: str | None,
        response_url: str | None = None,
    ) -> None:
        """The capture form, checked field by field; problems go back next to the fields."""
        capture = replace(capture, team_id=self.team_id)
        person = self._directory.person(capture.team_id, capture.captured_by_id, self._now())
        problems: dict[BlockId, tuple[str, dict[str, Any]]] = {}
        if not capture.requester_ids:
            problems[BlockId.REQUESTERS] = ("errors.pick_requester", {})
        elif len(capture.requester_ids) > MAX_REQUESTERS:
            problems[BlockId.REQUESTERS] = ("usage.too_many", {"limit": MAX_REQUESTERS})
        if not capture.text:
            problems[BlockId.TEXT] = ("errors.empty_text", {})
        due = None
        if due_time and not due_date:
            problems[BlockId.DUE_DATE] = ("errors.bad_due", {})
        elif due_date:
            due = dates.local_due(due_date, due_time, person.tz)
            if due <= self._now():
                problems[BlockId.DUE_DATE] = ("errors.due_in_past", {})
        if problems:
            t = translator(person.locale, str)
            raise ModalInvalid({block.value: t(key, **f) for block, (key, f) in problems.items()})
        self.capture_from_modal(replace(capture, due_at=due), response_url)

    def capture_from_modal(self, capture: Capture, response_url: str | None = None) -> None:
        try:
            record = self._capture(capture, response_url)
        except AlreadyCaptured as error:
            self._tell(capture.team_id, capture.channel_id, capture.captured_by_id, error)
            return
        if capture.source_ts:
            self._tell_captured(record)

    def capture_message_later(self, channel_id: str, ts: str, user_id: str, source: Source) -> None:
        """A reaction or a nudge's button: fetching the message waits until after the ack."""
        with unit_of_work(self._session_factory) as session:
            outbox.enqueue(
                session,
                self._now(),
                team_id=self.team_id,
                kind=Kind.CAPTURE_MESSAGE,
                payload={"channel": channel_id, "ts": ts, "user": user_id, "source": source.value},
            )
        self._on_commit()

    def capture_fetched_message(self, job: OutboxMessage) -> None:
        """Runs in the outbox: fetch the message, capture it with defaults."""
        payload = job.payload
        reactor = self._directory.person(job.team_id, payload["user"], self._now())
        if reactor.is_external:
            return  # :memo: from the client's side is their own note, not the team capturing
        message = self._gateway.message(payload["channel"], payload["ts"])
        if message is None or not message.get("user"):
            return  # deleted meanwhile, or a bot's message: nothing a client asked for
        capture = Capture(
            team_id=job.team_id,
            channel_id=payload["channel"],
            captured_by_id=payload["user"],
            requester_ids=(message["user"],),
            text=_plain(message.get("text", "")),
            source=Source(payload["source"]),
            source_ts=message["ts"],
            source_thread_ts=message.get("thread_ts"),
        )
        self.capture_from_modal(capture)

    def _tell_captured(self, record: Record) -> None:
        with unit_of_work(self._session_factory) as session:
            self._enqueue(
                session,
                record,
                Kind.EPHEMERAL,
                template="captured_from_message",
                channel=record.channel_id,
                user=record.captured_by_id,
                thread_ts=record.thread_ts,
                context={},
            )
        self._on_commit()

    # -- answers and actions ---------------------------------------------------------------

    def click(self, click: Click) -> None:
        """Any button on a record. Refusals reach the clicker privately; nothing changes."""
        try:
            if click.team_id != self.team_id:  # a card of another installation's workspace
                raise RecordNotFound(click.number)
            if click.action == ActionId.CHANGE:
                self._open_amend_modal(click)
                return
            with unit_of_work(self._session_factory) as session:
                record = records.get(session, click.team_id, click.number, for_update=True)
                now = self._now()
                if click.action in _ANSWERS:
                    records.answer(
                        session,
                        now,
                        record,
                        click.user_id,
                        click.revision,
                        _ANSWERS[click.action],
                        via="button",
                    )
                    self._announce_answer(
                        session, record, click.user_id, _ANSWERS[click.action], "button"
                    )
                else:
                    records.act(session, now, record, click.user_id, _ACTIONS[click.action])
                    self._enqueue(session, record, Kind.REFRESH_RECORD)
                    self._enqueue(
                        session,
                        record,
                        Kind.THREAD_REPLY,
                        template="event_reply",
                        context={"event": _EVENT_OF[click.action], "actor_id": click.user_id},
                    )
        except SaysoError as error:
            self._tell(click.team_id, click.channel_id, click.user_id, error, click.thread_ts)
            return
        self._on_commit()

    def _announce_answer(
        self, session: Session, record: Record, user_id: str, reply: Answer, via: str
    ) -> None:
        self._enqueue(session, record, Kind.REFRESH_RECORD)
        if record.status == RecordStatus.CONFIRMED:
            self._enqueue(session, record, Kind.SNAPSHOT_THREAD)
        self._enqueue(
            session,
            record,
            Kind.THREAD_REPLY,
            template="answer_reply",
            # The reply says how things stood right after this answer, not at delivery time:
            # two answers delivered late must not both announce "everyone has confirmed".
            context={
                "actor_id": user_id,
                "answer": reply.value,
                "via": via,
                "waiting_ids": [r.user_id for r in record.requesters if r.answer == Answer.PENDING],
            },
        )

    def _open_amend_modal(self, click: Click) -> None:
        # Look the person up first: on SQLite a transaction holds the write lock, and the
        # directory uses its own.
        locale = self.locale_of(click.team_id, click.user_id)
        with unit_of_work(self._session_factory) as session:
            record = records.get(session, click.team_id, click.number)
            if click.user_id not in (*record.requester_ids, record.captured_by_id, record.owner_id):
                raise NotAllowed("may not amend", reason="not_party", **_who(record))
            view = record_view(record)
        metadata = {
            "team": click.team_id,
            "number": click.number,
            "revision": click.revision,
            "channel": click.channel_id,
            "thread_ts": click.thread_ts,
        }
        modal = self._renderer.render_view(
            "amend_modal",
            locale,
            callback_id=CallbackId.AMEND_MODAL.value,
            private_metadata=json.dumps(metadata),
            blocks=BlockId,
            record=view,
        )
        assert click.trigger_id, "a block action always carries a trigger_id"
        self._gateway.open_view(click.trigger_id, modal)

    def amend(
        self,
        team_id: str,
        number: int,
        revision: int,
        user_id: str,
        text: str,
        channel_id: str,
        thread_ts: str | None,
    ) -> None:
        """The amend form: a problem with the wording goes back to the form; a refusal (the
        record moved on meanwhile) reaches the person privately in the thread."""
        t = translator(self.locale_of(team_id, user_id), str)
        if team_id != self.team_id:
            raise MalformedPayload("an amend form of another workspace")
        if not text:
            raise ModalInvalid({BlockId.TEXT.value: t("errors.empty_text")})
        try:
            with unit_of_work(self._session_factory) as session:
                record = records.get(session, team_id, number, for_update=True)
                if text == record.text:
                    raise ModalInvalid(
                        {BlockId.TEXT.value: t("errors.nothing_changed", revision=record.revision)}
                    )
                records.amend(session, self._now(), record, user_id, revision, text)
                self._enqueue(session, record, Kind.NEW_REVISION, previous_revision=revision)
                self._enqueue(
                    session,
                    record,
                    Kind.THREAD_REPLY,
                    template="event_reply",
                    context={"event": "amended", "actor_id": user_id},
                )
        except ModalInvalid:
            raise
        except SaysoError as error:
            self._tell(team_id, channel_id, user_id, error, thread_ts)
            return
        self._on_commit()

    # -- what people write in Slack --------------------------------------------------------

    def first_delivery(self, event_id: str) -> bool:
        """True the first time an Events API delivery is seen; Slack retries the same id."""
        try:
            with unit_of_work(self._session_factory) as session:
                session.add(ProcessedEvent(event_id=event_id, received_at=self._now()))
                self._events_seen += 1
                if self._events_seen % FORGET_EVENTS_EVERY == 0:
                    # Slack stops retrying after minutes; a day of event ids is plenty.
                    session.execute(
                        delete(ProcessedEvent).where(
                            ProcessedEvent.received_at < self._now() - timedelta(days=1)
                        )
                    )
        except IntegrityError:
            return False
        return True

    def on_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        ts: str,
        thread_ts: str | None,
    ) -> None:
        if thread_ts and thread_ts != ts and phrases.is_confirmation(text):
            self._confirm_by_reply(channel_id, user_id, ts, thread_ts)
        phrase = phrases.nudge_phrase(text)
        if phrase:
            self._nudge(self.team_id, channel_id, user_id, ts, thread_ts, phrase)

    def _confirm_by_reply(self, channel_id: str, user_id: str, ts: str, thread_ts: str) -> None:
        with unit_of_work(self._session_factory) as session:
            record = records.in_thread(session, channel_id, thread_ts)
            requester = record.requester(user_id) if record else None
            # Only a named requester's reply counts, and only while an answer is awaited;
            # other replies are conversation, not commands.
            if record is None or requester is None or requester.answer != Answer.PENDING:
                return
            if record.status != "pending":
                return
            records.answer(
                session,
                self._now(),
                record,
                user_id,
                record.revision,
                Answer.CONFIRMED,
                via="reply",
                evidence_ts=ts,
            )
            self._announce_answer(session, record, user_id, Answer.CONFIRMED, "reply")
            self._enqueue(session, record, Kind.EVIDENCE_LINK, ts=ts, user=user_id)
        self._on_commit()

    def _nudge(
        self,
        team_id: str,
        channel_id: str,
        author_id: str,
        ts: str,
        thread_ts: str | None,
        phrase: str,
    ) -> None:
        with unit_of_work(self._session_factory) as session:
            watched = session.execute(
                select(Watch.user_id)
                .where(Watch.team_id == team_id, Watch.channel_id == channel_id)
                .limit(1)
            ).first()
            if watched is None:
                return
            outbox.enqueue(
                session,
                self._now(),
                team_id=team_id,
                kind=Kind.NUDGE,
                payload={
                    "channel": channel_id,
                    "ts": ts,
                    "thread_ts": thread_ts,
                    "author": author_id,
                    "phrase": phrase,
                },
            )
        self._on_commit()

    def on_message_changed(
        self,
        channel_id: str,
        ts: str,
        old_text: str,
        new_text: str | None,
        editor_id: str,
    ) -> None:
        """Edits and deletions of a source message or a confirming reply go into history."""
        with unit_of_work(self._session_factory) as session:
            touched = _records_citing(session, self.team_id, channel_id, ts)
            for record, role in touched:
                change = f"{role}_{'deleted' if new_text is None else 'edited'}"
                records.note_message_change(
                    session,
                    self._now(),
                    record,
                    editor_id,
                    change,
                    {
                        "ts": ts,
                        "old_text": old_text,
                        "new_text": new_text,
                    },
                )
                self._enqueue(
                    session,
                    record,
                    Kind.THREAD_REPLY,
                    template="event_reply",
                    context={"event": change, "actor_id": editor_id},
                )
        if touched:
            self._on_commit()

    def watch(self, channel_id: str, user_id: str, on: bool) -> str:
        with unit_of_work(self._session_factory) as session:
            exists = session.get(Watch, (self.team_id, channel_id, user_id))
            if on and exists is None:
                session.add(
                    Watch(
                        team_id=self.team_id,
                        channel_id=channel_id,
                        user_id=user_id,
                        created_at=self._now(),
                    )
                )
            elif not on:
                session.execute(
                    delete(Watch).where(
                        Watch.team_id == self.team_id,
                        Watch.channel_id == channel_id,
                        Watch.user_id == user_id,
                    )
                )
        return self.locale_of(self.team_id, user_id)

    # -- helpers ---------------------------------------------------------------------------

    def _tell(
        self,
        team_id: str,
        channel_id: str,
        user_id: str,
        error: SaysoError,
        thread_ts: str | None = None,
    ) -> None:
        with unit_of_work(self._session_factory) as session:
            outbox.enqueue(
                session,
                self._now(),
                team_id=team_id,
                kind=Kind.EPHEMERAL,
                payload={
                    "template": error.template,
                    "channel": channel_id,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "context": _jsonable(error.context()),
                },
            )
        self._on_commit()

    def send_evidence(self, user_id: str, number: int) -> None:
        """The evidence file goes to the person by direct message, after the ack."""
        with unit_of_work(self._session_factory) as session:
            outbox.enqueue(
                session,
                self._now(),
                team_id=self.team_id,
                kind=Kind.SEND_EVIDENCE,
                payload={"user": user_id, "number": number},
            )
        self._on_commit()

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Modals must open within three seconds of the trigger: straight to Slack."""
        self._gateway.open_view(trigger_id, view)

    def open_home(self, user_id: str) -> None:
        with unit_of_work(self._session_factory) as session:
            self._publish_home(session, user_id)
        self._on_commit()

    def _publish_home(self, session: Session, user_id: str) -> None:
        outbox.enqueue(
            session,
            self._now(),
            team_id=self.team_id,
            kind=Kind.PUBLISH_HOME,
            payload={"user": user_id},
        )

    def _enqueue(self, session: Session, record: Record, kind: Kind, **payload: Any) -> None:
        outbox.enqueue(
            session,
            self._now(),
            team_id=record.team_id,
            kind=kind,
            payload=payload,
            record_id=record.id,
        )
        if kind in (Kind.POST_RECORD, Kind.REFRESH_RECORD, Kind.NEW_REVISION):
            # Everyone the record concerns sees it move on their App Home.
            people = {record.owner_id, record.captured_by_id, *record.requester_ids}
            for user_id in sorted(people):
                self._publish_home(session, user_id)

    def _now(self):  # type: ignore[no-untyped-def]
        return self._clock.now()


_EVENT_OF = {
    ActionId.WITHDRAW: "withdrawn",
    ActionId.DONE: "done",
    ActionId.CANCEL: "cancelled",
    ActionId.REOPEN: "reopened",
}


def _who(record: Record) -> dict[str, Any]:
    return {
        "number": record.number,
        "requester_ids": record.requester_ids,
        "owner_id": record.owner_id,
        "captured_by_id": record.captured_by_id,
    }


def _records_citing(
    session: Session, team_id: str, channel_id: str, ts: str
) -> list[tuple[Record, str]]:
    sources = session.execute(
        select(Record)
        .where(
            Record.team_id == team_id,
            Record.source_channel_id == channel_id,
            Record.source_ts == ts,
        )
        .with_for_update()
    ).scalars()
    found: list[tuple[Record, str]] = [(r, "source") for r in sources]
    replies = (
        session.execute(
            select(Record)
            .join(Record.requesters)
            .where(
                Record.team_id == team_id,
                Record.channel_id == channel_id,
                Requester.evidence_ts == ts,
            )
            .with_for_update()
        )
        .unique()
        .scalars()
    )
    return found + [(r, "reply") for r in replies]


def _plain(slack_text: str) -> str:
    return slacktext.to_plain(slack_text).strip()


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(context, default=str))
