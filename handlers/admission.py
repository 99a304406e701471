"""Which signed requests get in: those of a shape Slack sends, for a workspace this
installation serves. It runs before Bolt's authorization and every listener (Bolt's
`before_authorize`), which would otherwise stumble on a payload of another shape (a null
`actions`, a view without a type) with a traceback and a 500.

A refused request gets a 4xx (an event from a workspace not served gets a 200, see below) and
one line in the log, naming ids only, never what people typed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.workspaces import Installations

log = logging.getLogger("sayso.admission")

Rule = tuple[str, Callable[[Any], bool], str]
_ABSENT = object()
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{1,20}")


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


def _named(value: Any) -> bool:
    """A user, team or channel: its id, or an object with a textual `id`."""
    return isinstance(value, str) or (isinstance(value, dict) and _text(value.get("id")))


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


def _actions(value: Any) -> bool:
    return _objects(value) and bool(value) and all(_text(a.get("action_id")) for a in value)


def _maybe(fits: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is _ABSENT or value is None or fits(value)


def _metadata(value: Any) -> bool:
    """A view's private_metadata: Sayso's own, a JSON object (or nothing), as Slack echoes it."""
    if not isinstance(value, str):
        return False
    try:
        return value == "" or isinstance(json.loads(value), dict)
    except ValueError:
        return False


def _reacted_item(value: Any) -> bool:
    """What a reaction is on: a message names its channel and ts."""
    return _object(value) and (
        value.get("type") != "message" or (_text(value.get("channel")) and _text(value.get("ts")))
    )


def _form_values(value: Any) -> bool:
    """view.state.values: block id -> action id -> what the input holds."""
    return _object(value) and all(
        _object(block) and all(_object(field) for field in block.values())
        for block in value.values()
    )


# Where present and not null, these fields of any payload must be what Bolt expects.
_ANYWHERE: list[Rule] = [
    ("team", _named, "a team"),
    ("user", _named, "a user"),
    ("channel", _named, "a channel"),
    ("enterprise", lambda v: _text(v) or _object(v), "an enterprise"),
    ("authorizations", _objects, "a list of authorizations"),
    ("container", _object, "an object"),
    ("message", _object, "a message"),
    ("view", _object, "a view"),
    ("view.state", _object, "an object"),
    ("view.state.values", _form_values, "the form's values"),
    ("view.private_metadata", _metadata, "a JSON object"),
    ("event", _object, "an event"),
    ("actions", _objects, "a list of actions"),
]
_USER: Rule = ("user.id", _text, "the user's id")
# What each kind of payload must carry: what the listeners read.
_REQUIRED: dict[str, list[Rule]] = {
    "command": [
        (field, _text, "text") for field in ("command", "team_id", "user_id", "channel_id")
    ],
    "block_actions": [_USER, ("actions", _actions, "a list of actions, each with its id")],
    "view_submission": [
        _USER,
        *((f"view.{field}", _text, "text") for field in ("id", "type", "callback_id")),
    ],
    "shortcut": [_USER, ("callback_id", _text, "text"), ("trigger_id", _text, "text")],
    "message_action": [
        _USER,
        ("team.id", _text, "the team's id"),
        ("channel.id", _text, "the channel's id"),
        ("message.ts", _text, "the message's ts"),
        ("callback_id", _text, "text"),
        ("trigger_id", _text, "text"),
    ],
    "event_callback": [("event.type", _text, "the event's type"), ("event_id", _text, "text")],
    "url_verification": [("challenge", _text, "text")],
}
_REQUIRED["view_closed"] = _REQUIRED["view_submission"]
_EVENTS: dict[str, list[Rule]] = {
    "message": [
        ("event.channel", _text, "a channel id"),
        ("event.ts", _text, "a ts"),
        *(
            (f"event.{field}", _maybe(_text), "text")
            for field in ("subtype", "user", "text", "thread_ts", "deleted_ts")
        ),
        *(
            (f"event.{field}", _maybe(_object), "a message")
            for field in ("message", "previous_message")
        ),
    ],
    "reaction_added": [
        ("event.user", _text, "a user id"),
        ("event.reaction", _text, "a reaction's name"),
        ("event.item", _reacted_item, "an item (a message's with its channel and ts)"),
    ],
    "app_home_opened": [("event.user", _text, "a user id"), ("event.tab", _maybe(_text), "text")],
}


def odd_shape(body: dict[str, Any]) -> str | None:
    """What in a signed payload is not as Slack sends it, or None."""
    for path, fits, what in _ANYWHERE:
        value = _at(body, path)
        if value is not _ABSENT and value is not None and not fits(value):
            return f"{path} is not {what}"
    if "command" in body:
        kind = "command"
    elif _text(body.get("type")):
        kind = body["type"]
    else:
        return "it is neither a command nor a payload of a type"
    required = _REQUIRED.get(kind, [])
    if kind == "event_callback":
        required = required + _EVENTS.get(str(_at(body, "event.type")), [])
    for path, fits, what in required:
        if not fits(_at(body, path)):
            return f"{path} is not {what} ({kind})"
    return None


def _at(body: dict[str, Any], path: str) -> Any:
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return _ABSENT
        value = value[key]
    return value


class Admission(Middleware):  # type: ignore[misc]
    def __init__(self, installations: Installations) -> None:
        self._installations = installations

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],
    ) -> BoltResponse:
        problem = odd_shape(req.body)
        if problem is not None:
            log.warning("refused a signed request of an odd shape: %s", problem)
            return _refused(400, "malformed_payload")
        if req.body.get("type") == "url_verification":
            return next()  # Slack checking the URL names no workspace
        team_id = req.context.team_id
        if self._installations.serves(team_id):
            return next()
        named = team_id if team_id and _TEAM_ID.fullmatch(team_id) else "(none)"
        log.warning("refused a request from workspace %s, which Sayso does not serve", named)
        if req.body.get("type") == "event_callback":
            # Answered all the same: a refusal would only make Slack retry the event, and
            # count against the app's events, which the workspace it serves shares.
            return BoltResponse(status=200, body="")
        return _refused(403, "workspace_not_served")


def _refused(status: int, error: str) -> BoltResponse:
    return BoltResponse(
        status=status,
        body=json.dumps({"ok": False, "error": error}),
        headers={"content-type": "application/json;charset=utf-8"},
    )
