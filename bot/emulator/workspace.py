"""Everything Slack would know: teams, users, channels, messages, views and the ids it hands out.

Only touched under the emulator's lock; raises `MethodError` where Slack would answer an error.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass
class ResponseUrl:
    channel_id: str
    user_id: str
    issued_at: float
    thread_ts: str | None = None
    original: tuple[str, str] | None = None  # ("message" | "ephemeral", ts) replace_original hits
    uses: int = 0


@dataclass
class Workspace:
    """Everything Slack would know; only touched under the emulator's lock."""

    team_id: str
    domain: str
    bot_user_id: str
    bot_id: str
    app_id: str
    bot_name: str
    clock: Clock | None = None
    teams: dict[str, Params] = field(default_factory=dict)
    users: dict[str, Params] = field(default_factory=dict)
    channels: dict[str, Params] = field(default_factory=dict)
    messages: dict[str, dict[str, Params]] = field(default_factory=dict)  # channel -> ts -> msg
    ephemerals: list[Params] = field(default_factory=list)
    views: dict[str, Params] = field(default_factory=dict)
    home: dict[str, str] = field(default_factory=dict)  # user -> view id
    modals: dict[str, list[str]] = field(default_factory=dict)  # user ("": unknown) -> view ids
    dms: dict[str, str] = field(default_factory=dict)  # user -> their DM with the bot
    triggers: dict[str, tuple[float, str]] = field(default_factory=dict)  # -> (issued, user)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
    files: dict[str, Params] = field(default_factory=dict)  # file id -> name, bytes, shares
    base_url: str = ""  # where uploads go (set when the emulator starts listening)
    id_tag: str = "EMU"  # tells the ids of one workspace from another's, as Slack's are unique
    last_us: int = 0
    seq: int = 0

    def now(self) -> datetime:
        return self.clock.now() if self.clock else datetime.now(UTC)

    def seconds(self) -> float:
        return self.clock.now().timestamp() if self.clock else time.time()

    def next_ts(self) -> str:
        # Whole seconds from the clock plus a per-message step, so a frozen test clock still
        # yields distinct, strictly increasing timestamps.
        self.last_us = max(int(self.seconds()) * 1_000_000 + 100, self.last_us + 100)
        whole, micros = divmod(self.last_us, 1_000_000)
        return f"{whole}.{micros:06d}"

    def new_id(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}0{self.id_tag}{self.seq:06d}"

    def with_block_ids(self, blocks: list[Params]) -> list[Params]:
        # Slack gives every stored block an id; buttons in block_actions payloads carry it.
        return [b if b.get("block_id") else {**b, "block_id": self.new_id("b")} for b in blocks]

    def add_user(self, user: Params) -> None:
        if user["team_id"] not in self.teams:
            raise ValueError(f"unknown team {user['team_id']}: add_team() it first")
        zone = self.now().astimezone(ZoneInfo(user["tz"]))
        offset = zone.utcoffset()
        user["tz_label"] = zone.tzname()
        user["tz_offset"] = int(offset.total_seconds()) if offset else 0
        self.users[user["id"]] = user

    def channel_for_bot(self, channel_id: str, *, member: bool = False) -> Params:
        channel = self.channels.get(channel_id)
        joined = channel is not None and self.bot_user_id in channel["members"]
        if channel is None or (channel["is_private"] and not joined):
            raise MethodError("channel_not_found")
        if member and not joined:
            raise MethodError("not_in_channel")
        return channel

    def conversation(self, channel: Params, with_count: bool = False) -> Params:
        shown = {
            "id": channel["id"],
            "name": channel["name"],
            "name_normalized": channel["name"],
            "is_channel": not channel.get("is_im", False),
            "is_group": False,
            "is_im": channel.get("is_im", False),
            "is_mpim": False,
            "is_private": channel["is_private"],
            "is_archived": False,
            "is_general": False,
            "is_member": self.bot_user_id in channel["members"],
            "is_shared": channel["is_shared"],
            "is_ext_shared": channel["is_shared"],
            "is_org_shared": False,
            "context_team_id": self.team_id,
            "created": channel["created"],
            "creator": channel["creator"],
        }
        if with_count:
            shown["num_members"] = len(channel["members"])
        return shown

    def bot_message(self, content: Params) -> Params:
        message: Params = {"type": "message", "user": self.bot_user_id, "bot_id": self.bot_id}
        message.update(app_id=self.app_id, text=content.get("text", ""), team=self.team_id)
        if "blocks" in content:
            message["blocks"] = self.with_block_ids(content["blocks"])
        message["bot_profile"] = {"id": self.bot_id, "app_id": self.app_id, "name": self.bot_name}
        return message

    def find_message(self, channel_id: str, ts: Any, error: str = "message_not_found") -> Params:
        message = self.messages.get(channel_id, {}).get(str(ts))
        if message is None:
            raise MethodError(error)
        return message

    def store_message(
        self, channel_id: str, message: Params, thread_ts: Any = None, broadcast: bool = False
    ) -> Params:
        root = None
        if thread_ts:
            parent = self.find_message(channel_id, thread_ts, "thread_not_found")
            # Replying to a reply lands in the same thread, as in Slack.
            root = self.messages[channel_id][str(parent.get("thread_ts", parent["ts"]))]
        message["ts"] = self.next_ts()
        if root is not None:
            message.update(thread_ts=root["ts"], parent_user_id=root["user"])
            if broadcast:
                message["subtype"] = "thread_broadcast"
            users = root.setdefault("reply_users", [])
            if message["user"] not in users:
                users.append(message["user"])
            root.update(thread_ts=root["ts"], reply_count=root.get("reply_count", 0) + 1)
            root.update(reply_users_count=len(users), latest_reply=message["ts"])
        self.messages.setdefault(channel_id, {})[message["ts"]] = message
        return message

    def edit_message(self, message: Params, content: Params, metadata: Any = None) -> None:
        if "text" in content:
            message["text"] = content["text"]
        if "blocks" in content:
            message["blocks"] = self.with_block_ids(content["blocks"])
        if isinstance(metadata, dict):
            message["metadata"] = copied(metadata)
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}

    def top_level(self, channel_id: str) -> list[Params]:
        return [
            m
            for m in self.messages.get(channel_id, {}).values()
            if not is_reply(m) or m.get("subtype") == "thread_broadcast"
        ]

    def replies(self, channel_id: str, thread_ts: str) -> list[Params]:
        return [
            m
            for m in self.messages.get(channel_id, {}).values()
            if is_reply(m) and m["thread_ts"] == thread_ts
        ]

    def add_ephemeral(
        self, channel_id: str, user_id: str, content: Params, thread_ts: Any, via: str
    ) -> Params:
        ephemeral = self.bot_message(content)
        ephemeral.update(ts=self.next_ts(), channel=channel_id, recipient=user_id, via=via)
        if thread_ts:
            ephemeral["thread_ts"] = str(thread_ts)
        self.ephemerals.append(ephemeral)
        return ephemeral

    def add_reaction(self, message: Params, user_id: str, name: str) -> None:
        if not re.fullmatch(r"[a-z0-9_+'-]+(::skin-tone-[2-6])?", name):
            raise MethodError("invalid_name")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if user_id in reaction["users"]:
            raise MethodError("already_reacted")
        reaction["users"].append(user_id)
        reaction["count"] += 1

    def dm_id(self, user_id: str) -> str:
        """The id of a person's DM with the bot (its App Home), stable per person."""
        return self.dms.setdefault(user_id, self.new_id("D"))

    def open_dm(self, user_id: str) -> Params:
        """A person's DM with the bot (the App Home's Messages tab), opened if need be."""
        channel_id = self.dm_id(user_id)
        channel = self.channels.setdefault(
            channel_id,
            {
                "id": channel_id,
                "name": user_id,
                "is_private": True,
                "is_im": True,
                "is_shared": False,
                "members": [user_id, self.bot_user_id],
                "creator": self.bot_user_id,
                "created": 0,
            },
        )
        self.messages.setdefault(channel_id, {})
        return channel

    def issue_trigger(self, user_id: str = "") -> str:
        """`user_id` is whose click it was: the person a modal opened with it shows to."""
        self.seq += 1
        trigger_id = f"{self.seq:011d}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = (self._trigger_clock(), user_id)
        return trigger_id

    def use_trigger(self, trigger_id: str) -> str:
        """Returns the person the trigger came from ("" when unknown)."""
        issued, user_id = self.triggers.pop(trigger_id, (None, ""))
        if issued is None or self._trigger_clock() - issued > 3.0:
            raise MethodError("expired_trigger_id")
        return user_id

    def _trigger_clock(self) -> float:
        return self.seconds() if self.clock else time.monotonic()

    def find_view(self, view_id: Any, external_id: Any) -> Params:
        if not view_id and not external_id:
            raise MethodError("invalid_arguments", "[ERROR] view_id or external_id is required")
        for view in self.views.values():
            if (view_id and view["id"] == view_id) or (
                not view_id and view.get("external_id") == external_id
            ):
                return view
        raise MethodError("not_found")

    def save_view(
        self,
        body: Params,
        *,
        replacing: Params | None = None,
        hash_: Any = None,
        previous: Params | None = None,
    ) -> Params:
        """A new view (on top of `previous` when pushed) or a new version of `replacing`."""
        if replacing is not None and hash_ and hash_ != replacing["hash"]:
            raise MethodError("hash_conflict")
        external_id = body.get("external_id")
        for other in self.views.values():
            if external_id and other is not replacing and other.get("external_id") == external_id:
                raise MethodError("duplicate_external_id")
        view_id = replacing["id"] if replacing else self.new_id("V")
        view: Params = {"id": view_id, "team_id": self.team_id, "private_metadata": ""}
        view.update(callback_id="", external_id="", state={"values": {}}, previous_view_id=None)
        view.update(clear_on_close=False, notify_on_close=False, close=None, submit=None)
        view.update(app_id=self.app_id, bot_id=self.bot_id, app_installed_team_id=self.team_id)
        view["root_view_id"] = view_id
        below = previous or replacing
        if below is not None:
            view["root_view_id"] = below["root_view_id"]
            view["previous_view_id"] = below["id"] if previous else below["previous_view_id"]
        view.update(body, hash=f"{int(self.seconds())}.{secrets.token_hex(4)}")
        if replacing is not None:
            view["state"] = {"values": _kept_input(replacing, view)}
        self.views[view_id] = view
        return copied(view)

    def modal_stack(self, user_id: str, view_id: str) -> list[str]:
        """The stack of open modals whose top is `view_id`: the one the person sees."""
        for key in (user_id, ""):
            stack = self.modals.get(key)
            if stack and stack[-1] == view_id:
                return stack
        open_ = self.modals.get(user_id, [])
        raise AssertionError(f"{user_id} does not see view {view_id}; their open modals: {open_}")


def is_reply(message: Params) -> bool:
    return message.get("thread_ts", message["ts"]) != message["ts"]


def element_ids(view: Params) -> set[tuple[str, str]]:
    """(block_id, action_id) of every element that can hold what a person entered."""
    found = set()
    for block in view.get("blocks") or []:
        elements = [block.get("element"), block.get("accessory"), *block.get("elements", [])]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id"):
                found.add((str(block.get("block_id")), str(element["action_id"])))
    return found


def _kept_input(old: Params, new: Params) -> Params:
    # Slack keeps what was entered across views.update for inputs with the same ids.
    kept: Params = {}
    still = element_ids(new)
    for block_id, actions in old.get("state", {}).get("values", {}).items():
        for action_id, value in actions.items():
            if (block_id, action_id) in still:
                kept.setdefault(block_id, {})[action_id] = copied(value)
    return kept
