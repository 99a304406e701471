"""What each part of the Sayso facade may use of the whole.

`Sayso` (bot/services.py) is put together from one mixin per kind of use case: capturing
(bot/capturing.py), answering and acting on a record (bot/answering.py), and what people
write in Slack (bot/conversation.py). The mixins share the facade's state and helpers,
declared here so that each module type-checks on its own; the facade's constructor and
helpers provide them, and bot/answering.py provides `_announce_answer`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import SaysoError
from bot.models import Answer, Record
from bot.outbox.queue import JobKind
from bot.slack.directory import Directory
from bot.slack.gateway import SlackGateway
from bot.slack.rendering import Renderer


class UseCase:
    """The state and helpers `Sayso` gives its mixins."""

    team_id: str
    _session_factory: sessionmaker[Session]
    _directory: Directory
    _gateway: SlackGateway
    _renderer: Renderer
    _on_commit: Callable[[], None]

    if TYPE_CHECKING:

        def locale_of(self, team_id: str, user_id: str) -> str: ...

        def _now(self) -> datetime: ...

        def _tell(
            self,
            team_id: str,
            channel_id: str,
            user_id: str,
            error: SaysoError,
            thread_ts: str | None = None,
            settles: int | None = None,
        ) -> None: ...

        def _enqueue(
            self, session: Session, record: Record, kind: JobKind, **payload: Any
        ) -> None: ...

        def _announce_answer(
            self, session: Session, record: Record, user_id: str, reply: Answer, via: str
        ) -> None: ...
