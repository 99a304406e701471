"""The one error path: domain errors become a polite message, anything else gets a reference.

A form's submission is answered in the form: an empty answer would close it as if saved."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.respond import Respond
from slack_bolt.error import BoltUnhandledRequestError

from bot import metrics
from bot.errors import MalformedPayload, SaysoError, UnstorableText
from bot.slack.rendering import Renderer

log = logging.getLogger("sayso.errors")


def register(app: App, renderer: Renderer) -> None:
    @app.error
    def handle(error: Exception, body: dict[str, Any], respond: Respond | None) -> BoltResponse:
        if isinstance(error, BoltUnhandledRequestError):
            # A button, form or command that is not Sayso's (an old card, another app's):
            # one line, rather than Bolt's own warning with a code suggestion.
            log.warning("nothing in Sayso handles this request (%s)", metrics.kind_of(body))
            return BoltResponse(status=404, body=json.dumps({"error": "unhandled request"}))
        if isinstance(error, MalformedPayload):
            log.warning("refused a signed but malformed request: %s", error)
            return BoltResponse(status=400, body=str(error))
        if isinstance(error, SaysoError):
            message = renderer.render(error.template, **error.context())
        else:
            reference = uuid.uuid4().hex[:10]
            log.error("unexpected error, reference %s", reference, exc_info=error)
            message = renderer.render("error", reference=reference)
        if isinstance(body, dict) and body.get("type") == "view_submission":
            field = error.field if isinstance(error, UnstorableText) else None
            answer = _in_the_form(body, field, message.text)
            if answer is not None:
                return answer
        if isinstance(body, dict) and body.get("command"):
            # A slash command's ack body is shown to the person who typed it.
            return BoltResponse(
                status=200,
                body=json.dumps(message.as_ack()),
                headers={"content-type": "application/json;charset=utf-8"},
            )
        if respond is not None and isinstance(body, dict) and body.get("response_url"):
            respond(**message.as_ack(), replace_original=False)
        return BoltResponse(status=200, body="")


def _in_the_form(body: dict[str, Any], field: str | None, explanation: str) -> BoltResponse | None:
    """The explanation under the form's field it concerns, or else under its first input
    (every form of Sayso's that can be submitted has one)."""
    blocks = (body.get("view") or {}).get("blocks") or []
    inputs = [b["block_id"] for b in blocks if b.get("type") == "input" and b.get("block_id")]
    chosen = field if field in inputs else next(iter(inputs), None)
    if chosen is None:
        return None
    return BoltResponse(
        status=200,
        body=json.dumps({"response_action": "errors", "errors": {chosen: explanation}}),
        headers={"content-type": "application/json;charset=utf-8"},
    )
