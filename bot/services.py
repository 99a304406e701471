"""Use cases, one transaction each: change the records and queue what Slack must be told.

Slack calls that must happen before the ack (views.open needs a fresh trigger_id, users.info
for the typist's time zone) are made here before the transaction opens; everything else
Slack should see goes through the outbox and is delivered after the ack.

The use cases live in one mixin each by what they are about: capturing (bot/capturing.py),
answering and acting on a record (bot/answering.py), and what people write in Slack
(bot/conversation.py). `Sayso` puts them together over the state and helpers they share
(declared in bot/usecase.py); handlers call only `Sayso`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import outbox
from bot.answering import Answering, Click
from bot.capturing import Acknowledgement, Capturing, CommandCapture
from bot.clock import Clock
from bot.conversation import FORGET_EVENTS_EVERY, Conversation
from bot.db import unit_of_work
from bot.delivery import Kind
from bot.digesting import Digesting
from bot.directory import Directory
from bot.errors import SaysoError
from bot.models import Record
from bot.reminding import Reminding
from bot.rendering import Renderer
from bot.scheduler import DigestPolicy, ReminderPolicy
from bot.slack import SlackGateway

__all__ = ["FORGET_EVENTS_EVERY", "Acknowledgement", "Click", "CommandCapture", "Sayso"]


class Sayso(Capturing, Answering, Conversation, Digesting, Reminding):
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        directory: Directory,
        gateway: SlackGateway,
        renderer: Renderer,
        team_id: str,
        on_commit: Callable[[], None] = lambda: None,
        policy: DigestPolicy | None = None,
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
        self.policy = policy or DigestPolicy()
        self.reminder_policy = ReminderPolicy()

    def locale_of(self, team_id: str, user_id: str) -> str:
        return self._directory.person(team_id, user_id, self._clock.now()).locale

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

    def _now(self) -> datetime:
        return self._clock.now()


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(context, default=str))
