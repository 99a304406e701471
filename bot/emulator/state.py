"""The emulated workspace as tests see it: set it up, read it back, and act in it as people do
in Slack's own client. `SlackEmulator` (server.py) is the first workspace plus the HTTP side;
each further workspace is a `Tenant` (tenant.py) with this same API, sharing the one lock.

Everything returned is a deep copy, so tests cannot corrupt the store.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.emulator import people, transcript
from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params
from bot.emulator.modals import Values, settle, submitted_state
from bot.emulator.workspace import Clock, ResponseUrl, Workspace


class EmulatorState:
    def __init__(
        self,
        team_id: str,
        team_name: str,
        domain: str,
        bot_user_id: str,
        bot_name: str,
        clock: Clock | None,
        bot_id: str,
        app_id: str,
        *,
        cond: threading.Condition | None = None,
        id_tag: str = "EMU",
    ) -> None:
        """`cond` is the lock of the emulator this workspace lives in (a new one if none)."""
        self._ws = Workspace(team_id, domain, bot_user_id, bot_id, app_id, bot_name, clock)
        self._ws.id_tag = id_tag
        self._cond = cond or threading.Condition(threading.RLock())
        self.add_team(team_id, team_name, domain)
        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        self._ws.users[bot_user_id]["profile"]["bot_id"] = bot_id

    @property
    def team_id(self) -> str:
        return self._ws.team_id

    @property
    def domain(self) -> str:
        return self._ws.domain

    @property
    def bot_user_id(self) -> str:
        return self._ws.bot_user_id

    @property
    def app_id(self) -> str:
        return self._ws.app_id

    @property
    def base_url(self) -> str:
        if not self._ws.base_url:
            raise RuntimeError("SlackEmulator is not started")
        return self._ws.base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def enterprise_id(self) -> str | None:
        """The Enterprise Grid organization the emulator's own team belongs to, if any."""
        with self._changing():
            return self._ws.teams.get(self._ws.team_id, {}).get("enterprise_id")

    @property
    def clock(self) -> Clock | None:
        return self._ws.clock

    # --- workspace setup ------------------------------------------------------------------

    def add_team(
        self,
        team_id: str,
        name: str,
        domain: str,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
    ) -> None:
        """The emulator's own team, or another organization's (Slack Connect), or another
        workspace of the same Enterprise Grid organization (the same `enterprise_id`; given
        for the emulator's own team, it makes that team part of the enterprise)."""
        team: Params = {"id": team_id, "name": name, "domain": domain}
        if enterprise_id:
            team.update(enterprise_id=enterprise_id, enterprise_name=enterprise_name or "")
        with self._changing():
            self._ws.teams[team_id] = team

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        team_id: str | None = None,
        tz: str = "Asia/Shanghai",
        locale: str = "en-US",
        is_bot: bool = False,
    ) -> Params:
        team = team_id or self._ws.team_id
        real = real_name or name
        user: Params = {"id": user_id, "team_id": team, "name": name, "deleted": False}
        user.update(real_name=real, tz=tz, is_bot=is_bot, is_app_user=False, locale=locale)
        user["profile"] = {"display_name": name, "real_name": real, "team": team}
        with self._changing():
            self._ws.add_user(user)
            return copied(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        members: list[str] | None = None,
        is_private: bool = False,
        bot_is_member: bool = True,
        *,
        is_shared: bool = False,
    ) -> Params:
        humans = [m for m in members or [] if m != self.bot_user_id]
        channel: Params = {"id": channel_id, "name": name, "is_private": is_private}
        channel.update(is_shared=is_shared, created=int(self._ws.seconds()))
        channel["members"] = [*humans, self.bot_user_id] if bot_is_member else humans
        channel["creator"] = humans[0] if humans else self.bot_user_id
        with self._changing():
            self._ws.channels[channel_id] = channel
            self._ws.messages.setdefault(channel_id, {})
            return self._ws.conversation(channel)

    def file(self, file_id: str) -> Params | None:
        """An uploaded file: name, title, content (bytes) and where it was shared."""
        with self._changing():
            stored = self._ws.files.get(file_id)
            return copied(stored) if stored else None

    def invite(self, channel_id: str, user_id: str) -> None:
        """Someone types `/invite @user` (the bot, usually) in a channel."""
        with self._changing():
            members = self._ws.channels[channel_id]["members"]
            if user_id not in members:
                members.append(user_id)

    def remove(self, channel_id: str, user_id: str) -> Params:
        """Someone leaves a channel, or is removed from it (`/kick`): Slack sends the
        `member_left_channel` event, which this returns, to apps whose bot is in it."""
        with self._changing():
            channel = self._ws.channels[channel_id]
            if user_id in channel["members"]:
                channel["members"].remove(user_id)
            kind = "G" if channel["is_private"] and channel_id.startswith("G") else "C"
            event: Params = {"type": "member_left_channel", "user": user_id}
            event.update(channel=channel_id, channel_type=kind, team=self._ws.team_id)
            event["event_ts"] = f"{self._ws.seconds():.6f}"
            return event

    # --- people acting in Slack's client (the driver delivers the events) -----------------

    def post_user_message(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[Params] | None = None,
    ) -> Params:
        with self._changing():
            user = self._ws.users.get(user_id)
            channel = self._ws.channels.get(channel_id)
            if user is None or channel is None or user_id not in channel["members"]:
                raise ValueError(f"{user_id} cannot post in {channel_id}: add both, as a member")
            message = {"type": "message", "user": user_id, "text": text, "team": user["team_id"]}
            message["client_msg_id"] = secrets.token_hex(16)
            if blocks is not None:  # what Slack's composer sends: the words as rich_text
                message["blocks"] = blocks
            try:
                stored = self._ws.store_message(channel_id, message, thread_ts)
            except MethodError as e:
                raise ValueError(f"no message {thread_ts} in {channel_id} to reply to") from e
            return copied(stored)

    def edit_user_message(self, user_id: str, channel_id: str, ts: str, text: str) -> Params:
        """Edits a person's own message; returns the `message_changed` event."""
        with self._changing():
            return copied(people.edit(self._ws, user_id, channel_id, ts, text))

    def delete_user_message(self, user_id: str, channel_id: str, ts: str) -> Params:
        """Deletes a person's own message; returns `message_deleted` (or, for a thread's parent
        with replies, the `message_changed` that turns it into a tombstone)."""
        with self._changing():
            return copied(people.delete(self._ws, user_id, channel_id, ts))

    def add_user_reaction(self, user_id: str, channel_id: str, ts: str, name: str) -> Params:
        """Records a person's reaction; returns the `reaction_added` event."""
        with self._changing():
            return copied(people.react(self._ws, user_id, channel_id, ts, name))

    def change_user(self, user_id: str, **changes: Any) -> Params:
        """A person changes their name, time zone or language; returns `user_change`."""
        with self._changing():
            return copied(people.change(self._ws, user_id, changes))

    def open_app_home(self, user_id: str, tab: str = "home") -> Params:
        """Returns the `app_home_opened` event."""
        with self._changing():
            return copied(people.open_home(self._ws, user_id, tab))

    def shown_modal(self, user_id: str, view_id: str) -> Params:
        """The modal on top of what `user_id` sees, which they can submit."""
        with self._cond:
            self._ws.modal_stack(user_id, view_id)
            return copied(self._ws.views[view_id])

    def submission_state(self, view: Params, values: Values) -> Params:
        with self._cond:
            return submitted_state(view, values, lambda u: u in self._ws.users)

    def settle_submission(
        self, user_id: str, view_id: str, state: Params, status: int, answer: Any
    ) -> None:
        """Closes, keeps, updates or pushes the modal as Slack would after the app's answer."""
        with self._changing():
            settle(self._ws, user_id, view_id, state, status, answer)

    # --- accessors --------------------------------------------------------------------------

    def messages(self, channel_id: str) -> list[Params]:
        with self._cond:
            return copied(self._ws.top_level(channel_id))

    def thread(self, channel_id: str, thread_ts: str) -> list[Params]:
        with self._cond:
            return copied(self._ws.replies(channel_id, thread_ts))

    def message(self, channel_id: str, ts: str) -> Params | None:
        with self._cond:
            return copied(self._ws.messages.get(channel_id, {}).get(ts))

    def dm_channel(self, user_id: str) -> str:
        """The id of `user_id`'s direct messages with the bot, opened as their client would."""
        with self._changing():
            return str(self._ws.open_dm(user_id)["id"])

    def direct_messages(self, user_id: str) -> list[Params]:
        """What the bot and `user_id` wrote in their direct messages (the Messages tab)."""
        with self._cond:
            channel_id = self._ws.dms.get(user_id)
            return copied(self._ws.top_level(channel_id)) if channel_id else []

    def ephemerals(self, user_id: str | None = None, channel_id: str | None = None) -> list[Params]:
        with self._cond:
            return copied(
                [
                    e
                    for e in self._ws.ephemerals
                    if user_id in (None, e["recipient"]) and channel_id in (None, e["channel"])
                ]
            )

    def home_view(self, user_id: str) -> Params | None:
        with self._cond:
            return copied(self._ws.views.get(self._ws.home.get(user_id, "")))

    def views(self) -> list[Params]:
        """Every view the bot ever opened or published, open or closed."""
        with self._cond:
            return copied(list(self._ws.views.values()))

    def view(self, view_id: str) -> Params | None:
        with self._cond:
            return copied(self._ws.views.get(view_id))

    def modals(self, user_id: str) -> list[Params]:
        """The modals open for `user_id`, bottom first: the last is the one they see."""
        with self._cond:
            stack = self._ws.modals.get(user_id, [])
            return copied([self._ws.views[v] for v in stack])

    def user(self, user_id: str) -> Params | None:
        with self._cond:
            return copied(self._ws.users.get(user_id))

    def team(self, team_id: str) -> Params | None:
        with self._cond:
            return copied(self._ws.teams.get(team_id))

    def channel(self, channel_id: str) -> Params | None:
        with self._cond:
            found = self._ws.channels.get(channel_id)
            return (
                None
                if found is None
                else {**self._ws.conversation(found, True), "members": list(found["members"])}
            )

    def new_response_url(
        self,
        channel_id: str,
        user_id: str,
        *,
        message_ts: str | None = None,
        thread_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """`message_ts` is the message a click came from: what `replace_original` replaces."""
        original = (("ephemeral" if ephemeral else "message"), message_ts) if message_ts else None
        token = secrets.token_urlsafe(18)
        base_url = self.base_url
        with self._cond:
            self._ws.response_urls[token] = ResponseUrl(
                channel_id, user_id, self._ws.seconds(), thread_ts, original
            )
        return f"{base_url}/response/{token}"

    def new_trigger_id(self, user_id: str = "") -> str:
        """`user_id` is whose click it stands for: a modal opened with it shows to them."""
        with self._cond:
            return self._ws.issue_trigger(user_id)

    # --- transcripts ----------------------------------------------------------------------

    def render_mrkdwn(self, text: str, zone: str | None = None) -> str:
        """`zone`: where dates are shown (their fallback text without one)."""
        with self._cond:
            users = {uid: u["name"] for uid, u in self._ws.users.items()}
            channels = {cid: c["name"] for cid, c in self._ws.channels.items()}
        return transcript.render_mrkdwn(text, users, channels, zone)

    def message_text_for_transcript(self, message: Mapping[str, Any]) -> str:
        """Blocks as lines (buttons as `[Label]`, inputs as `Label: value`), else `text`; a
        modal also shows its title and buttons. Still mrkdwn: pass the result through
        `render_mrkdwn` for plain text (rendering twice would unescape twice)."""
        return transcript.blocks_text(message)

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Holds the lock for a state change, then wakes `wait_for` callers."""
        with self._cond:
            yield
            self._cond.notify_all()
