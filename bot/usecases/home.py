"""The App Home: drawn afresh when opened, kept up to date for a while after, and the forms
its buttons open."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from bot.db import unit_of_work
from bot.errors import SaysoError
from bot.models import HomeView
from bot.usecases.capture import Capturing
from bot.usecases.configure import Configuring
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports


class AppHome:
    def __init__(
        self,
        ports: Ports,
        messenger: Messenger,
        capturing: Capturing,
        configuring: Configuring,
    ) -> None:
        self._ports = ports
        self._messenger = messenger
        self._capturing = capturing
        self._configuring = configuring

    def new_confirmation(self, trigger_id: str, user_id: str) -> None:
        """ "New confirmation": the capture form, asking which channel (there is none here)."""
        self._capturing.open_capture_modal(
            trigger_id, self._ports.team_id, user_id, channel_id=None
        )

    def open_settings(self, trigger_id: str, user_id: str) -> None:
        """ "Settings": the form of `/confirm settings`. A refusal (Slack could not say who
        they are) comes by direct message: a Home tab has nowhere else to show it."""
        try:
            self._configuring.open_settings_modal(trigger_id, user_id)
        except SaysoError as error:
            self._messenger.tell(self._ports.team_id, None, user_id, error)

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
