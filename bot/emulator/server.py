"""A local stand-in for Slack's Web API: workspace state behind a real HTTP server on loopback.

Tests and the demo point slack_sdk at `SlackEmulator.api_url`; everything the bot sends is kept
in the call log and the message store, so assertions read what Slack would have received.
"""

from __future__ import annotations

import copy
import inspect
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

from bot.emulator import transcript
from bot.emulator.calls import ApiCall, CallLog, Fault
from bot.emulator.errors import MethodError, Params
from bot.emulator.handlers import respond
from bot.emulator.methods import METHODS, check_params, spec_params
from bot.emulator.transport import LoopbackServer, Reply, bearer, parse_params
from bot.emulator.workspace import Clock, ResponseUrl, Workspace


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
        self._log = CallLog(self._cond)
        self._stopping = threading.Event()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self.add_team(team_id, team_name, domain)
        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        self._ws.users[bot_user_id]["profile"]["bot_id"] = bot_id

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        self._stopping.clear()
        self._server = LoopbackServer(self)
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
        return transcript.render_mrkdwn(text, users, channels)

    def message_text_for_transcript(self, message: Mapping[str, Any]) -> str:
        """Blocks as lines (buttons as `[Label]`), else `text`; still mrkdwn: pass the result
        through `render_mrkdwn` for plain text (rendering twice would unescape twice)."""
        return transcript.blocks_text(message)

    # --- call log, faults, waiting --------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        return self._log.calls(method)

    def clear_calls(self) -> None:
        self._log.clear()

    def subscribe(self, callback: Callable[[ApiCall], None]) -> Callable[[], None]:
        """Returns a function that unsubscribes."""
        return self._log.subscribe(callback)

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
        self._log.queue_fault(method, Fault(status, error, retry_after, delay, times))

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
        return f"condition never held within {timeout}s: {what}\nlast calls:\n{self._log.recent(5)}"

    # --- request handling -----------------------------------------------------------------

    def dispatch(self, path: str, headers: Message, body: bytes) -> Reply:
        url = urlsplit(path)
        if url.path.startswith("/api/"):
            return self._api(url.path.removeprefix("/api/"), headers, body, url.query)
        if url.path.startswith("/response/"):
            return self._response_url(url.path.removeprefix("/response/"), body)
        return Reply(404, {"ok": False, "error": "not_found"})

    def publish(self, call: ApiCall) -> None:
        self._log.publish(call)

    def _api(self, method: str, headers: Message, body: bytes, query: str) -> Reply:
        try:
            params = parse_params(headers.get("Content-Type", ""), body, query)
        except MethodError as e:
            return self._record(method, {}, 200, e.payload())
        token = bearer(headers) or params.get("token")
        params.pop("token", None)
        fault = self._log.take_fault(method)
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
        fault = self._log.take_fault("response_url")
        if fault is not None:
            return self._answer_fault("response_url", params, fault)
        with self._cond:
            try:
                return self._record("response_url", params, 200, respond(self._ws, token, params))
            except MethodError as e:
                return self._record("response_url", params, 404, e.payload())

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
        self._log.add(call)
        return Reply(status, payload, headers or {}, call)

    @contextmanager
    def _changing(self) -> Iterator[None]:
        """Holds the lock for a state change, then wakes `wait_for` callers."""
        with self._cond:
            yield
            self._cond.notify_all()


def _auth_error(token: str | None) -> str:
    return "not_authed" if not token else "invalid_auth"
