"""What Slack does with what it is sent: the Web API method handlers and response URLs.

Handlers run under the emulator's lock and mutate the `Workspace` they are given; they raise
`MethodError` for Slack's `{"ok": false, "error": ...}` answers.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params
from bot.emulator.workspace import ResponseUrl, Workspace

VIEW_ERROR = "invalid_arguments"


def flag(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


# --- blocks and views -------------------------------------------------------------------------


def _checked_blocks(raw: Any, limit: int, error: str) -> list[Params]:
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise MethodError(error, "[ERROR] blocks must be an array of objects")
    if len(raw) > limit:
        raise MethodError(
            error, f"[ERROR] no more than {limit} items allowed [json-pointer:/blocks]"
        )
    for i, block in enumerate(raw):
        seen = json.dumps(block, sort_keys=True)
        if seen in _VALID_BLOCKS:
            continue
        try:
            parsed = Block.parse(block)
            if parsed is None:
                raise SlackObjectFormationError(f"unsupported type: {block.get('type')}")
            parsed.validate_json()
        except (SlackObjectFormationError, TypeError, KeyError, ValueError, AttributeError) as e:
            raise MethodError(error, f"[ERROR] {e} [json-pointer:/blocks/{i}]") from e
        if len(_VALID_BLOCKS) >= _VALID_BLOCKS_KEPT:
            _VALID_BLOCKS.clear()
        _VALID_BLOCKS.add(seen)
    return copied(raw)


# Blocks slack_sdk found valid, as JSON: the same cards and requests are posted again and
# again (updated, or by the next test), and its parsing takes many times json.dumps's time.
# Whether a block is valid depends on the block alone.
_VALID_BLOCKS: set[str] = set()
_VALID_BLOCKS_KEPT = 10_000


def view_body(ws: Workspace, raw: Any, *, home: bool) -> Params:
    if not isinstance(raw, dict) or raw.get("type") != ("home" if home else "modal"):
        kind = "home" if home else "modal"
        raise MethodError(VIEW_ERROR, f"[ERROR] view.type must be {kind} [json-pointer:/view/type]")
    try:
        View(**raw).validate_json()
    except (SlackObjectFormationError, TypeError, ValueError) as e:
        raise MethodError(VIEW_ERROR, f"[ERROR] {e} [json-pointer:/view]") from e
    body = copied(raw)
    body["blocks"] = ws.with_block_ids(_checked_blocks(raw.get("blocks", []), 100, VIEW_ERROR))
    return body


# --- chat.* -----------------------------------------------------------------------------------


def _content(ws: Workspace, p: Params, *, require: bool = True) -> Params:
    content: Params = {}
    if p.get("text") not in (None, ""):
        content["text"] = str(p["text"])[:40_000]  # Slack cuts rather than refuses long text
    if p.get("blocks") not in (None, ""):
        content["blocks"] = _checked_blocks(p["blocks"], 50, "invalid_blocks")
    if require and not content and not p.get("attachments"):
        raise MethodError("no_text")
    return content


def chat_post_message(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    message = ws.bot_message(_content(ws, p))
    if isinstance(p.get("metadata"), dict):
        message["metadata"] = copied(p["metadata"])
    stored = ws.store_message(
        channel["id"], message, p.get("thread_ts"), flag(p.get("reply_broadcast"))
    )
    return {
        "ok": True,
        "channel": channel["id"],
        "ts": stored["ts"],
        "message": copied(stored),
    }


def chat_post_ephemeral(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    if p["user"] not in channel["members"]:
        raise MethodError("user_not_in_channel")
    content = _content(ws, p)
    ephemeral = ws.add_ephemeral(
        channel["id"], p["user"], content, p.get("thread_ts"), "chat.postEphemeral"
    )
    return {"ok": True, "message_ts": ephemeral["ts"]}


def chat_update(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    message = ws.find_message(channel["id"], p["ts"])
    if message.get("bot_id") != ws.bot_id:
        raise MethodError("cant_update_message")
    ws.edit_message(message, _content(ws, p, require=False), p.get("metadata"))
    return {
        "ok": True,
        "channel": channel["id"],
        "ts": message["ts"],
        "text": message.get("text", ""),
        "message": copied(message),
    }


def chat_get_permalink(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"])
    message = ws.find_message(channel["id"], p["message_ts"])
    link = (
        f"https://{ws.domain}.slack.com/archives/{channel['id']}/p{message['ts'].replace('.', '')}"
    )
    if message.get("thread_ts") not in (None, message["ts"]):
        link += f"?thread_ts={message['thread_ts']}&cid={channel['id']}"
    return {"ok": True, "channel": channel["id"], "permalink": link}


# --- users.* and conversations.* -------------------------------------------------------------


def users_info(ws: Workspace, p: Params) -> Params:
    user = ws.users.get(p["user"])
    if user is None:
        raise MethodError("user_not_found")
    shown = copied(user)
    if not flag(p.get("include_locale")):
        shown.pop("locale", None)
    team = ws.teams.get(user["team_id"], {})
    if team.get("enterprise_id"):
        # Enterprise Grid: each of the organization's people also has an enterprise identity.
        shown["enterprise_user"] = {
            "id": user["id"],
            "enterprise_id": team["enterprise_id"],
            "enterprise_name": team["enterprise_name"],
            "is_admin": False,
            "is_owner": False,
            "teams": [user["team_id"]],
        }
    own_enterprise = ws.teams[ws.team_id].get("enterprise_id")
    if user["team_id"] != ws.team_id and not (
        own_enterprise and team.get("enterprise_id") == own_enterprise
    ):
        shown["is_stranger"] = True  # Slack Connect: someone from another organization
    return {"ok": True, "user": shown}


def team_info(ws: Workspace, p: Params) -> Params:
    team_id = p.get("team") or (None if p.get("domain") else ws.team_id)
    found = [
        t
        for t in ws.teams.values()
        if t["id"] == team_id or (not team_id and t["domain"] == p.get("domain"))
    ]
    if not found:
        raise MethodError("team_not_found")
    team = found[0]
    shown = {"id": team["id"], "name": team["name"], "domain": team["domain"]}
    shown.update(email_domain="", icon={"image_default": True})
    if team.get("enterprise_id"):
        shown.update(enterprise_id=team["enterprise_id"], enterprise_name=team["enterprise_name"])
    return {"ok": True, "team": shown}


def conversations_info(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"])
    return {"ok": True, "channel": ws.conversation(channel, flag(p.get("include_num_members")))}


def _limit(p: Params, default: int) -> int:
    try:
        limit = int(p.get("limit") or default)
    except (TypeError, ValueError) as e:
        raise MethodError("invalid_limit") from e
    return min(limit if limit > 0 else default, 1000)


def _page(items: list[Any], p: Params, default_limit: int) -> tuple[list[Any], str]:
    """Offset pagination behind an opaque cursor, the way Slack's cursors look to clients."""
    offset = 0
    if p.get("cursor"):
        try:
            offset = int(base64.b64decode(str(p["cursor"])).decode().removeprefix("offset:"))
        except (binascii.Error, UnicodeDecodeError, ValueError) as e:
            raise MethodError("invalid_cursor") from e
    end = offset + _limit(p, default_limit)
    more = end < len(items)
    cursor = base64.b64encode(f"offset:{end}".encode()).decode() if more else ""
    return items[offset:end], cursor


def conversations_members(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"])
    page, cursor = _page(list(channel["members"]), p, 100)
    return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}


def users_conversations(ws: Workspace, p: Params) -> Params:
    """The channels a person is in, as the bot may know them: private ones only where the bot
    is a member too. As Slack does, without is_member and num_members."""
    user = str(p.get("user") or ws.bot_user_id)
    if user != ws.bot_user_id and user not in ws.users:
        raise MethodError("user_not_found")
    types = {t.strip() for t in str(p.get("types") or "public_channel").split(",")}
    if not types <= {"public_channel", "private_channel", "mpim", "im"}:
        raise MethodError("invalid_types")
    theirs = [
        channel
        for channel in ws.channels.values()
        if user in channel["members"]
        and ("private_channel" if channel["is_private"] else "public_channel") in types
        and (not channel["is_private"] or ws.bot_user_id in channel["members"])
    ]
    page, cursor = _page(theirs, p, 100)
    shown = []
    for channel in page:
        conversation = ws.conversation(channel)
        conversation.pop("is_member", None)
        shown.append(conversation)
    return {"ok": True, "channels": shown, "response_metadata": {"next_cursor": cursor}}


def _ts_bound(p: Params, name: str, default: float) -> float:
    try:
        return float(p.get(name) or default)
    except (TypeError, ValueError) as e:
        raise MethodError(f"invalid_ts_{name}") from e


def _shown(messages: list[Params], p: Params) -> list[Params]:
    shown = copied(messages)
    if not flag(p.get("include_all_metadata")):
        for message in shown:
            message.pop("metadata", None)
    return shown


def _within(messages: list[Params], p: Params) -> list[Params]:
    oldest, latest = _ts_bound(p, "oldest", 0.0), _ts_bound(p, "latest", float("inf"))
    inclusive = flag(p.get("inclusive"))

    def keep(ts: float) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    return [m for m in messages if keep(float(m["ts"]))]


def conversations_history(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    newest_first = list(reversed(_within(ws.top_level(channel["id"]), p)))
    page, cursor = _page(newest_first, p, 100)
    return {
        "ok": True,
        "messages": _shown(page, p),
        "has_more": bool(cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": cursor},
    }


def conversations_replies(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    try:
        parent = ws.find_message(channel["id"], p["ts"])
    except MethodError as e:
        raise MethodError("thread_not_found") from e
    replies = _within(ws.replies(channel["id"], parent["ts"]), p)
    # Slack repeats the parent at the top of every page.
    page, cursor = _page(replies, p, 1000)
    return {
        "ok": True,
        "messages": _shown([parent, *page], p),
        "has_more": bool(cursor),
        "response_metadata": {"next_cursor": cursor},
    }


# --- views.* and reactions.* -----------------------------------------------------------------


MODAL_STACK_LIMIT = 3


def views_open(ws: Workspace, p: Params) -> Params:
    user_id = ws.use_trigger(str(p["trigger_id"]))
    view = ws.save_view(view_body(ws, p["view"], home=False))
    ws.modals[user_id] = [view["id"]]
    return {"ok": True, "view": view}


def views_push(ws: Workspace, p: Params) -> Params:
    user_id = ws.use_trigger(str(p["trigger_id"]))
    stack = ws.modals.setdefault(user_id, [])
    if len(stack) >= MODAL_STACK_LIMIT:
        raise MethodError("push_limit_reached")
    below = ws.views[stack[-1]] if stack else None
    view = ws.save_view(view_body(ws, p["view"], home=False), previous=below)
    stack.append(view["id"])
    return {"ok": True, "view": view}


def views_update(ws: Workspace, p: Params) -> Params:
    current = ws.find_view(p.get("view_id"), p.get("external_id"))
    body = view_body(ws, p["view"], home=current["type"] == "home")
    return {"ok": True, "view": ws.save_view(body, replacing=current, hash_=p.get("hash"))}


def views_publish(ws: Workspace, p: Params) -> Params:
    if p["user_id"] not in ws.users:
        raise MethodError("user_not_found")
    body = view_body(ws, p["view"], home=True)
    current = ws.views.get(ws.home.get(p["user_id"], ""))
    view = ws.save_view(body, replacing=current, hash_=p.get("hash"))
    ws.home[p["user_id"]] = view["id"]
    return {"ok": True, "view": view}


def reactions_add(ws: Workspace, p: Params) -> Params:
    channel = ws.channel_for_bot(p["channel"], member=True)
    message = ws.find_message(channel["id"], p["timestamp"])
    ws.add_reaction(message, ws.bot_user_id, str(p["name"]).strip(":"))
    return {"ok": True}


def auth_test(ws: Workspace, p: Params) -> Params:
    return {
        "ok": True,
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.teams[ws.team_id]["name"],
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


# --- response_url ------------------------------------------------------------------------------

RESPONSE_URL_USES, RESPONSE_URL_TTL = 5, 30 * 60


def respond(ws: Workspace, token: str, p: Params) -> Params:
    """What Slack does with a POST to a response_url (Bolt's `respond()`)."""
    entry = ws.response_urls.get(token)
    if entry is None or ws.seconds() - entry.issued_at > RESPONSE_URL_TTL:
        raise MethodError("expired_url")
    if entry.uses >= RESPONSE_URL_USES:
        raise MethodError("used_url")
    entry.uses += 1
    if flag(p.get("delete_original")):
        _drop_original(ws, entry)
        return {"ok": True}
    content = _content(ws, p)
    thread_ts = p.get("thread_ts") or entry.thread_ts
    if flag(p.get("replace_original")):
        _replace_original(ws, entry, content)
    elif p.get("response_type") == "in_channel":
        posted = ws.store_message(entry.channel_id, ws.bot_message(content), thread_ts)
        entry.original = ("message", posted["ts"])
    else:
        shown = ws.add_ephemeral(
            entry.channel_id, entry.user_id, content, thread_ts, "response_url"
        )
        entry.original = ("ephemeral", shown["ts"])
    return {"ok": True}


def _original(ws: Workspace, entry: ResponseUrl) -> Params:
    kind, ts = entry.original or ("", "")
    if kind == "message":
        return ws.find_message(entry.channel_id, ts)
    for ephemeral in ws.ephemerals:
        if ephemeral["ts"] == ts and ephemeral["recipient"] == entry.user_id:
            return ephemeral
    raise MethodError("message_not_found")


def _replace_original(ws: Workspace, entry: ResponseUrl, content: Params) -> None:
    target = _original(ws, entry)
    target.pop("blocks", None)  # a replacement is a whole new message
    target["text"] = content.get("text", "")
    if "blocks" in content:
        target["blocks"] = ws.with_block_ids(content["blocks"])
    if entry.original and entry.original[0] == "message":
        target["edited"] = {"user": ws.bot_user_id, "ts": ws.next_ts()}


def _drop_original(ws: Workspace, entry: ResponseUrl) -> None:
    target = _original(ws, entry)
    if entry.original and entry.original[0] == "message":
        del ws.messages[entry.channel_id][target["ts"]]
    else:
        ws.ephemerals.remove(target)
    entry.original = None
