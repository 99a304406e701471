"""A local stand-in for Slack's Web API: workspace state behind a real HTTP server on loopback.

Tests and the demo point slack_sdk at `SlackEmulator.api_url`; everything the bot sends is kept
in the call log and the message store, so assertions read what Slack would have received. The
workspace side (setup, accessors, people's actions) is `EmulatorState`, in state.py.
"""

from __future__ import annotations

import copy
import inspect
import secrets
import threading
import time
import traceback
from collections.abc import Callable
from email.message import Message
from urllib.parse import urlsplit

from bot.emulator import files
from bot.emulator.calls import ApiCall, CallLog, Fault
from bot.emulator.errors import MethodError, Params
from bot.emulator.handlers import respond
from bot.emulator.methods import METHODS, check_params, spec_params
from bot.emulator.state import EmulatorState
from bot.emulator.transport import LoopbackServer, Reply, bearer, parse_params
from bot.emulator.workspace import Clock, ResponseUrl


class SlackEmulator(EmulatorState):
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
        super().__init__(team_id, team_name, domain, bot_user_id, bot_name, clock, bot_id, app_id)
        self.bot_token = bot_token
        self.strict_params = strict_params
        self._log = CallLog(self._cond)
        self._stopping = threading.Event()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        self._stopping.clear()
        self._server = LoopbackServer(self)
        self._ws.base_url = self.base_url
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

    # --- interactivity --------------------------------------------------------------------

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
        applied: bool = False,
    ) -> None:
        """The next `times` calls to `method` fail; with `applied`, after taking effect."""
        if status == 200 and error is None and delay is None:
            raise ValueError("fail() needs a non-200 status, an error or a delay")
        self._log.queue_fault(method, Fault(status, error, retry_after, delay, times, applied))

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
        if url.path.startswith("/upload/"):
            with self._cond:
                taken = files.receive_upload(self._ws, url.path.removeprefix("/upload/"), body)
            return Reply(200 if taken else 404, {"ok": taken})
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
        if fault is not None and not fault.applied:
            return self._answer_fault(method, params, fault)
        if fault is not None and method in METHODS and token == self.bot_token:
            with self._cond:
                METHODS[method].handler(self._ws, params)
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


def _auth_error(token: str | None) -> str:
    return "not_authed" if not token else "invalid_auth"
