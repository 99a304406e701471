"""The App Home tab: drawn when opened, and again whenever one of its records moves."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.services import Sayso


def register(app: App, sayso: Sayso) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            sayso.open_home(event["user"])
