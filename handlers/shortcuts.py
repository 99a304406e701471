"""The message shortcut "Confirm this instruction" (a capture form pre-filled from a
message) and the global shortcut that finds records."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import AccessUnchecked, SaysoError
from bot.slack.i18n import translator
from bot.slack.ids import BlockId, CallbackId, HomeAction
from bot.slack.rendering import Renderer
from bot.usecases.lookup import Found
from handlers.context import team_of
from handlers.parsing import message_source, parse_find_submission


def register(app: App, renderer: Renderer) -> None:
    @app.shortcut(CallbackId.MESSAGE_SHORTCUT.value)
    def confirm_this_message(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        team_of(context).capturing.open_capture_modal(
            body["trigger_id"],
            body["team"]["id"],
            body["user"]["id"],
            body["channel"]["id"],
            source=message_source(body),
        )
        ack()

    # The global shortcut, and the App Home's Find button: the same empty search form.
    @app.shortcut(CallbackId.FIND_SHORTCUT.value)
    @app.action(HomeAction.FIND.value)
    def find(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ports = team_of(context).ports
        locale = ports.locale_of(ports.team_id, body["user"]["id"])
        ports.gateway.open_view(body["trigger_id"], find_form(renderer, locale, "", None))
        ack()

    @app.view(CallbackId.FIND_MODAL.value)
    def find_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        team = team_of(context)
        user, query = body["user"]["id"], parse_find_submission(body)
        locale = team.ports.locale_of(team.team_id, user)
        try:
            found = team.finder.search(user, query)
        except SaysoError as error:
            # A query it cannot read, or channels Slack would not list now: said by the query.
            key = (
                "errors.unchecked_channel"
                if isinstance(error, AccessUnchecked)
                else "find.bad_query"
            )
            text = translator(locale, str)(key, **error.context())
            ack(response_action="errors", errors={BlockId.QUERY.value: text})
            return
        # The same form, with its results under it: refine and search again.
        ack(response_action="update", view=find_form(renderer, locale, query, found))


def find_form(
    renderer: Renderer, locale: str, query: str, found: list[Found] | None
) -> dict[str, Any]:
    """The search form (the global shortcut, the App Home's Find), with results if any."""
    return renderer.render_view(
        "find_modal",
        locale,
        callback_id=CallbackId.FIND_MODAL.value,
        blocks=BlockId,
        query=query,
        found=found,
    )
