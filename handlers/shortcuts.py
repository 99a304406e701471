"""The message shortcut "Confirm this instruction": a capture form pre-filled from a message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.ids import CallbackId
from bot.services import Sayso
from handlers.parsing import message_source


def register(app: App, sayso: Sayso) -> None:
    @app.shortcut(CallbackId.MESSAGE_SHORTCUT.value)
    def confirm_this_message(ack: Ack, body: dict[str, Any]) -> None:
        sayso.open_capture_modal(
            body["trigger_id"],
            body["team"]["id"],
            body["user"]["id"],
            body["channel"]["id"],
            source=message_source(body),
        )
        ack()
