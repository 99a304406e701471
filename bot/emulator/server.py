"""A local stand-in for Slack's Web API: workspace state behind a real HTTP server on loopback.

Tests and the demo point slack_sdk at `SlackEmulator.api_url`; everything the bot sends is kept
in the call log and the message store, so assertions read what Slack would have received.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from bot.emulator.methods import (
    METHODS,
    MethodError,
    Params,
    blocks_text,
    check_params,
    render_mrkdwn,
    respond,
    spec_params,
)

_log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: Params
    status: int
    response: Params
    at: datetime
    faulted: bool = False


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
    triggers: dict[str, float] = field(default_factory=dict)
    response_urls: dict[str, ResponseUrl] = field(default_factory=dict)
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
        return f"{prefix}0EMU{self.seq:06d}"

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
            "is_channel": True,
            "is_group": False,
            "is_im": False,
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
            message["metadata"] = copy.deepcopy(metadata)
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}

    def top_level(self, channel_id: str) -> list[Params]:
        return [
            m
            for m in self.messages.get(channel_id, {}).values()
            if not _is_reply(m) or m.get("subtype") == "thread_broadcast"
        ]

    def replies(self, channel_id: str, thread_ts: str) -> list[Params]:
        return [
            m
            for m in self.messages.get(channel_id, {}).values()
            if _is_reply(m) and m["thread_ts"] == thread_ts
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

    def issue_trigger(self) -> str:
        self.seq += 1
        trigger_id = f"{self.seq:011d}.{secrets.randbelow(10**9):09d}.{secrets.token_hex(16)}"
        self.triggers[trigger_id] = self._trigger_clock()
        return trigger_id

    def use_trigger(self, trigger_id: str) -> None:
        issued = self.triggers.pop(trigger_id, None)
        if issued is None or self._trigger_clock() - issued > 3.0:
            raise MethodError("expired_trigger_id")

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
        self, body: Params, *, replacing: Params | None = None, hash_: Any = None
    ) -> Params:
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
        view.update(root_view_id=replacing["root_view_id"] if replacing else view_id)
        view.update(body, hash=f"{int(self.seconds())}.{secrets.token_hex(4)}")
        self.views[view_id] = view
        return copy.deepcopy(view)


def _is_reply(message: Params) -> bool:
    return message.get("thread_ts", message["ts"]) != message["ts"]


# Form bodies carry these as JSON strings; slack_sdk may send them either way.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}


def parse_params(content_type: str, body: bytes, query: str) -> Params:
    params: Params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if body and "application/json" in content_type:
        try:
            data = json.loads(body)
        except ValueError as e:
            raise MethodError("invalid_json") from e
        if not isinstance(data, dict):
            raise MethodError("json_not_object")
        params.update(data)
    elif body:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as e:
            raise MethodError("invalid_charset") from e
        params.update({k: v[-1] for k, v in form.items()})
    for name, error in _JSON_FIELDS.items():
        if isinstance(params.get(name), str) and params[name].strip():
            try:
                params[name] = json.loads(params[name])
            except ValueError as e:
                raise MethodError(error) from e
    return params


@dataclass
class Fault:
    status: int
    error: str | None
    retry_after: int | None
    delay: float | None
    remaining: int

    def payload(self) -> tuple[Params, dict[str, str]]:
        if self.status == 429:
            return {"ok": False, "error": "ratelimited"}, {
                "Retry-After": str(self.retry_after or 1)
            }
        default = {200: "request_timeout", 503: "service_unavailable"}.get(self.status)
        return {"ok": False, "error": self.error or default or "internal_error"}, {}


@dataclass
class Reply:
    status: int
    payload: Params
    headers: dict[str, str] = field(default_factory=dict)
    call: ApiCall | None = None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: SlackEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.emulator.dispatch(self.path, self.headers, body)
        if reply.call is not None:
            # Before answering, so whoever gets the answer knows observers have seen the call.
            self.server.emulator.publish(reply.call)
        data = json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: the point of a delay fault

    do_GET = do_POST  # Slack accepts GET with query parameters for most methods

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the call log is the record; stderr noise would drown test output


def _bearer(headers: Message) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme == "Bearer" else None


class SlackEmulator:
    def __init__(
        self,
        team_id: str = "T0SAYSO01",
        team_name: str = "Acme Networks",
        domain: str = "acme",
        bot_token: str = "xoxb-emulator-token",
        bot_user_id: str = "U0SAYSOBOT",
        bot_name: str = "sayso",
        clock: Clock | None = None,
        *,
        bot_id: str = "B0SAYSOBOT",
        app_id: str = "A0SAYSO01",
        strict_params: bool = True,
    ) -> None:
        self.bot_token = bot_token
        self.strict_params = strict_params
        self._ws = Workspace(team_id, domain, bot_user_id, bot_id, app_id, bot_name, clock)
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[ApiCall] = []
        self._faults: dict[str, list[Fault]] = {}
        self._subscribers: list[Callable[[ApiCall], None]] = []
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_team(team_id, team_name, domain)
        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        self._ws.users[bot_user_id]["profile"]["bot_id"] = bot_id

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        self._stopping.clear()
        self._server = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers so shutdown never waits for them
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

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
    def clock(self) -> Clock | None:
        return self._ws.clock

    # --- workspace setup ------------------------------------------------------------------

    def add_team(self, team_id: str, name: str, domain: str) -> None:
        with self._changing():
            self._ws.teams[team_id] = {"id": team_id, "name": name, "domain": domain}

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
            return copy.deepcopy(user)

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
        people = [m for m in members or [] if m != self.bot_user_id]
        channel: Params = {"id": channel_id, "name": name, "is_private": is_private}
        channel.update(is_shared=is_shared, created=int(self._ws.seconds()))
        channel["members"] = [*people, self.bot_user_id] if bot_is_member else people
        channel["creator"] = people[0] if people else self.bot_user_id
        with self._changing():
            self._ws.channels[channel_id] = channel
            self._ws.messages.setdefault(channel_id, {})
            return self._ws.conversation(channel)

    def post_user_message(
        self, user_id: str, channel_id: str, text: str, thread_ts: str | None = None
    ) -> Params:
        with self._changing():
            user = self._ws.users.get(user_id)
            channel = self._ws.channels.get(channel_id)
            if user is None or channel is None or user_id not in channel["members"]:
                raise ValueError(f"{user_id} cannot post in {channel_id}: add both, as a member")
            message = {"type": "message", "user": user_id, "text": text, "team": user["team_id"]}
            message["client_msg_id"] = secrets.token_hex(16)
            try:
                stored = self._ws.store_message(channel_id, message, thread_ts)
            except MethodError as e:
                raise ValueError(f"no message {thread_ts} in {channel_id} to reply to") from e
            return copy.deepcopy(stored)

    # --- accessors (deep copies, so tests cannot corrupt the store) -----------------------

    def messages(self, channel_id: str) -> list[Params]:
        with self._cond:
            return copy.deepcopy(self._ws.top_level(channel_id))

    def thread(self, channel_id: str, thread_ts: str) -> list[Params]:
        with self._cond:
            return copy.deepcopy(self._ws.replies(channel_id, thread_ts))

    def message(self, channel_id: str, ts: str) -> Params | None:
        with self._cond:
            return copy.deepcopy(self._ws.messages.get(channel_id, {}).get(ts))

    def ephemerals(self, user_id: str | None = None, channel_id: str | None = None) -> list[Params]:
        with self._cond:
            return copy.deepcopy(
                [
                    e
                    for e in self._ws.ephemerals
                    if user_id in (None, e["recipient"]) and channel_id in (None, e["channel"])
                ]
            )

    def home_view(self, user_id: str) -> Params | None:
        with self._cond:
            return copy.deepcopy(self._ws.views.get(self._ws.home.get(user_id, "")))

    def views(self) -> list[Params]:
        with self._cond:
            return copy.deepcopy(list(self._ws.views.values()))

    def user(self, user_id: str) -> Params | None:
        with self._cond:
            return copy.deepcopy(self._ws.users.get(user_id))

    def channel(self, channel_id: str) -> Params | None:
        with self._cond:
            found = self._ws.channels.get(channel_id)
            return (
                None
                if found is None
                else {**self._ws.conversation(found, True), "members": list(found["members"])}
            )

    # --- interactivity --------------------------------------------------------------------

    def new_trigger_id(self) -> str:
        with self._cond:
            return self._ws.issue_trigger()

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
        with self._cond:
            self._ws.response_urls[token] = ResponseUrl(
                channel_id, user_id, self._ws.seconds(), thread_ts, original
            )
        return f"{self.base_url}/response/{token}"

    # --- transcripts ----------------------------------------------------------------------

    def render_mrkdwn(self, text: str) -> str:
        with self._cond:
            users = {uid: u["name"] for uid, u in self._ws.users.items()}
            channels = {cid: c["name"] for cid, c in self._ws.channels.items()}
        return render_mrkdwn(text, users, channels)

    def message_text_for_transcript(self, message: Mapping[str, Any]) -> str:
        """Blocks as lines (buttons as `[Label]`), else `text`; still mrkdwn: pass the result
        through `render_mrkdwn` for plain text (rendering twice would unescape twice)."""
        return blocks_text(message)

    # --- call log, faults, waiting --------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._cond:
            return [copy.deepcopy(c) for c in self._calls if method in (None, c.method)]

    def clear_calls(self) -> None:
        with self._cond:
            self._calls.clear()

    def subscribe(self, callback: Callable[[ApiCall], None]) -> Callable[[], None]:
        """Returns a function that unsubscribes."""
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                self._subscribers.remove(callback)

        return unsubscribe

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float | None = None,
        times: int = 1,
    ) -> None:
        if status == 200 and error is None and delay is None:
            raise ValueError("fail() needs a non-200 status, an error or a delay")
        with self._cond:
            fault = Fault(status, error, retry_after, delay, times)
            self._faults.setdefault(method, []).append(fault)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_report(predicate, timeout))
                # Re-check now and then too: the predicate may read state outside the emulator.
                self._cond.wait(min(remaining, 0.05))

    def _timeout_report(self, predicate: Callable[[], bool], timeout: float) -> str:
        try:
            what = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            what = repr(predicate)
        recent = [f"  {c.method} -> {c.status} {json.dumps(c.response)[:200]}" for c in self._calls]
        shown = "\n".join(recent[-5:]) or "  (no calls)"
        return f"condition never held within {timeout}s: {what}\nlast calls:\n{shown}"

    # --- request handling -----------------------------------------------------------------

    def dispatch(self, path: str, headers: Message, body: bytes) -> Reply:
        url = urlsplit(path)
        if url.path.startswith("/api/"):
            return self._api(url.path.removeprefix("/api/"), headers, body, url.query)
        if url.path.startswith("/response/"):
            return self._response_url(url.path.removeprefix("/response/"), body)
        return Reply(404, {"ok": False, "error": "not_found"})

    def publish(self, call: ApiCall) -> None:
        with self._cond:
            callbacks = list(self._subscribers)
        for callback in callbacks:
            try:
                callback(call)
            except Exception:  # an observer's bug must not turn into a Slack failure for the bot
                _log.exception("emulator subscriber %r failed on %s", callback, call.method)

    def _api(self, method: str, headers: Message, body: bytes, query: str) -> Reply:
        try:
            params = parse_params(headers.get("Content-Type", ""), body, query)
        except MethodError as e:
            return self._record(method, {}, 200, e.payload())
        token = _bearer(headers) or params.get("token")
        params.pop("token", None)
        fault = self._take_fault(method)
        if fault is not None:
            return self._answer_fault(method, params, fault)
        if method not in METHODS:
            known = "exists in Slack but is not emulated" if method in spec_params() else "unknown"
            error = {"ok": False, "error": "unknown_method", "warning": f"{method} {known}"}
            return self._record(method, params, 404, error)
        if token != self.bot_token:
            return self._record(method, params, 200, {"ok": False, "error": _auth_error(token)})
        with self._cond:
            try:
                check_params(method, params, strict=self.strict_params)
                return self._record(method, params, 200, METHODS[method].handler(self._ws, params))
            except MethodError as e:
                return self._record(method, params, 200, e.payload())
            except Exception:  # an emulator bug must reach the test, not hang the client
                trace = traceback.format_exc(limit=3).splitlines()
                error = {
                    "ok": False,
                    "error": "fatal_error",
                    "response_metadata": {"messages": trace},
                }
                return self._record(method, params, 500, error)

    def _response_url(self, token: str, body: bytes) -> Reply:
        try:
            params = parse_params("application/json", body, "")
        except MethodError as e:
            return self._record("response_url", {}, 400, e.payload())
        fault = self._take_fault("response_url")
        if fault is not None:
            return self._answer_fault("response_url", params, fault)
        with self._cond:
            try:
                return self._record("response_url", params, 200, respond(self._ws, token, params))
            except MethodError as e:
                return self._record("response_url", params, 404, e.payload())

    def _take_fault(self, method: str) -> Fault | None:
        with self._cond:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def _answer_fault(self, method: str, params: Params, fault: Fault) -> Reply:
        payload, headers = fault.payload()
        # Logged before the delay, so a test can wait_for the call while the client hangs.
        reply = self._record(method, params, fault.status, payload, headers, faulted=True)
        if fault.delay:
            self._stopping.wait(fault.delay)
        return reply

    def _record(
        self,
        method: str,
        params: Params,
        status: int,
        payload: Params,
        headers: dict[str, str] | None = None,
        faulted: bool = False,
    ) -> Reply:
        logged = copy.deepcopy((params, payload))
        call = ApiCall(method, logged[0], status, logged[1], self._ws.now(), faulted)
        with self._changing():
            self._calls.append(call)
        return Reply(status, payload, headers or {}, call)

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Holds the lock for a state change, then wakes `wait_for` callers."""
        with self._cond:
            yield
            self._cond.notify_all()


def _auth_error(token: str | None) -> str:
    return "not_authed" if not token else "invalid_auth"
