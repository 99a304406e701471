"""The App Home tab: drawn when opened, and again whenever one of its records moves."""

from __future__ import annotations

from typing import Any

from slack_bolt import App, BoltContext

from bot.workspaces import Workspaces


def register(app: App, workspaces: Workspaces) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], context: BoltContext) -> None:
        if event.get("tab", "home") == "home":
            workspaces.of(context.team_id).sayso.open_home(event["user"])
