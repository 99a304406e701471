"""Buttons: on a record's confirmation request, and on a nudge."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.models import Source
from bot.slack.ids import ActionId
from handlers.context import team_of
from handlers.parsing import parse_click, parse_nudge_click


def register(app: App) -> None:
    def on_record_button(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        team_of(context).answering.click(parse_click(body))

    for action_id in ActionId:
        if action_id != ActionId.CAPTURE_NUDGED:
            app.action(action_id.value)(on_record_button)

    @app.action(ActionId.CAPTURE_NUDGED.value)
    def capture_nudged(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        channel, ts, user = parse_nudge_click(body)
        team_of(context).capturing.capture_message_later(channel, ts, user, Source.NUDGE)
