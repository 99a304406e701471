"""A local stand-in for Slack's Web API: workspace state behind a real HTTP server on loopback.

Tests and the demo point slack_sdk at `SlackEmulator.api_url`; everything the bot sends is kept
in the call log and the message store, so assertions read what Slack would have received. The
workspace side (setup, accessors, people's actions) is `EmulatorState`, in state.py.

One emulator is one Slack app and can hold several workspaces: the emulator itself is the
first, `add_workspace` adds more (`Tenant`, tenant.py). The Web API picks the workspace from
the bearer token; each call is logged with its `team_id`. With `client_id`/`client_secret`
set, it plays Slack's OAuth v2 (oauth.py): the consent page at `authorize_url`, who approves
(`approve_next_install`), `oauth.v2.access`, and `uninstall`.
"""

from __future__ import annotations

import copy
import inspect
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace
from email.message import Message
from urllib.parse import parse_qs, urlsplit

from bot.emulator import files
from bot.emulator.calls import ApiCall, CallLog, Fault
from bot.emulator.copies import copied
from bot.emulator.errors import MethodError, Params
from bot.emulator.handlers import respond
from bot.emulator.methods import METHODS, check_params, spec_params
from bot.emulator.oauth import ConsentError, Decision, OAuthApp, error_page, uninstall_events
from bot.emulator.state import EmulatorState
from bot.emulator.tenant import Tenant
from bot.emulator.transport import LoopbackServer, Reply, bearer, parse_params
from bot.emulator.workspace import Clock, Workspace

AUTHORIZE_PATH = "/oauth/v2/authorize"
OAUTH_ACCESS = "oauth.v2.access"


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
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_urls: Iterable[str] = (),
    ) -> None:
        """`client_id`/`client_secret`/`redirect_urls` are the app's OAuth settings (see
        `configure_oauth`); the first workspace starts with the app installed, as `bot_token`."""
        super().__init__(team_id, team_name, domain, bot_user_id, bot_name, clock, bot_id, app_id)
        self.strict_params = strict_params
        self._log = CallLog(self._cond)
        self._oauth = OAuthApp(client_id, client_secret, redirect_urls)
        self._oauth.grant(team_id, bot_token)
        self._tenants: dict[str, EmulatorState] = {team_id: self}
        self._stopping = threading.Event()
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SlackEmulator:
        self._stopping.clear()
        self._server = LoopbackServer(self)
        for tenant in self._tenants.values():
            tenant._ws.base_url = self.base_url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers so shutdown never waits for them
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for tenant in self._tenants.values():
            tenant._ws.base_url = ""
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
    def authorize_url(self) -> str:
        """Slack's consent page here: give it to Bolt as `OAuthSettings(authorization_url=...)`."""
        return f"{self.base_url}{AUTHORIZE_PATH}"

    def copy(self, clock: Clock | None = None) -> SlackEmulator:
        """A stopped emulator holding what this one holds now (people, channels, messages,
        views, tokens, the call log and queued faults; not the observers), on `clock`: a
        test can start where a story played once before it left off. One workspace only."""
        with self._cond:
            if len(self._tenants) > 1:
                raise ValueError("only an emulator of one workspace can be copied")
            twin = SlackEmulator(self.team_id, clock=clock, strict_params=self.strict_params)
            twin._ws = copy.deepcopy(replace(self._ws, clock=None, base_url=""))
            twin._ws.clock = clock
            twin._oauth = copy.deepcopy(self._oauth)
            self._log.copy_into(twin._log)
            return twin

    # --- workspaces and installs ----------------------------------------------------------

    @property
    def bot_token(self) -> str:
        """The first workspace's bot token (revoked after `uninstall`; reinstalling issues a
        new one)."""
        with self._cond:
            return self._oauth.bot_tokens[self.team_id]

    def add_workspace(
        self,
        team_id: str,
        team_name: str,
        domain: str,
        *,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        bot_token: str | None = None,
        installed: bool = True,
    ) -> Tenant:
        """Another workspace with its own people, channels and bot user (same app, same bot
        name). `installed`: the app is in it already, with `bot_token` (or a new token); else
        it gets one only through an OAuth install."""
        with self._changing():
            if team_id in self._tenants:
                raise ValueError(f"workspace {team_id} already exists")
            tenant = Tenant(
                self,
                team_id,
                team_name,
                domain,
                bot_user_id=bot_user_id or f"UB{team_id[1:]}",
                bot_id=bot_id or f"BB{team_id[1:]}",
                bot_name=self._ws.bot_name,
                app_id=self.app_id,
                clock=self.clock,
                cond=self._cond,
                id_tag=f"E{len(self._tenants) + 1:02d}",  # ids stay unique across workspaces
            )
            tenant._ws.base_url = self._ws.base_url
            if installed or bot_token:
                self._oauth.grant(team_id, bot_token)
            self._tenants[team_id] = tenant
            return tenant

    def workspace(self, team_id: str) -> EmulatorState:
        """The emulator itself for the first workspace, else the `Tenant`."""
        with self._cond:
            if team_id not in self._tenants:
                raise KeyError(f"no workspace {team_id}: add_workspace() it first")
            return self._tenants[team_id]

    def token_of(self, team_id: str) -> str | None:
        """The latest bot token issued in a workspace, even if since revoked."""
        with self._cond:
            return self._oauth.bot_tokens.get(team_id)

    def is_installed(self, team_id: str | None = None) -> bool:
        with self._cond:
            return self._oauth.live_token(team_id or self.team_id) is not None

    def configure_oauth(
        self, client_id: str, client_secret: str, redirect_urls: Iterable[str] = ()
    ) -> None:
        """The app's credentials and Redirect URLs, as in its settings page. With none, the
        consent page takes whatever `redirect_uri` the authorize URL names."""
        with self._cond:
            self._oauth.client_id, self._oauth.client_secret = client_id, client_secret
            self._oauth.redirect_urls = list(redirect_urls)

    def approve_next_install(self, team_id: str, user_id: str) -> None:
        """The next visit to the consent page is `user_id` of `team_id` clicking Allow."""
        with self._changing():
            self._oauth.decisions.append(Decision(team_id, user_id))

    def cancel_next_install(self, team_id: str, user_id: str) -> None:
        """The next visit to the consent page is `user_id` clicking Cancel."""
        with self._changing():
            self._oauth.decisions.append(Decision(team_id, user_id, approve=False))

    def uninstall(self, team_id: str | None = None) -> list[Params]:
        """Someone removes the app from the workspace (the first by default): its tokens stop
        working (`token_revoked`). Returns the events Slack then sends, `app_uninstalled` and
        `tokens_revoked`, for `SlackDriver.event` (a driver of that workspace) to deliver."""
        with self._changing():
            ws = self.workspace(team_id or self.team_id)._ws
            if not self._oauth.revoke(ws.team_id):
                raise ValueError(f"the app is not installed in {ws.team_id}")
            return uninstall_events(ws)

    # --- call log, faults, waiting --------------------------------------------------------

    def calls(self, method: str | None = None, *, team_id: str | None = None) -> list[ApiCall]:
        """Every call the emulator answered, or those made with one workspace's tokens."""
        return self._log.calls(method, team_id)

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

    def slow(self, method: str, seconds: float, *, times: int = 1) -> None:
        """The next `times` calls to `method` are answered as usual, `seconds` late."""
        self._log.queue_fault(method, Fault(200, None, None, seconds, times, slow_only=True))

    def heal(self, method: str) -> None:
        """`method` answers normally again: the failures still queued for it are dropped."""
        self._log.clear_faults(method)

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
        if url.path == AUTHORIZE_PATH:
            return self._consent_page(url.query)
        if url.path.startswith("/response/"):
            return self._response_url(url.path.removeprefix("/response/"), body)
        if url.path.startswith("/upload/"):
            file_id = url.path.removeprefix("/upload/")
            with self._cond:
                ws = self._holding(lambda w: file_id in w.files)
                taken = files.receive_upload(ws, file_id, body)
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
        with self._cond:
            team, auth_error = self._oauth.authenticate(token)
            ws = self._tenants[team]._ws if team else None
        fault = self._log.take_fault(method)
        if fault is not None and fault.slow_only:
            self._stopping.wait(fault.delay)
            fault = None
        if fault is not None and not fault.applied:
            return self._answer_fault(method, params, fault, team)
        if method == OAUTH_ACCESS:
            return self._oauth_access(params, headers, fault)
        if fault is not None and method in METHODS and ws is not None:
            with self._cond:
                METHODS[method].handler(ws, params)
            return self._answer_fault(method, params, fault, team)
        if method not in METHODS:
            known = "exists in Slack but is not emulated" if method in spec_params() else "unknown"
            error = {"ok": False, "error": "unknown_method", "warning": f"{method} {known}"}
            return self._record(method, params, 404, error, team=team)
        if ws is None:
            return self._record(method, params, 200, {"ok": False, "error": auth_error})
        with self._cond:
            try:
                check_params(method, params, strict=self.strict_params)
                answer = METHODS[method].handler(ws, params)
                return self._record(method, params, 200, answer, team=team)
            except MethodError as e:
                return self._record(method, params, 200, e.payload(), team=team)
            except Exception:  # an emulator bug must reach the test, not hang the client
                trace = traceback.format_exc(limit=3).splitlines()
                error = {
                    "ok": False,
                    "error": "fatal_error",
                    "response_metadata": {"messages": trace},
                }
                return self._record(method, params, 500, error, team=team)

    def _oauth_access(self, params: Params, headers: Message, fault: Fault | None) -> Reply:
        """`oauth.v2.access`: no token, but the app's credentials (basic auth or the form)."""
        team: str | None = None
        with self._changing():
            try:
                now = self._ws.seconds()
                code = self._oauth.exchange(params, headers, now, strict=self.strict_params)
                answer = self._oauth.install(self._tenants[code.team_id]._ws, code)
                team = code.team_id
            except MethodError as e:
                answer = e.payload()
        if "client_secret" in params:
            params = {**params, "client_secret": "<redacted>"}
        if fault is not None:
            return self._answer_fault(OAUTH_ACCESS, params, fault, team)
        return self._record(OAUTH_ACCESS, params, 200, answer, team=team)

    def _consent_page(self, query: str) -> Reply:
        """Slack's "<app> is requesting permission" page, with the person's decision already
        taken: a 302 back to the app's redirect URL, or an error page."""
        asked = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        with self._changing():
            try:
                team, to = self._oauth.consent(asked, self._is_member, self._ws.seconds())
            except ConsentError as e:
                reply = self._record(AUTHORIZE_PATH, asked, 400, {"ok": False, "error": str(e)})
                return replace(reply, body=error_page(str(e)))
        reply = self._record(AUTHORIZE_PATH, asked, 302, {"ok": True, "location": to}, team=team)
        return replace(reply, headers={"Location": to}, body="")

    def _is_member(self, team_id: str, user_id: str) -> bool:
        tenant = self._tenants.get(team_id)
        user = tenant._ws.users.get(user_id) if tenant else None
        return user is not None and user["team_id"] == team_id and not user["is_bot"]

    def _holding(self, has: Callable[[Workspace], bool]) -> Workspace:
        """The workspace something (a response URL, an upload) belongs to; the first if none."""
        return next((t._ws for t in self._tenants.values() if has(t._ws)), self._ws)

    def _response_url(self, token: str, body: bytes) -> Reply:
        try:
            params = parse_params("application/json", body, "")
        except MethodError as e:
            return self._record("response_url", {}, 400, e.payload())
        with self._cond:
            ws = self._holding(lambda w: token in w.response_urls)
        fault = self._log.take_fault("response_url")
        if fault is not None:
            return self._answer_fault("response_url", params, fault, ws.team_id)
        with self._cond:
            try:
                answer = respond(ws, token, params)
                return self._record("response_url", params, 200, answer, team=ws.team_id)
            except MethodError as e:
                return self._record("response_url", params, 404, e.payload(), team=ws.team_id)

    def _answer_fault(
        self, method: str, params: Params, fault: Fault, team: str | None = None
    ) -> Reply:
        payload, headers = fault.payload()
        # Logged before the delay, so a test can wait_for the call while the client hangs.
        reply = self._record(method, params, fault.status, payload, headers, True, team)
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
        team: str | None = None,
    ) -> Reply:
        logged = copied((params, payload))
        call = ApiCall(method, logged[0], status, logged[1], self._ws.now(), faulted, team)
        self._log.add(call)
        return Reply(status, payload, headers or {}, call)
