"""Buttons on a record's confirmation request."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.ids import ActionId
from bot.services import Sayso
from handlers.parsing import parse_decision_click


def register(app: App, sayso: Sayso) -> None:
    def decide(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        sayso.decide(parse_decision_click(body))

    for action_id in (ActionId.CONFIRM, ActionId.REJECT):
        app.action(action_id)(decide)
