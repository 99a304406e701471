"""Turn Slack payloads into typed inputs for the services; nothing here talks to Slack or SQL."""

from __future__ import annotations

import re
from typing import Any

from bot import slacktext
from bot.errors import MalformedPayload, UsageError
from bot.ids import ActionId
from bot.records import MAX_INSTRUCTION_LENGTH, Capture, Decision
from bot.services import Click

# A decision button's value names the record as "<team id>/<number>" (confirmation_request).
_RECORD_REF = re.compile(r"^(T[A-Z0-9]+)/(\d{1,9})$")
_DECISIONS = {ActionId.CONFIRM: Decision.CONFIRM, ActionId.REJECT: Decision.REJECT}


def _field(body: dict[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise MalformedPayload("missing " + ".".join(path))
        value = value[key]
    return value


def parse_confirm_command(body: dict[str, Any]) -> Capture:
    raw = str(body.get("text") or "")
    mention = slacktext.LEADING_MENTION.match(raw)
    if not raw.strip():
        raise UsageError()
    if mention is None:
        raise UsageError("Start with the person who must confirm, for example `@wang`.")
    instruction = slacktext.to_plain(raw[mention.end() :]).strip()
    if not instruction:
        raise UsageError("Add what they asked for after the mention.")
    if len(instruction) > MAX_INSTRUCTION_LENGTH:
        raise UsageError(
            f"The instruction is {len(instruction):,} characters long; the limit is "
            f"{MAX_INSTRUCTION_LENGTH:,}. Attach the details to a message and capture that."
        )
    return Capture(
        team_id=str(_field(body, "team_id")),
        channel_id=str(_field(body, "channel_id")),
        captured_by_id=str(_field(body, "user_id")),
        requester_id=mention.group(1),
        text=instruction,
    )


def parse_decision_click(body: dict[str, Any]) -> Click:
    action = (_field(body, "actions") or [{}])[0]
    ref = _RECORD_REF.match(str(action.get("value", "")))
    if ref is None:
        raise MalformedPayload("the button carries no record reference")
    decision = _DECISIONS.get(action.get("action_id"))
    if decision is None:
        raise MalformedPayload("not a decision button")
    container = body.get("container") or {}
    return Click(
        team_id=ref.group(1),
        channel_id=str(_field(body, "channel", "id")),
        user_id=str(_field(body, "user", "id")),
        number=int(ref.group(2)),
        decision=decision,
        thread_ts=container.get("thread_ts") or container.get("message_ts"),
    )
