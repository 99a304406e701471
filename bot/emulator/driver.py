"""Plays Slack towards the bot: the signed HTTP requests Slack sends when people act.

Every request goes over loopback to the bot's real endpoint and is signed for real, so the
bot's own request verification runs exactly as in production.

A driver acts in one workspace: the emulator itself (the first) or a `Tenant` from
`SlackEmulator.add_workspace`. Its payloads carry that workspace's team id and domain
(`team_id` in commands, `team.id` in interactivity, `team_id` and `authorizations` in events),
which is what Bolt resolves the installation by. `install` plays the person's browser through
"Add to Slack" (browser.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from bot.emulator import browser, modals
from bot.emulator.modals import Values
from bot.emulator.state import EmulatorState
from bot.emulator.wire import DriverResponse

Payload = dict[str, Any]
FORM = "application/x-www-form-urlencoded"


class SlackDriver:
    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        emulator: EmulatorState,
        api_app_id: str | None = None,
        *,
        verification_token: str = "emulator-verification-token",
        timeout: float = 10.0,
        signing_clock: Callable[[], float] = time.time,
    ) -> None:
        """`signing_clock` stamps X-Slack-Request-Timestamp. It is wall time, not the emulator's
        clock, because Bolt checks freshness against wall time; payload times (event_time,
        action_ts) do follow the emulator's clock. `emulator` is the workspace people act in;
        `api_app_id` defaults to its app's id."""
        url = urlsplit(app_url)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"app_url must be a plain http URL on loopback, not {app_url!r}")
        self.app_url = app_url
        self.api_app_id = api_app_id or emulator.app_id
        self.verification_token = verification_token
        self.timeout = timeout
        self._host, self._port = url.hostname, url.port or 80
        self._path = url.path or "/"
        self._secret = signing_secret
        self._verifier = SignatureVerifier(signing_secret)
        self._emulator = emulator
        self._signing_clock = signing_clock

    # --- people's words -------------------------------------------------------------------

    def mention(self, user_id: str) -> str:
        """A mention as Slack writes it into command text when `should_escape` is on."""
        return f"<@{user_id}|{self._user(user_id)['name']}>"

    def command(
        self, user_id: str, channel_id: str, text: str, command: str = "/confirm"
    ) -> DriverResponse:
        user, channel = self._user(user_id), self._channel(channel_id)
        fields = {
            "token": self.verification_token,
            "team_id": self._emulator.team_id,
            "team_domain": self._emulator.domain,
            "channel_id": channel_id,
            "channel_name": channel["name"],
            "user_id": user_id,
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": self._emulator.new_response_url(channel_id, user_id),
            "trigger_id": self._emulator.new_trigger_id(user_id),
        }
        return self.send_raw(urlencode(fields).encode(), FORM)

    def say(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        thread_ts: str | None = None,
        blocks: list[Payload] | None = None,
    ) -> tuple[Payload, DriverResponse]:
        """Posts as a person (into the emulator) and delivers the matching `message` event;
        `blocks`: the rich_text Slack's composer sends with the text."""
        message = self._emulator.post_user_message(user_id, channel_id, text, thread_ts, blocks)
        channel = self._channel(channel_id)
        kind = "im" if channel.get("is_im") else "group" if channel["is_private"] else "channel"
        event = {**message, "channel": channel_id, "event_ts": message["ts"], "channel_type": kind}
        return message, self.event(event)

    def edit(self, user_id: str, channel_id: str, ts: str, new_text: str) -> DriverResponse:
        """Edits a person's own message and delivers `message_changed`."""
        return self.event(self._emulator.edit_user_message(user_id, channel_id, ts, new_text))

    def delete(self, user_id: str, channel_id: str, ts: str) -> DriverResponse:
        """Deletes a person's own message and delivers `message_deleted` (a thread's parent
        with replies becomes a tombstone instead, delivered as `message_changed`)."""
        return self.event(self._emulator.delete_user_message(user_id, channel_id, ts))

    def react(self, user_id: str, channel_id: str, ts: str, name: str = "memo") -> DriverResponse:
        """Adds a person's reaction to a message and delivers `reaction_added`."""
        return self.event(self._emulator.add_user_reaction(user_id, channel_id, ts, name))

    def change_user(self, user_id: str, **changes: Any) -> DriverResponse:
        """A person changes their name, time zone or language (`locale="zh-CN"`) in Slack;
        delivers `user_change`."""
        return self.event(self._emulator.change_user(user_id, **changes))

    def open_home(self, user_id: str, tab: str = "home") -> DriverResponse:
        """A person opens the bot's App Home; delivers `app_home_opened`."""
        return self.event(self._emulator.open_app_home(user_id, tab))

    def event(
        self,
        event: Mapping[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        event_time: int | None = None,
    ) -> DriverResponse:
        team_id = self._emulator.team_id
        enterprise_id = self._emulator.enterprise_id
        where = event.get("channel") or (event.get("item") or {}).get("channel")
        channel = self._emulator.channel(str(where or ""))
        context = json.dumps({"team": team_id, "app": self.api_app_id}).encode()
        envelope = {
            "token": self.verification_token,
            "team_id": team_id,
            "context_team_id": team_id,
            "context_enterprise_id": enterprise_id,
            "api_app_id": self.api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": event_time if event_time is not None else int(self._now()),
            "authorizations": [
                {
                    "enterprise_id": enterprise_id,
                    "team_id": team_id,
                    "user_id": self._emulator.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": bool(channel and channel["is_ext_shared"]),
            "event_context": "4-" + base64.urlsafe_b64encode(context).decode(),
        }
        if enterprise_id:
            envelope["enterprise_id"] = enterprise_id  # a workspace of an Enterprise Grid
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send_raw(json.dumps(envelope).encode(), "application/json", headers=headers)

    # --- installing -----------------------------------------------------------------------

    def install(
        self,
        user_id: str,
        *,
        approve: bool = True,
        app_base_url: str | None = None,
        install_path: str = "/slack/install",
    ) -> DriverResponse:
        """`user_id` adds the app to this driver's workspace through the app's install page
        (`app_base_url` defaults to where the driver sends events) and the emulator's consent
        page; returns the app's answer at its redirect URL. `approve=False` clicks Cancel."""
        base = app_base_url or f"http://{self._host}:{self._port}"
        return browser.install(
            base,
            self._emulator.team_id,
            user_id,
            approve=approve,
            install_path=install_path,
            slack_base_url=self._emulator.base_url,
            timeout=self.timeout,
        )

    # --- interactivity --------------------------------------------------------------------

    def click(
        self,
        user_id: str,
        channel_id: str,
        message_ts: str,
        action_id: str,
        *,
        value: str | None = None,
        message: Mapping[str, Any] | None = None,
    ) -> DriverResponse:
        """Clicks a button that the message really shows; `value` picks among look-alikes.

        `message` is a copy the user's client still shows (stale after an update), to click
        what was on screen rather than what is stored now; it must be that message.
        """
        shown, ephemeral = self._shown_message(user_id, channel_id, message_ts)
        if message is not None and message.get("ts") != message_ts:
            raise AssertionError(f"the message given is {message.get('ts')}, not {message_ts}")
        message = dict(message) if message is not None else shown
        block_id, button = _find_button(message, action_id, value)
        thread_ts = message.get("thread_ts")
        container: Payload = {"type": "message", "message_ts": message_ts}
        container.update(channel_id=channel_id, is_ephemeral=ephemeral)
        if thread_ts and thread_ts != message_ts:
            container["thread_ts"] = thread_ts
        action = {"action_id": action_id, "block_id": block_id, "text": button["text"]}
        action.update({k: button[k] for k in ("value", "style") if k in button})
        action.update(type="button", action_ts=self._action_ts())
        payload = self._interaction("block_actions", user_id, channel_id)
        payload.update(container=container, state={"values": {}}, actions=[action])
        if not ephemeral:
            payload["message"] = message  # Slack leaves it out for ephemeral messages
        payload["response_url"] = self._emulator.new_response_url(
            channel_id, user_id, message_ts=message_ts, thread_ts=thread_ts, ephemeral=ephemeral
        )
        return self._send_payload(payload)

    def click_home(
        self,
        user_id: str,
        action_id: str,
        *,
        value: str | None = None,
        view: Mapping[str, Any] | None = None,
    ) -> DriverResponse:
        """Clicks a button on the App Home tab `user_id` sees (or on `view`, a copy their client
        still shows, stale after a publish). As Slack sends it: the container is the view,
        and there is no channel, message or response_url."""
        shown = self._emulator.home_view(user_id)
        if shown is None:
            raise AssertionError(f"{user_id} has no Home tab published to click on")
        if view is not None and view.get("id") != shown["id"]:
            raise AssertionError(f"the view given is {view.get('id')}, not {shown['id']}")
        view = dict(view) if view is not None else shown
        block_id, button = _find_button(view, action_id, value)
        action = {"action_id": action_id, "block_id": block_id, "text": button["text"]}
        action.update({k: button[k] for k in ("value", "style") if k in button})
        action.update(type="button", action_ts=self._action_ts())
        payload = self._interaction("block_actions", user_id, None)
        payload.update(container={"type": "view", "view_id": view["id"]}, view=view)
        payload.update(state={"values": {}}, actions=[action])
        return self._send_payload(payload)

    def shortcut(self, user_id: str, callback_id: str) -> DriverResponse:
        """A global shortcut (from the lightning menu)."""
        payload = self._interaction("shortcut", user_id, None)
        payload.update(callback_id=callback_id, action_ts=self._action_ts())
        return self._send_payload(payload)

    def message_shortcut(
        self, user_id: str, channel_id: str, message_ts: str, callback_id: str
    ) -> DriverResponse:
        """A shortcut from a message's menu; Slack offers none on ephemeral messages."""
        message = self._emulator.message(channel_id, message_ts)
        if message is None:
            raise AssertionError(f"no message {message_ts} in {channel_id} to take a shortcut on")
        channel = self._channel(channel_id)
        if channel["is_private"] and user_id not in channel["members"]:
            raise AssertionError(f"{user_id} cannot see the private channel {channel_id}")
        payload = self._interaction("message_action", user_id, channel_id)
        payload.update(callback_id=callback_id, message_ts=message_ts, message=message)
        payload.update(action_ts=self._action_ts())
        payload["response_url"] = self._emulator.new_response_url(channel_id, user_id)
        return self._send_payload(payload)

    def submit_view(
        self, user_id: str, view_id: str, values: Values | None = None
    ) -> DriverResponse:
        """Submits the modal `user_id` sees. `values` is block_id -> action_id -> a value-dict
        (`plain_text(...)` and the like) or, for text inputs, the bare text; inputs not given
        keep what the modal shows (initial values at first). Then Slack closes, keeps, updates
        or pushes modals as the bot's answer (`.json()`) says: see `emulator.modals(user_id)`."""
        view = self._emulator.shown_modal(user_id, view_id)
        state = self._emulator.submission_state(view, values or {})
        view["state"] = {"values": state}
        payload = self._interaction("view_submission", user_id, None)
        payload.update(view=view, response_urls=[])
        answer = self._send_payload(payload)
        self._emulator.settle_submission(user_id, view_id, state, answer.status, answer.json())
        return answer

    view_submission = submit_view  # the earlier name

    # What each kind of modal input holds once filled in, for `submit_view`'s values.
    plain_text = staticmethod(modals.plain_text)
    multi_users = staticmethod(modals.multi_users)
    users_select = staticmethod(modals.users_select)
    static_select = staticmethod(modals.static_select)
    datepicker = staticmethod(modals.datepicker)
    timepicker = staticmethod(modals.timepicker)

    # --- the wire -------------------------------------------------------------------------

    def send_raw(
        self,
        body: bytes,
        content_type: str,
        *,
        sign: bool = True,
        timestamp: float | str | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> DriverResponse:
        """Any body, signed unless told otherwise; for the bad-input tests as well."""
        stamp = str(int(float(timestamp if timestamp is not None else self._signing_clock())))
        sent = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp}
        sent["User-Agent"] = "Slackbot 1.0 (+https://api.slack.com/robots)"
        if signature is not None or sign:
            sent["X-Slack-Signature"] = signature or self._sign(stamp, body)
        sent.update(headers or {})
        # http.client straight to loopback: no proxy from the environment can get in the way.
        connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        try:
            connection.request("POST", self._path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", errors="replace")
            return DriverResponse(response.status, dict(response.getheaders()), text)
        finally:
            connection.close()

    def _sign(self, stamp: str, body: bytes) -> str:
        if not self._secret:
            raise ValueError("an empty signing secret cannot sign requests")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            # Slack signs raw bytes; generate_signature only takes text.
            base = b"v0:" + stamp.encode() + b":" + body
            return "v0=" + hmac.new(self._secret.encode(), base, hashlib.sha256).hexdigest()
        return str(self._verifier.generate_signature(timestamp=stamp, body=text))

    def _send_payload(self, payload: Payload) -> DriverResponse:
        return self.send_raw(urlencode({"payload": json.dumps(payload)}).encode(), FORM)

    def _interaction(self, kind: str, user_id: str, channel_id: str | None) -> Payload:
        user = self._user(user_id)
        payload: Payload = {"type": kind, "token": self.verification_token}
        payload["user"] = {"id": user_id, "username": user["name"], "name": user["name"]}
        payload["user"]["team_id"] = user["team_id"]
        trigger_id = self._emulator.new_trigger_id(user_id)
        payload.update(api_app_id=self.api_app_id, trigger_id=trigger_id)
        payload["team"] = {"id": self._emulator.team_id, "domain": self._emulator.domain}
        payload.update(enterprise=None, is_enterprise_install=False)
        if channel_id is not None:
            payload["channel"] = {"id": channel_id, "name": self._channel(channel_id)["name"]}
        return payload

    def _shown_message(self, user_id: str, channel_id: str, ts: str) -> tuple[Payload, bool]:
        message = self._emulator.message(channel_id, ts)
        if message is not None:
            return message, False
        for ephemeral in self._emulator.ephemerals(user_id, channel_id):
            if ephemeral["ts"] == ts:
                return ephemeral, True
        raise AssertionError(f"{user_id} sees no message {ts} in {channel_id}")

    def _user(self, user_id: str) -> Payload:
        user = self._emulator.user(user_id)
        if user is None:
            raise AssertionError(f"unknown user {user_id}: add_user() first")
        return user

    def _channel(self, channel_id: str) -> Payload:
        channel = self._emulator.channel(channel_id)
        if channel is None:
            raise AssertionError(f"unknown channel {channel_id}: add_channel() first")
        return channel

    def _now(self) -> float:
        clock = self._emulator.clock
        return clock.now().timestamp() if clock else time.time()

    def _action_ts(self) -> str:
        return f"{self._now():.6f}"


def _find_button(message: Payload, action_id: str, value: str | None) -> tuple[str, Payload]:
    shown = []
    for block in message.get("blocks") or []:
        elements = [*block.get("elements", []), block.get("accessory") or {}]
        for element in elements:
            if element.get("type") != "button":
                continue
            shown.append((element.get("action_id"), element.get("value")))
            if element.get("action_id") == action_id and value in (None, element.get("value")):
                return str(block.get("block_id", "")), element
    raise AssertionError(
        f"{message.get('ts') or message.get('id')} shows no button {action_id!r}"
        + (f" with value {value!r}" if value is not None else "")
        + f"; buttons shown (action_id, value): {shown}"
    )
