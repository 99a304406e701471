"""Opening the App Home: drawn afresh, and kept up to date for a while after."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from bot.db import unit_of_work
from bot.models import HomeView
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports


class AppHome:
    def __init__(self, ports: Ports, messenger: Messenger) -> None:
        self._ports = ports
        self._messenger = messenger

    def open(self, user_id: str) -> None:
        team_id = self._ports.team_id
        for attempt in (1, 2):
            try:
                with unit_of_work(self._ports.session_factory) as session:
                    now = self._ports.now()
                    seen = session.get(HomeView, (team_id, user_id))
                    if seen is None:
                        session.add(HomeView(team_id=team_id, user_id=user_id, opened_at=now))
                    else:
                        seen.opened_at = now
                    self._messenger.redraw_home(session, user_id)
                break
            except IntegrityError:  # the same person's other tab, on another replica
                if attempt == 2:
                    raise
        self._ports.on_commit()
