"""Modal submissions: the capture form, the amend form and the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import ModalInvalid
from bot.slack.ids import CallbackId
from handlers.context import team_of
from handlers.parsing import (
    parse_amend_submission,
    parse_capture_submission,
    parse_settings_submission,
)


def register(app: App) -> None:
    @app.view(CallbackId.CAPTURE_MODAL.value)
    def capture_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        form = parse_capture_submission(body)
        capturing = team_of(context).capturing
        _submit(
            ack, lambda: capturing.submit_capture_form(form.capture, form.due_date, form.due_time)
        )

    @app.view(CallbackId.AMEND_MODAL.value)
    def amend_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        form = parse_amend_submission(body)
        answering = team_of(context).answering
        _submit(
            ack,
            lambda: answering.amend(
                form.team_id,
                form.number,
                form.revision,
                form.user_id,
                form.text,
                form.channel_id,
                form.thread_ts,
            ),
        )

    @app.view(CallbackId.SETTINGS_MODAL.value)
    def settings_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        form = parse_settings_submission(body)
        _submit(ack, lambda: team_of(context).configuring.save_settings(form))


def _submit(ack: Ack, save: Callable[[], None]) -> None:
    """Close the form once saved; a field that cannot be saved is said next to it."""
    try:
        save()
    except ModalInvalid as invalid:
        ack(response_action="errors", errors=invalid.errors)
        return
    ack()
