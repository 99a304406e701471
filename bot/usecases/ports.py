"""What the use cases of one workspace are built from: its database, the time, and Slack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.slack.directory import Directory
from bot.slack.gateway import SlackGateway
from bot.slack.rendering import Renderer


@dataclass(frozen=True)
class Ports:
    # The workspace this installation serves: every record it makes or shows is that
    # workspace's, whatever organization the person in a shared channel belongs to.
    team_id: str
    session_factory: sessionmaker[Session]
    clock: Clock
    directory: Directory
    gateway: SlackGateway
    renderer: Renderer
    # Called after a commit that queued outbox messages: the dispatcher sends them.
    on_commit: Callable[[], None]

    def now(self) -> datetime:
        return self.clock.now()

    def locale_of(self, team_id: str, user_id: str) -> str:
        return self.directory.person(team_id, user_id, self.now()).locale
