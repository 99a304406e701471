"""The one error path: domain errors become a polite message, anything else gets a reference."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.respond import Respond
from slack_bolt.error import BoltUnhandledRequestError

from bot import metrics
from bot.errors import MalformedPayload, SaysoError
from bot.rendering import Renderer

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
