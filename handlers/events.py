"""Events API: replies in threads, nudges, :memo: reactions, edits and deletions, and
Sayso being uninstalled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.models import Source
from bot.slack.ids import CAPTURE_REACTION
from bot.workspaces import Workspaces
from handlers.parsing import parse_message_change

# Plain messages, and the subtypes that are still a person writing.
_HUMAN_SUBTYPES = {None, "thread_broadcast", "file_share"}


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
        sayso = workspaces.of(context.team_id).sayso
        subtype = event.get("subtype")
        if subtype in ("message_changed", "message_deleted"):
            # Only a change of the words is an edit (an unfurl or a longer thread is not).
            change = parse_message_change(event, context.bot_id)
            if change is not None:
                sayso.on_message_changed(
                    event["channel"], change.ts, change.old_text, change.new_text, change.editor_id
                )
        elif subtype in _HUMAN_SUBTYPES and event.get("user") and not event.get("bot_id"):
            sayso.on_message(
                event["channel"],
                event["user"],
                event.get("text", ""),
                event["ts"],
                event.get("thread_ts"),
            )

    @app.event("reaction_added", middleware=once)
    def on_reaction(event: dict[str, Any], context: BoltContext) -> None:
        item = event.get("item") or {}
        if event.get("reaction") == CAPTURE_REACTION and item.get("type") == "message":
            workspaces.of(context.team_id).sayso.capture_message_later(
                item["channel"], item["ts"], event["user"], Source.REACTION
            )

    @app.event("app_uninstalled", middleware=once)
    @app.event("tokens_revoked", middleware=once)
    def uninstalled(event: dict[str, Any], context: BoltContext) -> None:
        # The records stay (they are the evidence); the token goes, and the ledger says when.
        workspaces.uninstalled(context.team_id or "", event["type"])
