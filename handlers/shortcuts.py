"""The message shortcut "Confirm this instruction": a capture form pre-filled from a message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import AccessUnchecked, SaysoError
from bot.slack.i18n import translator
from bot.slack.ids import BlockId, CallbackId
from bot.slack.rendering import Renderer
from bot.workspaces import Workspaces
from handlers.parsing import message_source, parse_find_submission


def register(app: App, workspaces: Workspaces, renderer: Renderer) -> None:
    @app.shortcut(CallbackId.MESSAGE_SHORTCUT.value)
    def confirm_this_message(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        workspaces.of(context.team_id).sayso.open_capture_modal(
            body["trigger_id"],
            body["team"]["id"],
            body["user"]["id"],
            body["channel"]["id"],
            source=message_source(body),
        )
        ack()

    @app.shortcut(CallbackId.FIND_SHORTCUT.value)
    def find(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        sayso = workspaces.of(context.team_id).sayso
        user = body["user"]["id"]
        view = renderer.render_view(
            "find_modal",
            sayso.locale_of(sayso.team_id, user),
            callback_id=CallbackId.FIND_MODAL.value,
            blocks=BlockId,
            query="",
            found=None,
        )
        sayso.open_view(body["trigger_id"], view)
        ack()

    @app.view(CallbackId.FIND_MODAL.value)
    def find_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        workspace = workspaces.of(context.team_id)
        sayso = workspace.sayso
        user = body["user"]["id"]
        query = parse_find_submission(body)
        locale = sayso.locale_of(sayso.team_id, user)
        try:
            found = workspace.finder.search(user, query)
        except SaysoError as error:
            # A query it cannot read, or channels Slack would not list now: said by the query.
            key = (
                "errors.unchecked_channel"
                if isinstance(error, AccessUnchecked)
                else "find.bad_query"
            )
            ack(
                response_action="errors",
                errors={BlockId.QUERY.value: translator(locale, str)(key, **error.context())},
            )
            return
        # The same form, with its results under it: refine and search again.
        ack(
            response_action="update",
            view=renderer.render_view(
                "find_modal",
                locale,
                callback_id=CallbackId.FIND_MODAL.value,
                blocks=BlockId,
                query=query,
                found=found,
            ),
        )
