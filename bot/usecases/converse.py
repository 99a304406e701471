"""What people write in Slack: confirming replies, nudges, edits and deletions of cited
messages, and channel watches."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.db import unit_of_work
from bot.models import Answer, Record, RecordStatus, Requester, Watch
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import lifecycle, phrases
from bot.slack import mrkdwn
from bot.usecases.answer import Answering
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports


class Conversation:
    """Sayso's use cases for messages and events in channels."""

    def __init__(self, ports: Ports, messenger: Messenger, answering: Answering) -> None:
        self._ports = ports
        self._messenger = messenger
        self._answering = answering  # a reply that confirms is answered as a click is

    def on_message(
        self,
        channel_id: str,
        user_id: str,
        text: str,
        ts: str,
        thread_ts: str | None,
    ) -> None:
        if thread_ts and thread_ts != ts:
            if phrases.is_confirmation(text):
                self._confirm_by_reply(channel_id, user_id, ts, thread_ts)
            elif phrases.is_near_miss(text):
                self._answer_near_miss(channel_id, user_id, ts, thread_ts, text)
        phrase = phrases.nudge_phrase(text)
        if phrase:
            self._nudge(self._ports.team_id, channel_id, user_id, ts, thread_ts, phrase)

    def _confirm_by_reply(self, channel_id: str, user_id: str, ts: str, thread_ts: str) -> None:
        with unit_of_work(self._ports.session_factory) as session:
            record = lifecycle.in_thread(session, channel_id, thread_ts)
            requester = record.requester(user_id) if record else None
            # Only a named requester's reply counts, and only while an answer is awaited;
            # other replies are conversation, not commands.
            if record is None or requester is None or requester.answer != Answer.PENDING:
                return
            if record.status != "pending":
                return
            lifecycle.answer(
                session,
                self._ports.now(),
                record,
                user_id,
                record.revision,
                Answer.CONFIRMED,
                via="reply",
                evidence_ts=ts,
            )
            self._answering.announce_answer(session, record, user_id, Answer.CONFIRMED, "reply")
            self._messenger.queue(session, record, JobKind.EVIDENCE_LINK, ts=ts, user=user_id)
        self._ports.on_commit()

    def _answer_near_miss(
        self, channel_id: str, user_id: str, ts: str, thread_ts: str, text: str
    ) -> None:
        """A requester wrote "ok" or "👍" where an answer is awaited: they are told privately,
        once per thread, how to confirm, and that nothing was recorded."""
        with unit_of_work(self._ports.session_factory) as session:
            record = lifecycle.in_thread(session, channel_id, thread_ts)
            requester = record.requester(user_id) if record else None
            if record is None or requester is None or requester.answer != Answer.PENDING:
                return
            if record.status != RecordStatus.PENDING:
                return
            now, said = self._ports.now(), mrkdwn.storable(text)
            if not lifecycle.note_unclear_reply(session, now, record, user_id, ts, said):
                return
            queue.enqueue(
                session,
                now,
                team_id=record.team_id,
                kind=JobKind.EPHEMERAL,
                record_id=record.id,
                payload={
                    "template": "near_miss",
                    "channel": channel_id,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "context": {"reply": said},
                },
            )
        self._ports.on_commit()

    def _nudge(
        self,
        team_id: str,
        channel_id: str,
        author_id: str,
        ts: str,
        thread_ts: str | None,
        phrase: str,
    ) -> None:
        with unit_of_work(self._ports.session_factory) as session:
            watched = session.execute(
                select(Watch.user_id)
                .where(Watch.team_id == team_id, Watch.channel_id == channel_id)
                .limit(1)
            ).first()
            if watched is None:
                return
            queue.enqueue(
                session,
                self._ports.now(),
                team_id=team_id,
                kind=JobKind.NUDGE,
                payload={
                    "channel": channel_id,
                    "ts": ts,
                    "thread_ts": thread_ts,
                    "author": author_id,
                    "phrase": phrase,
                },
            )
        self._ports.on_commit()

    def on_message_changed(
        self,
        channel_id: str,
        ts: str,
        old_text: str,
        new_text: str | None,
        editor_id: str,
    ) -> None:
        """Edits and deletions of a source message or a confirming reply go into history."""
        with unit_of_work(self._ports.session_factory) as session:
            touched = _records_citing(session, self._ports.team_id, channel_id, ts)
            for record, role in touched:
                change = f"{role}_{'deleted' if new_text is None else 'edited'}"
                lifecycle.note_message_change(
                    session,
                    self._ports.now(),
                    record,
                    editor_id,
                    change,
                    # As Slack reported them, but for what no database can store.
                    {
                        "ts": ts,
                        "old_text": mrkdwn.storable(old_text),
                        "new_text": None if new_text is None else mrkdwn.storable(new_text),
                    },
                )
                self._messenger.queue(
                    session,
                    record,
                    JobKind.THREAD_REPLY,
                    template="event_reply",
                    context={"event": change, "actor_id": editor_id},
                )
        if touched:
            self._ports.on_commit()

    def on_direct_message(self, user_id: str, channel_id: str) -> None:
        """Someone wrote to Sayso in its Messages tab (answering a notice, say): Sayso reads
        no conversation there, so it says so and where to go instead, rather than nothing."""
        with unit_of_work(self._ports.session_factory) as session:
            queue.enqueue(
                session,
                self._ports.now(),
                team_id=self._ports.team_id,
                kind=JobKind.EPHEMERAL,
                payload={
                    "template": "direct_help",
                    "channel": None,
                    "user": user_id,
                    "dm": True,
                    "context": {},
                },
            )
        self._ports.on_commit()

    def watch(self, channel_id: str, user_id: str, on: bool) -> str:
        with unit_of_work(self._ports.session_factory) as session:
            exists = session.get(Watch, (self._ports.team_id, channel_id, user_id))
            if on and exists is None:
                session.add(
                    Watch(
                        team_id=self._ports.team_id,
                        channel_id=channel_id,
                        user_id=user_id,
                        created_at=self._ports.now(),
                    )
                )
            elif not on:
                session.execute(
                    delete(Watch).where(
                        Watch.team_id == self._ports.team_id,
                        Watch.channel_id == channel_id,
                        Watch.user_id == user_id,
                    )
                )
        return self._ports.locale_of(self._ports.team_id, user_id)


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
