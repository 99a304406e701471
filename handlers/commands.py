"""The /confirm slash command: capture inline, open the form, watch a channel, or help."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.ids import Command
from bot.rendering import Renderer
from bot.services import Sayso
from handlers.parsing import Help, OpenCaptureModal, Watch, parse_confirm_command


def register(app: App, sayso: Sayso, renderer: Renderer) -> None:
    @app.command(Command.CONFIRM)
    def confirm(ack: Ack, command: dict[str, Any]) -> None:
        team, channel, user = command["team_id"], command["channel_id"], command["user_id"]
        match parse_confirm_command(command):
            case OpenCaptureModal():
                sayso.open_capture_modal(
                    command["trigger_id"],
                    team,
                    user,
                    channel,
                    source={"response_url": command.get("response_url")},
                )
                ack()
            case Help():
                ack(**renderer.render("usage", sayso.locale_of(team, user), problem="").as_ack())
            case Watch(on=on):
                locale = sayso.watch(channel, user, on)
                ack(**renderer.render("watching", locale, watching=on, channel_id=channel).as_ack())
            case capture:
                # Stored and committed before the ack: "Recorded #N" is never a broken promise.
                done = sayso.capture_from_command(capture)
                ack(**renderer.render("capture_ack", done.locale, record=done.record).as_ack())
