"""The App Home tab: drawn when opened, and again whenever one of its records moves; its
buttons open the capture form, the settings and the search form. (Confirm and Reject on its
rows are the record's own buttons: handlers/actions.py.)"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.ids import HomeAction
from handlers.context import team_of


def register(app: App) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            team_of(context).home.open(event["user"])

    # A trigger id lasts three seconds: each form opens before the ack.
    @app.action(HomeAction.NEW.value)
    def new_confirmation(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        team_of(context).home.new_confirmation(body["trigger_id"], body["user"]["id"])
        ack()

    @app.action(HomeAction.SETTINGS.value)
    def settings(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        team_of(context).home.open_settings(body["trigger_id"], body["user"]["id"])
        ack()

    # Find: handlers/shortcuts.py, with the global shortcut.
