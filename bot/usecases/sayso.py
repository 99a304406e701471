"""Use cases, one transaction each: change the records and queue what Slack must be told.

Slack calls that must happen before the ack (views.open needs a fresh trigger_id, users.info
for the typist's time zone) are made here before the transaction opens; everything else
Slack should see goes through the outbox and is delivered after the ack.

The use cases live in one mixin each by what they are about: capturing (bot/capturing.py),
answering and acting on a record (bot/answering.py), what people write in Slack
(bot/conversation.py), the digest, reminders and expiry (bot/digesting.py, bot/reminding.py)
and their settings (bot/configuring.py). `Sayso` puts them together over the state and
helpers they share (declared in bot/usecase.py); handlers call only `Sayso`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import unit_of_work
from bot.errors import SaysoError
from bot.models import HomeView, Record
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records.cadence import DigestPolicy, ReminderPolicy
from bot.records.settings_store import Policy
from bot.slack.directory import Directory
from bot.slack.gateway import SlackGateway
from bot.slack.rendering import Renderer
from bot.usecases.answer import Answering, Click
from bot.usecases.capture import Acknowledgement, Capturing, CommandCapture
from bot.usecases.configure import Configuring
from bot.usecases.converse import Conversation
from bot.usecases.digest import Digesting
from bot.usecases.remind import Reminding

__all__ = ["Acknowledgement", "Click", "CommandCapture", "Sayso"]

log = logging.getLogger("sayso.services")


# An App Home opened this recently is kept up to date as its records move.
HOME_REDRAWN_FOR = timedelta(days=7)


class Sayso(Capturing, Answering, Conversation, Digesting, Reminding, Configuring):
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
        self._session_factory = session_factory
        self._clock = clock
        self._directory = directory
        self._gateway = gateway
        self._renderer = renderer
        self._on_commit = on_commit
        # The environment's policy; what a workspace stored in `/confirm settings` wins.
        self.defaults = Policy(policy or DigestPolicy(), ReminderPolicy())

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
        settles: int | None = None,
    ) -> None:
        """Tell one person, privately, why nothing changed; `settles` is the outbox job whose
        refusal this is, marked done with it."""
        with unit_of_work(self._session_factory) as session:
            queue.enqueue(
                session,
                self._now(),
                team_id=team_id,
                kind=JobKind.EPHEMERAL,
                payload={
                    "template": error.template,
                    "channel": channel_id,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "context": _jsonable(error.context()),
                },
            )
            if settles is not None:
                queue.mark_carried_out(session, settles, self._now())
        self._on_commit()

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        """Modals must open within three seconds of the trigger: straight to Slack."""
        self._gateway.open_view(trigger_id, view)

    def open_home(self, user_id: str) -> None:
        for attempt in (1, 2):
            try:
                with unit_of_work(self._session_factory) as session:
                    seen = session.get(HomeView, (self.team_id, user_id))
                    if seen is None:
                        session.add(
                            HomeView(team_id=self.team_id, user_id=user_id, opened_at=self._now())
                        )
                    else:
                        seen.opened_at = self._now()
                    self._publish_home(session, user_id)
                break
            except IntegrityError:  # the same person's other tab, on another replica
                if attempt == 2:
                    raise
        self._on_commit()

    def _publish_home(self, session: Session, user_id: str) -> None:
        queue.enqueue(
            session,
            self._now(),
            team_id=self.team_id,
            kind=JobKind.PUBLISH_HOME,
            payload={"user": user_id},
        )

    def _enqueue(self, session: Session, record: Record, kind: JobKind, **payload: Any) -> None:
        queue.enqueue(
            session,
            self._now(),
            team_id=record.team_id,
            kind=kind,
            payload=payload,
            record_id=record.id,
        )
        if kind in (JobKind.POST_RECORD, JobKind.REFRESH_RECORD, JobKind.NEW_REVISION):
            # Everyone the record concerns sees it move on their App Home.
            people = {record.owner_id, record.captured_by_id, *record.requester_ids}
            for user_id in self._home_viewers(session, record.team_id, people):
                self._publish_home(session, user_id)

    def _home_viewers(self, session: Session, team_id: str, people: set[str]) -> list[str]:
        """Of these people, those who opened their App Home lately: anyone else's tab is drawn
        afresh when they open it, so redrawing it now would be work nobody sees."""
        since = self._now() - HOME_REDRAWN_FOR
        with session.no_autoflush:  # the record's rows go in once, at commit
            found = session.execute(
                select(HomeView.user_id).where(
                    HomeView.team_id == team_id,
                    HomeView.user_id.in_(people),
                    HomeView.opened_at >= since,
                )
            ).scalars()
            return sorted(found)

    def _now(self) -> datetime:
        return self._clock.now()


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(context, default=str))
