"""What people do in Slack's own client besides posting: editing and deleting their messages,
reacting, opening the App Home. Each changes the workspace and returns the Events API event
Slack would send the bot about it (the driver delivers it).

Runs under the emulator's lock; raises `ValueError` for what Slack's client would not let a
person do, since that is a mistake in the test rather than an answer for the bot.
"""

from __future__ import annotations

from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params
from bot.emulator.workspace import Workspace, is_reply

TOMBSTONE_TEXT = "This message was deleted."
_THREAD_FIELDS = ("reply_count", "reply_users", "reply_users_count", "latest_reply")


def edit(ws: Workspace, user_id: str, channel_id: str, ts: str, text: str) -> Params:
    channel, message = _own(ws, user_id, channel_id, ts)
    previous = copied(message)
    event_ts = ws.next_ts()
    message.update(text=text, edited={"user": user_id, "ts": event_ts})
    return _changed(channel, message, previous, event_ts)


def delete(ws: Workspace, user_id: str, channel_id: str, ts: str) -> Params:
    """A thread's parent with replies left becomes a tombstone, announced as message_changed;
    anything else goes, announced as message_deleted."""
    channel, message = _own(ws, user_id, channel_id, ts)
    previous = copied(message)
    event_ts = ws.next_ts()
    if message.get("reply_count"):
        message.clear()
        message.update(_tombstone(previous))
        return _changed(channel, message, previous, event_ts)
    del ws.messages[channel_id][ts]
    if is_reply(previous):
        _recount_thread(ws, channel_id, previous["thread_ts"])
    event = _hidden("message_deleted", channel, event_ts)
    event.update(deleted_ts=ts, previous_message=previous)
    return event


def react(ws: Workspace, user_id: str, channel_id: str, ts: str, name: str) -> Params:
    _, message = _seen(ws, user_id, channel_id, ts)
    name = name.strip(":")
    try:
        ws.add_reaction(message, user_id, name)
    except MethodError as e:
        raise ValueError(f"{user_id} cannot react :{name}: to {ts}: {e.error}") from e
    event: Params = {"type": "reaction_added", "user": user_id, "reaction": name}
    if message.get("user"):  # Slack leaves it out for messages no user wrote
        event["item_user"] = message["user"]
    event["item"] = {"type": "message", "channel": channel_id, "ts": ts}
    event["event_ts"] = ws.next_ts()
    return event


def open_home(ws: Workspace, user_id: str, tab: str = "home") -> Params:
    if user_id not in ws.users:
        raise ValueError(f"unknown user {user_id}: add_user() first")
    event: Params = {"type": "app_home_opened", "user": user_id, "channel": ws.dm_id(user_id)}
    event.update(tab=tab, event_ts=ws.next_ts())
    home = ws.views.get(ws.home.get(user_id, ""))
    if tab == "home" and home is not None:  # only once a Home tab has been published
        event["view"] = copied(home)
    return event


_CHANGEABLE = ("name", "real_name", "tz", "locale")


def change(ws: Workspace, user_id: str, changes: Params) -> Params:
    """A person changes their name, time zone or language; Slack tells every app in the
    workspace with `user_change`, which carries the whole user object."""
    user = ws.users.get(user_id)
    if user is None:
        raise ValueError(f"unknown user {user_id}: add_user() first")
    unknown = set(changes) - set(_CHANGEABLE)
    if unknown:
        raise ValueError(f"a person cannot change {sorted(unknown)} here; only {_CHANGEABLE}")
    user.update(changes)
    profile = user.setdefault("profile", {})
    if "name" in changes:
        profile["display_name"] = changes["name"]
    if "real_name" in changes:
        profile["real_name"] = changes["real_name"]
    event_ts = ws.next_ts()
    user["updated"] = int(float(event_ts))
    return {
        "type": "user_change",
        "user": copied(user),
        "cache_ts": int(float(event_ts)),
        "event_ts": event_ts,
    }


def channel_type(channel: Params) -> str:
    return "group" if channel["is_private"] else "channel"


def _seen(ws: Workspace, user_id: str, channel_id: str, ts: str) -> tuple[Params, Params]:
    channel = ws.channels.get(channel_id)
    if user_id not in ws.users or channel is None:
        raise ValueError(f"unknown user {user_id} or channel {channel_id}: add them first")
    if channel["is_private"] and user_id not in channel["members"]:
        raise ValueError(f"{user_id} cannot see the private channel {channel_id}")
    message = ws.messages.get(channel_id, {}).get(ts)
    if message is None:
        raise ValueError(f"no message {ts} in {channel_id}")
    return channel, message


def _own(ws: Workspace, user_id: str, channel_id: str, ts: str) -> tuple[Params, Params]:
    channel, message = _seen(ws, user_id, channel_id, ts)
    if message.get("user") != user_id:
        raise ValueError(
            f"{ts} in {channel_id} is {message.get('user')}'s, not {user_id}'s: "
            "Slack lets people edit and delete only their own messages"
        )
    return channel, message


def _hidden(subtype: str, channel: Params, event_ts: str) -> Params:
    event: Params = {"type": "message", "subtype": subtype, "hidden": True}
    event.update(channel=channel["id"], ts=event_ts, event_ts=event_ts)
    event["channel_type"] = channel_type(channel)
    return event


def _changed(channel: Params, message: Params, previous: Params, event_ts: str) -> Params:
    event = _hidden("message_changed", channel, event_ts)
    event.update(message=copied(message), previous_message=previous)
    return event


def _tombstone(parent: Params) -> Params:
    stone: Params = {"type": "message", "subtype": "tombstone", "text": TOMBSTONE_TEXT}
    stone.update(user="USLACKBOT", hidden=True, ts=parent["ts"], thread_ts=parent["ts"])
    stone["parent_user_id"] = "USLACKBOT"
    stone.update({k: copied(parent[k]) for k in _THREAD_FIELDS if k in parent})
    return stone


def _recount_thread(ws: Workspace, channel_id: str, thread_ts: str) -> None:
    root = ws.messages.get(channel_id, {}).get(thread_ts)
    if root is None:
        return
    left = ws.replies(channel_id, thread_ts)
    if not left and root.get("subtype") == "tombstone":
        del ws.messages[channel_id][thread_ts]  # Slack clears it too (that event is not sent)
        return
    if not left:
        for key in (*_THREAD_FIELDS, "thread_ts"):
            root.pop(key, None)
        return
    users = list(dict.fromkeys(m["user"] for m in left))
    root.update(reply_count=len(left), reply_users=users, reply_users_count=len(users))
    root["latest_reply"] = left[-1]["ts"]
