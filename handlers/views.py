"""Modal submissions: the capture form and the amend form."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App

from bot.errors import ModalInvalid
from bot.ids import CallbackId
from bot.services import Sayso
from handlers.parsing import parse_amend_submission, parse_capture_submission


def register(app: App, sayso: Sayso) -> None:
    @app.view(CallbackId.CAPTURE_MODAL.value)
    def capture_submitted(ack: Ack, body: dict[str, Any]) -> None:
        submission = parse_capture_submission(body)
        try:
            sayso.submit_capture_form(submission.capture, submission.due_date, submission.due_time)
        except ModalInvalid as invalid:
            ack(response_action="errors", errors=invalid.errors)
            return
        ack()

    @app.view(CallbackId.AMEND_MODAL.value)
    def amend_submitted(ack: Ack, body: dict[str, Any]) -> None:
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
