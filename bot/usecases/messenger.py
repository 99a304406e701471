"""What Slack must be told of a change, queued in the change's own transaction."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import unit_of_work
from bot.errors import SaysoError
from bot.models import HomeView, Record
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.usecases.ports import Ports

# An App Home opened this recently is kept up to date as its records move.
HOME_REDRAWN_FOR = timedelta(days=7)


class Messenger:
    def __init__(self, ports: Ports) -> None:
        self._ports = ports

    def queue(self, session: Session, record: Record, kind: JobKind, **payload: Any) -> None:
        """A Slack message about `record`, sent once the session commits."""
        queue.enqueue(
            session,
            self._ports.now(),
            team_id=record.team_id,
            kind=kind,
            payload=payload,
            record_id=record.id,
        )
        if kind in (JobKind.POST_RECORD, JobKind.REFRESH_RECORD, JobKind.NEW_REVISION):
            # Everyone the record concerns sees it move on their App Home.
            people = {record.owner_id, record.captured_by_id, *record.requester_ids}
            for user_id in self._home_viewers(session, record.team_id, people):
                self.redraw_home(session, user_id)

    def redraw_home(self, session: Session, user_id: str) -> None:
        queue.enqueue(
            session,
            self._ports.now(),
            team_id=self._ports.team_id,
            kind=JobKind.PUBLISH_HOME,
            payload={"user": user_id},
        )

    def tell(
        self,
        team_id: str,
        channel_id: str | None,
        user_id: str,
        error: SaysoError,
        thread_ts: str | None = None,
        settles: int | None = None,
        *,
        by_dm: bool = False,
    ) -> None:
        """Tell one person, privately, why nothing changed; `settles` is the outbox job whose
        refusal this is, marked done with it. In the channel (an ephemeral message) when they
        just acted there; by direct message when there is no channel (the App Home) or when
        `by_dm`: the answer comes long after what they did, and Slack keeps a DM."""
        now = self._ports.now()
        with unit_of_work(self._ports.session_factory) as session:
            queue.enqueue(
                session,
                now,
                team_id=team_id,
                kind=JobKind.EPHEMERAL,
                payload={
                    "template": error.template,
                    "channel": channel_id,
                    "user": user_id,
                    "thread_ts": thread_ts,
                    "dm": by_dm,
                    "context": _jsonable(error.context()),
                },
            )
            if settles is not None:
                queue.mark_carried_out(session, settles, now)
        self._ports.on_commit()

    def _home_viewers(self, session: Session, team_id: str, people: set[str]) -> list[str]:
        """Of these people, those who opened their App Home lately: anyone else's tab is drawn
        afresh when they open it, so redrawing it now would be work nobody sees."""
        since = self._ports.now() - HOME_REDRAWN_FOR
        with session.no_autoflush:  # the record's rows go in once, at commit
            found = session.execute(
                select(HomeView.user_id).where(
                    HomeView.team_id == team_id,
                    HomeView.user_id.in_(people),
                    HomeView.opened_at >= since,
                )
            ).scalars()
            return sorted(found)


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(context, default=str))
