"""Events API: replies in threads, nudges, :memo: reactions, edits and deletions, someone
leaving a channel, and Sayso being uninstalled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.models import Source
from bot.slack.ids import CAPTURE_REACTION
from bot.workspaces import Workspaces
from handlers.context import team_of
from handlers.parsing import MessageChange, PostedMessage, parse_message_event


def register(app: App, workspaces: Workspaces) -> None:
    def once_per_event(body: dict[str, Any], next: Callable[[], BoltResponse]) -> Any:
        # Slack retries an event it thinks we missed; Bolt does not deduplicate them. Only
        # the event listeners run this: commands and clicks, the busiest requests, carry no
        # event id and so skip it.
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not workspaces.first_delivery(event_id):
            return BoltResponse(status=200, body="")
        return next()

    once = [once_per_event]

    @app.event("message", middleware=once)
    def on_message(event: dict[str, Any], context: BoltContext) -> None:
        conversation = team_of(context).conversation
        match parse_message_event(event, context.bot_id):
            case PostedMessage(direct=True) as posted:
                conversation.on_direct_message(posted.user_id, posted.channel_id)
            case PostedMessage() as posted:
                conversation.on_message(
                    posted.channel_id, posted.user_id, posted.text, posted.ts, posted.thread_ts
                )
            case MessageChange() as change:
                conversation.on_message_changed(
                    change.channel_id, change.ts, change.old_text, change.new_text, change.editor_id
                )

    @app.event("reaction_added", middleware=once)
    def on_reaction(event: dict[str, Any], context: BoltContext) -> None:
        item = event.get("item") or {}
        if event.get("reaction") == CAPTURE_REACTION and item.get("type") == "message":
            team_of(context).capturing.capture_message_later(
                item["channel"], item["ts"], event["user"], Source.REACTION
            )

    @app.event("user_change", middleware=once)
    def on_user_change(event: dict[str, Any], context: BoltContext) -> None:
        # Name, time zone or language changed: the next message to them follows at once.
        ports = team_of(context).ports
        ports.directory.person_changed(ports.team_id, event.get("user") or {}, ports.now())

    @app.event("member_left_channel", middleware=once)
    def on_member_left(event: dict[str, Any], context: BoltContext) -> None:
        # Leaving a channel, or being removed from it, ends seeing its records at once, not
        # when the channels Slack listed for them are next asked for.
        team_of(context).finder.left(event["user"], event["channel"])

    @app.event("app_uninstalled", middleware=once)
    @app.event("tokens_revoked", middleware=once)
    def uninstalled(event: dict[str, Any], context: BoltContext) -> None:
        # The records stay (they are the evidence); the token goes, and the ledger says when.
        workspaces.uninstalled(context.team_id or "", event["type"])
