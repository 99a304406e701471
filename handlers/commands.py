"""The /confirm slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.ids import Command
from bot.rendering import Renderer
from bot.services import Sayso
from handlers.parsing import parse_confirm_command


def register(app: App, sayso: Sayso, renderer: Renderer) -> None:
    @app.command(Command.CONFIRM)
    def confirm(ack: Ack, command: dict[str, Any]) -> None:
        # Stored and committed before the ack, so "Recorded #N" is never a promise we break.
        record = sayso.capture(parse_confirm_command(command))
        ack(**renderer.render("capture_ack", record=record).as_ack())
