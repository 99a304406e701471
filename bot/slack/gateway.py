"""The one place that calls the Slack Web API. Failures become `DeliveryError`s, which tell
the outbox whether and when to try again."""

from __future__ import annotations

import functools
import urllib.error
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.slack.rendering import RenderedMessage

# Slack answers these when retrying could help.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# These clear up once a person acts (invites the bot, unarchives the channel): keep trying.
NEEDS_PERSON_ERRORS = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
POST_EVENT_TYPE = "sayso_post"

T = TypeVar("T")


class DeliveryError(Exception):
    """Slack did not take a call: whether a retry can mend it, and when to try again."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        needs_person: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        # Slack refuses until someone acts (invites the bot): retry slowly, and say so.
        self.needs_person = needs_person


def make_client(token: str | None, base_url: str = "", timeout: int = 10) -> WebClient:
    if base_url:
        return WebClient(token=token, base_url=base_url, timeout=timeout)
    return WebClient(token=token, timeout=timeout)


class SlackGateway:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(
        self,
        channel: str,
        message: RenderedMessage,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> str:
        """Post a message; `key` goes into its metadata so `find_post` can find it again."""
        metadata = {"event_type": POST_EVENT_TYPE, "event_payload": {"key": key}} if key else None
        response = self._call(
            lambda: self._client.chat_postMessage(
                channel=channel,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata=metadata,
            )
        )
        return str(response["ts"])

    def find_post(self, channel: str, thread_ts: str | None, key: str) -> str | None:
        """The ts of our earlier post carrying `key`, if Slack took it before we crashed."""
        if thread_ts:
            found: Any = self._call(
                functools.partial(
                    self._client.conversations_replies,
                    channel=channel,
                    ts=thread_ts,
                    limit=200,
                    include_all_metadata=True,
                )
            )
        else:
            found = self._call(
                functools.partial(
                    self._client.conversations_history,
                    channel=channel,
                    limit=100,
                    include_all_metadata=True,
                )
            )
        for message in found.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return str(message["ts"])
        return None

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Every message of a thread, parent first (conversations.replies, all pages)."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page: Any = self._call(
                functools.partial(
                    self._client.conversations_replies,
                    channel=channel,
                    ts=thread_ts,
                    limit=200,
                    cursor=cursor,
                )
            )
            messages.extend(page.get("messages", []))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return messages

    def respond(self, response_url: str, message: RenderedMessage) -> None:
        """Answer through a command's or shortcut's response_url (works where we cannot post)."""
        try:
            response = WebhookClient(response_url, timeout=10).send(
                text=message.text,
                blocks=message.blocks,
                response_type="ephemeral",
                replace_original=False,
            )
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            raise DeliveryError(f"network: {error}") from error
        if response.status_code == 404:
            raise DeliveryError("response_url expired", permanent=True)
        if response.status_code >= 400:
            raise DeliveryError(f"response_url http {response.status_code}")

    def update(self, channel: str, ts: str, message: RenderedMessage) -> None:
        self._call(
            lambda: self._client.chat_update(
                channel=channel, ts=ts, text=message.text, blocks=message.blocks
            )
        )

    def post_ephemeral(
        self, channel: str, user: str, message: RenderedMessage, thread_ts: str | None = None
    ) -> None:
        self._call(
            lambda: self._client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
            )
        )

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call(lambda: self._client.views_open(trigger_id=trigger_id, view=view))

    def send_dm(self, user: str, message: RenderedMessage) -> str:
        channel: Any = self._call(lambda: self._client.conversations_open(users=user))
        return self.post(channel["channel"]["id"], message)

    def send_file(self, user: str, filename: str, content: bytes, comment: str) -> None:
        """A file in the person's direct messages with the bot."""
        channel: Any = self._call(lambda: self._client.conversations_open(users=user))
        self._call(
            lambda: self._client.files_upload_v2(
                channel=channel["channel"]["id"],
                content=content,
                filename=filename,
                title=filename,
                initial_comment=comment,
            )
        )

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self._call(lambda: self._client.views_publish(user_id=user, view=view))

    def permalink(self, channel: str, ts: str) -> str:
        response = self._call(
            lambda: self._client.chat_getPermalink(channel=channel, message_ts=ts)
        )
        return str(response["permalink"])

    def user_info(self, user: str) -> dict[str, Any]:
        response = self._call(lambda: self._client.users_info(user=user, include_locale=True))
        return dict(response["user"])

    def team_name(self, team: str) -> str:
        return str(self.team_info(team)["name"])

    def channel_name(self, channel: str) -> str:
        """The channel's name without '#' (conversations.info)."""
        response = self._call(lambda: self._client.conversations_info(channel=channel))
        return str(response["channel"]["name"])

    def team_info(self, team: str) -> dict[str, Any]:
        """The team's name, and `enterprise_id` when it is part of an Enterprise Grid."""
        response = self._call(lambda: self._client.team_info(team=team))
        return dict(response["team"])

    def channel_members(self, channel: str) -> set[str]:
        members: set[str] = set()
        cursor: str | None = None
        while True:
            page: Any = self._call(
                functools.partial(
                    self._client.conversations_members, channel=channel, cursor=cursor, limit=200
                )
            )
            members.update(page["members"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members

    def user_channels(self, user: str) -> set[str]:
        """The channels `user` is in that the bot can see (users.conversations, all pages):
        public ones, and private ones the bot is in too, which is where records are kept.
        (Group and direct messages would need the im:read and mpim:read scopes.)"""
        channels: set[str] = set()
        cursor: str | None = None
        while True:
            page: Any = self._call(
                functools.partial(
                    self._client.users_conversations,
                    user=user,
                    types="public_channel,private_channel",
                    cursor=cursor,
                    limit=999,
                )
            )
            channels.update(channel["id"] for channel in page["channels"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return channels

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by its ts, whether it starts a thread or is a reply in one."""
        history = self._call(
            lambda: self._client.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
            )
        )
        messages: list[dict[str, Any]] = history.get("messages", [])
        for message in messages:
            if message.get("ts") == ts:
                return dict(message)
        replies = self._call(
            lambda: self._client.conversations_replies(channel=channel, ts=ts, limit=1)
        )
        thread: list[dict[str, Any]] = replies.get("messages", [])
        found = [m for m in thread if m.get("ts") == ts]
        return dict(found[0]) if found else None

    @staticmethod
    def _call(request: Callable[[], T]) -> T:
        try:
            return request()
        except SlackApiError as error:
            raise _as_delivery_error(error) from error
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            raise DeliveryError(f"network: {error}") from error


def _as_delivery_error(error: SlackApiError) -> DeliveryError:
    response: Any = error.response
    status = getattr(response, "status_code", 0)
    code = response.get("error", "") if hasattr(response, "get") else ""
    if status == 429:
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return DeliveryError("ratelimited", retry_after=float(retry_after or 1))
    if status >= 500:
        return DeliveryError(f"http {status}")
    if code in NEEDS_PERSON_ERRORS:
        return DeliveryError(code, needs_person=True)
    return DeliveryError(code or f"http {status}", permanent=code not in TRANSIENT_ERRORS)
