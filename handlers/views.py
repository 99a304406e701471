"""Modal submissions: the capture form, the amend form and the settings."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.errors import ModalInvalid
from bot.slack.ids import CallbackId
from bot.workspaces import Workspaces
from handlers.parsing import (
    parse_amend_submission,
    parse_capture_submission,
    parse_settings_submission,
)


def register(app: App, workspaces: Workspaces) -> None:
    @app.view(CallbackId.CAPTURE_MODAL.value)
    def capture_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        sayso = workspaces.of(context.team_id).sayso
        submission = parse_capture_submission(body)
        try:
            sayso.submit_capture_form(submission.capture, submission.due_date, submission.due_time)
        except ModalInvalid as invalid:
            ack(response_action="errors", errors=invalid.errors)
            return
        ack()

    @app.view(CallbackId.AMEND_MODAL.value)
    def amend_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        sayso = workspaces.of(context.team_id).sayso
        amended = parse_amend_submission(body)
        metadata = json.loads(body["view"].get("private_metadata") or "{}")
        try:
            sayso.amend(
                amended.team_id,
                amended.number,
                amended.revision,
                amended.user_id,
                amended.text,
                metadata.get("channel", ""),
                metadata.get("thread_ts"),
            )
        except ModalInvalid as invalid:
            ack(response_action="errors", errors=invalid.errors)
            return
        ack()

    @app.view(CallbackId.SETTINGS_MODAL.value)
    def settings_submitted(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        sayso = workspaces.of(context.team_id).sayso
        try:
            sayso.save_settings(parse_settings_submission(body))
        except ModalInvalid as invalid:
            ack(response_action="errors", errors=invalid.errors)
            return
        ack()
