"""Which Web API methods the emulator answers, and the parameters each one takes.

`METHODS` maps a method name to its handler and its required and optional parameters; any
parameter neither listed there nor in Slack's published OpenAPI spec is refused as a typo.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.emulator.errors import MethodError, Params
from bot.emulator.files import conversations_open, files_complete_upload, files_get_upload_url
from bot.emulator.handlers import (
    VIEW_ERROR,
    auth_test,
    chat_get_permalink,
    chat_post_ephemeral,
    chat_post_message,
    chat_update,
    conversations_history,
    conversations_info,
    conversations_members,
    conversations_replies,
    reactions_add,
    team_info,
    users_conversations,
    users_info,
    views_open,
    views_publish,
    views_push,
    views_update,
)
from bot.emulator.workspace import Workspace

Handler = Callable[[Workspace, Params], Params]

SPEC_FILE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "slack-api-specs"
    / "slack_web_openapi_v2_without_examples.json"
)
# Params newer than the published spec (see its README) and the team_id Bolt adds to every call.
ALWAYS_ALLOWED = frozenset({"token", "team_id"})
_MESSAGE = "text blocks attachments as_user icon_emoji icon_url link_names parse username"
_MESSAGE += " markdown_text mrkdwn"


@dataclass(frozen=True)
class MethodSpec:
    handler: Handler
    required: dict[str, str]  # param -> the error Slack gives when it is missing
    optional: frozenset[str] = field(default_factory=frozenset)

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.required) | self.optional | ALWAYS_ALLOWED


@functools.cache
def spec_params(path: Path = SPEC_FILE) -> dict[str, frozenset[str]]:
    """Parameter names per method from Slack's OpenAPI file; empty when the file is absent."""
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {
        route.lstrip("/"): frozenset(
            p["name"] for op in ops.values() for p in op.get("parameters", [])
        )
        for route, ops in doc["paths"].items()
    }


def check_params(method: str, params: Params, *, strict: bool) -> None:
    """Catch typos such as `thread_id` for `thread_ts`, which real Slack silently ignores."""
    spec = METHODS[method]
    if strict:
        unknown = sorted(set(params) - spec.known - spec_params().get(method, frozenset()))
        if unknown:
            raise MethodError(
                "invalid_arg_name", *(f"[ERROR] unknown parameter: {n}" for n in unknown)
            )
    for name, error in spec.required.items():
        if params.get(name) in (None, ""):
            raise MethodError(error, f"[ERROR] missing required field: {name}")


def _spec(handler: Handler, required: dict[str, str], optional: str = "") -> MethodSpec:
    return MethodSpec(handler, required, frozenset(optional.split()))


_CHANNEL = {"channel": "channel_not_found"}
_PAGED = "cursor limit latest oldest inclusive include_all_metadata"
_VIEW_OPEN = {"trigger_id": VIEW_ERROR, "view": VIEW_ERROR}

METHODS: dict[str, MethodSpec] = {
    "auth.test": _spec(auth_test, {}),
    "chat.postMessage": _spec(
        chat_post_message,
        _CHANNEL,
        f"{_MESSAGE} thread_ts reply_broadcast unfurl_links unfurl_media container_id metadata",
    ),
    "chat.postEphemeral": _spec(
        chat_post_ephemeral, {**_CHANNEL, "user": "user_not_in_channel"}, f"{_MESSAGE} thread_ts"
    ),
    "chat.update": _spec(
        chat_update,
        {**_CHANNEL, "ts": "message_not_found"},
        f"{_MESSAGE} metadata reply_broadcast file_ids",
    ),
    "chat.getPermalink": _spec(chat_get_permalink, {**_CHANNEL, "message_ts": "message_not_found"}),
    "users.info": _spec(users_info, {"user": "user_not_found"}, "include_locale"),
    "team.info": _spec(team_info, {}, "team domain"),
    "conversations.info": _spec(conversations_info, _CHANNEL, "include_locale include_num_members"),
    "conversations.members": _spec(conversations_members, _CHANNEL, "cursor limit"),
    "users.conversations": _spec(
        users_conversations, {}, "user types exclude_archived team_id cursor limit"
    ),
    "conversations.history": _spec(conversations_history, _CHANNEL, _PAGED),
    "conversations.replies": _spec(
        conversations_replies, {**_CHANNEL, "ts": "thread_not_found"}, _PAGED
    ),
    "views.open": _spec(views_open, _VIEW_OPEN, "interactivity_pointer"),
    "views.push": _spec(views_push, _VIEW_OPEN, "interactivity_pointer"),
    "views.update": _spec(views_update, {"view": VIEW_ERROR}, "view_id external_id hash"),
    "views.publish": _spec(views_publish, {"user_id": VIEW_ERROR, "view": VIEW_ERROR}, "hash"),
    "conversations.open": _spec(
        conversations_open, {"users": "user_not_found"}, "return_im prevent_creation channel"
    ),
    "files.getUploadURLExternal": _spec(
        files_get_upload_url,
        {"filename": "invalid_arguments", "length": "invalid_arguments"},
        "alt_txt snippet_type",
    ),
    "files.completeUploadExternal": _spec(
        files_complete_upload,
        {"files": "invalid_arguments"},
        "channel_id channels initial_comment thread_ts blocks",
    ),
    "reactions.add": _spec(
        reactions_add,
        {**_CHANNEL, "name": "invalid_name", "timestamp": "no_item_specified"},
    ),
}
