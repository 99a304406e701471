"""Capturing a record: from the slash command, the capture form, or a message someone
marked (a reaction, a nudge's button)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from bot.db import reading, unit_of_work
from bot.errors import (
    AccessUnchecked,
    AlreadyCaptured,
    DueDateUnreadable,
    ModalInvalid,
    UnstorableText,
)
from bot.models import OutboxMessage, Record, Source
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import dates, lifecycle
from bot.records.lifecycle import MAX_REQUESTERS, Capture
from bot.slack import mrkdwn, richtext
from bot.slack.gateway import DeliveryError
from bot.slack.i18n import translator
from bot.slack.ids import BlockId, CallbackId
from bot.usecases import intake
from bot.usecases.cards import RecordView, accepted_view
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports

log = logging.getLogger("sayso.capturing")
# Slack's limit for a modal's private_metadata.
PRIVATE_METADATA_LIMIT = 3000


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


class Capturing:
    """Capturing a record: from `/confirm`, the capture form, a message or an accepted job."""

    def __init__(self, ports: Ports, messenger: Messenger) -> None:
        self._ports = ports
        self._messenger = messenger

    def capture_from_command(self, command: CommandCapture) -> Acknowledgement:
        capture = replace(command.capture, team_id=self._ports.team_id)
        person = self._ports.directory.person(
            capture.team_id, capture.captured_by_id, self._ports.now()
        )
        if command.due_phrase:
            try:
                due = dates.parse_due(command.due_phrase, person.tz, self._ports.now())
            except dates.DueDateError as error:
                raise DueDateUnreadable(
                    "due date",
                    phrase=error.phrase,
                    reason=error.reason,
                    examples=", ".join(f"`{e}`" for e in dates.EXAMPLES),
                    when=self._ports.now(),
                ) from error
            capture = replace(capture, due_at=due)
        number = intake.accept_capture(
            self._ports.session_factory, self._ports.now(), capture, command.response_url
        )
        self._ports.on_commit()
        return Acknowledgement(accepted_view(capture, number), person.locale)

    def store_accepted_capture(self, job: OutboxMessage) -> None:
        """Runs in the outbox, right after the ack: the record under its reserved number, its
        card queued, the job marked done, in one transaction."""
        capture = Capture.from_payload(job.payload["capture"])
        try:
            with unit_of_work(self._ports.session_factory) as session:
                now = self._ports.now()
                record = lifecycle.capture(session, now, capture, number=job.payload["number"])
                self._messenger.queue(
                    session, record, JobKind.POST_RECORD, response_url=job.payload["response_url"]
                )
                queue.mark_carried_out(session, job.id, now)
        except AlreadyCaptured:
            # Stored already: by another dispatcher that took the job over (then this raises
            # AlreadyCarriedOut), or, days later, by a delivery of the same command whose
            # own job has been pruned since. Anything else stays a failure, to be seen.
            with unit_of_work(self._ports.session_factory) as session:
                stored = (
                    lifecycle.by_capture_key(session, capture.team_id, capture.capture_key)
                    if capture.capture_key
                    else None
                )
                if stored is None:
                    raise
                queue.mark_carried_out(session, job.id, self._ports.now())
            log.warning(
                "outbox %s: capture #%s was stored already, as #%s",
                job.id,
                job.payload["number"],
                stored.number,
            )
            return
        self._ports.on_commit()

    def _capture(
        self, capture: Capture, response_url: str | None = None, settles: int | None = None
    ) -> Record:
        """Store a record now; `settles` is the outbox job doing it, marked done with it."""
        try:
            with unit_of_work(self._ports.session_factory) as session:
                record = lifecycle.capture(session, self._ports.now(), capture)
                self._messenger.queue(
                    session, record, JobKind.POST_RECORD, response_url=response_url
                )
                if settles is not None:
                    queue.mark_carried_out(session, settles, self._ports.now())
        except AlreadyCaptured:
            # The same command or form delivered twice: its key is unique, so the second
            # delivery fails to store and finds the first (rare: no lookup on every capture).
            if not capture.capture_key:
                raise
            # Keyed captures (commands, forms) are never an outbox job's (`settles`).
            assert settles is None, "a keyed capture found stored would leave its job pending"
            with reading(self._ports.session_factory) as session:
                again = lifecycle.by_capture_key(session, capture.team_id, capture.capture_key)
                if again is None:
                    raise
                return again
        self._ports.on_commit()
        return record

    def open_capture_modal(
        self,
        trigger_id: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        source: dict[str, Any] | None = None,
    ) -> None:
        """The form behind `/confirm` alone, the message shortcut (pre-filled from it) and the
        App Home's "New confirmation" (no channel: the form asks where to ask)."""
        source = source or {}
        metadata = {"channel": channel_id, **{k: v for k, v in source.items() if k != "text"}}
        if len(json.dumps(metadata)) > PRIVATE_METADATA_LIMIT:
            # A long message's blocks do not fit the form: its words are still kept as written.
            metadata = {k: v for k, v in metadata.items() if k not in ("blocks", "words")}
        view = self._ports.renderer.render_view(
            "capture_modal",
            self._ports.locale_of(team_id, user_id),
            callback_id=CallbackId.CAPTURE_MODAL.value,
            private_metadata=json.dumps(metadata),
            blocks=BlockId,
            author_id=source.get("author"),
            requester_ids=[source["author"]] if source.get("author") else [],
            text=source.get("text", ""),
            owner_id=user_id,
            choose_channel=not channel_id,
        )
        self._ports.gateway.open_view(trigger_id, view)

    def submit_capture_form(
        self,
        capture: Capture,
        due_date: str | None,
        due_time: str | None,
        response_url: str | None = None,
    ) -> None:
        """The capture form, checked field by field; problems go back next to the fields."""
        capture = replace(capture, team_id=self._ports.team_id)
        person = self._ports.directory.person(
            capture.team_id, capture.captured_by_id, self._ports.now()
        )
        problems: dict[BlockId, tuple[str, dict[str, Any]]] = {}
        if not capture.channel_id:
            problems[BlockId.CHANNEL] = ("home.pick_channel", {})
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
            if due <= self._ports.now():
                problems[BlockId.DUE_DATE] = ("errors.due_in_past", {})
        if problems:
            t = translator(person.locale, str)
            raise ModalInvalid({block.value: t(key, **f) for block, (key, f) in problems.items()})
        self.capture_from_modal(replace(capture, due_at=due), response_url)

    def capture_from_modal(
        self, capture: Capture, response_url: str | None = None, settles: int | None = None
    ) -> None:
        try:
            record = self._capture(capture, response_url, settles)
        except AlreadyCaptured as error:
            self._messenger.tell(
                capture.team_id, capture.channel_id, capture.captured_by_id, error, None, settles
            )
            return
        if capture.source_ts:
            self._tell_captured(record)

    def capture_message_later(self, channel_id: str, ts: str, user_id: str, source: Source) -> None:
        """A reaction or a nudge's button: fetching the message waits until after the ack."""
        with unit_of_work(self._ports.session_factory) as session:
            queue.enqueue(
                session,
                self._ports.now(),
                team_id=self._ports.team_id,
                kind=JobKind.CAPTURE_MESSAGE,
                payload={"channel": channel_id, "ts": ts, "user": user_id, "source": source.value},
            )
        self._ports.on_commit()

    def capture_fetched_message(self, job: OutboxMessage) -> None:
        """Runs in the outbox: fetch the message, capture it with defaults."""
        payload = job.payload
        try:
            reactor = self._ports.directory.known_person(
                job.team_id, payload["user"], self._ports.now()
            )
        except AccessUnchecked as error:
            # Whose reaction it is decides whether it captures: asked again later, not guessed.
            raise DeliveryError(f"cannot tell who reacted: {error}") from error
        if reactor.is_external:
            return  # :memo: from the client's side is their own note, not the team capturing
        message = self._ports.gateway.message(payload["channel"], payload["ts"])
        if message is None or not message.get("user"):
            return  # deleted meanwhile, or a bot's message: nothing a client asked for
        text = _plain(message.get("text", ""))
        if (character := mrkdwn.unstorable(text)) is not None:
            # Kept exactly as written or not at all: whoever marked it is told why not.
            refusal = UnstorableText(character)
            self._messenger.tell(
                job.team_id, payload["channel"], payload["user"], refusal, None, job.id, by_dm=True
            )
            return
        capture = Capture(
            team_id=job.team_id,
            channel_id=payload["channel"],
            captured_by_id=payload["user"],
            requester_ids=(message["user"],),
            text=text,
            source=Source(payload["source"]),
            source_ts=message["ts"],
            source_thread_ts=message.get("thread_ts"),
            source_blocks=richtext.source_blocks(message.get("blocks")),
        )
        self.capture_from_modal(capture, settles=job.id)

    def _tell_captured(self, record: Record) -> None:
        with unit_of_work(self._ports.session_factory) as session:
            self._messenger.queue(
                session,
                record,
                JobKind.EPHEMERAL,
                template="captured_from_message",
                channel=record.channel_id,
                user=record.captured_by_id,
                thread_ts=record.thread_ts,
                context={},
            )
        self._ports.on_commit()


def _plain(slack_text: str) -> str:
    return mrkdwn.to_plain(slack_text).strip()
