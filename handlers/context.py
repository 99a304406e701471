"""The request's workspace, put in Bolt's context once for every listener."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.workspaces import NotInstalled, Team, Workspaces


def register(app: App, workspaces: Workspaces) -> None:
    @app.middleware
    def put_team_in_context(context: BoltContext, next: Callable[[], BoltResponse]) -> Any:
        try:
            context["team"] = workspaces.of(context.team_id)
        except NotInstalled as error:
            # Said by the listener that needs the workspace; the uninstall events do not.
            context["not_installed"] = error
        return next()


def team_of(context: BoltContext) -> Team:
    """What serves the request's workspace; NotInstalled when Sayso is not installed there."""
    team = context.get("team")
    if team is None:
        raise context["not_installed"]
    assert isinstance(team, Team)
    return team
