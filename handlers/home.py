"""The App Home tab: drawn when opened, and again whenever one of its records moves."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from handlers.context import team_of


def register(app: App) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            team_of(context).home.open(event["user"])
