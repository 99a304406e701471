"""Several workspaces in one emulator, and Slack's OAuth v2: the consent page, oauth.v2.access,
uninstalling; then Bolt's own OAuth flow run against the emulator over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore

from bot.emulator import SlackDriver, SlackEmulator, Tenant
from tests.support import ManualClock

CLIENT_ID, CLIENT_SECRET = "1111.2222", "app-client-secret"
SECRET = "test-signing-secret"
GLOBEX = "T0GLOBEX01"
ALICE, GINA, GUS = "U0ALICE001", "U0GINA0001", "U0GUS00001"
GENERAL = "C0GENERAL1"
REDIRECT = "http://127.0.0.1:9/slack/oauth_redirect"  # never visited: the tests read the 302


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _populate(emu: SlackEmulator) -> tuple[SlackEmulator, Tenant]:
    emu.add_user(ALICE, "alice", "Alice Chen")
    emu.add_channel(GENERAL, "general", members=[ALICE])
    globex = emu.add_workspace(GLOBEX, "Globex", "globex")
    globex.add_user(GINA, "gina", "Gina Ross")
    globex.add_user(GUS, "gus")
    globex.add_channel(GENERAL, "globex-general", members=[GINA, GUS])
    return emu, globex


@pytest.fixture
def two() -> Iterator[tuple[SlackEmulator, Tenant]]:
    emu = SlackEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_urls=[REDIRECT])
    with emu:
        yield _populate(emu)


def _client(emu: SlackEmulator, token: str | None) -> WebClient:
    return WebClient(base_url=emu.api_url, token=token)


def _error(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(excinfo.value.response["error"])


def _get(url: str) -> tuple[int, dict[str, str], str]:
    """One browser hop, without following redirects."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        answer = connection.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read().decode()
    finally:
        connection.close()


def _consent(emu: SlackEmulator, **query: str) -> tuple[int, dict[str, str], str]:
    asked = {"client_id": CLIENT_ID, "scope": "commands,chat:write", "user_scope": ""}
    asked.update(state="st-1", **query)
    return _get(f"{emu.authorize_url}?{urlencode(asked)}")


def _code(emu: SlackEmulator, team_id: str = GLOBEX, user_id: str = GINA, **query: str) -> str:
    emu.approve_next_install(team_id, user_id)
    status, headers, _ = _consent(emu, **query)
    assert status == 302
    return parse_qs(urlsplit(headers["Location"]).query)["code"][0]


# --- several workspaces ----------------------------------------------------------------------


def test_each_token_acts_in_its_own_workspace(two: tuple[SlackEmulator, Tenant]) -> None:
    emu, globex = two
    acme_slack, globex_slack = _client(emu, emu.bot_token), _client(emu, globex.bot_token)
    assert globex.bot_token and globex.bot_token.startswith("xoxb-")
    assert acme_slack.auth_test()["team_id"] == emu.team_id
    who = globex_slack.auth_test()
    assert (who["team_id"], who["user_id"], who["team"]) == (GLOBEX, globex.bot_user_id, "Globex")
    assert who["url"] == "https://globex.slack.com/" and globex.bot_user_id != emu.bot_user_id
    # The same channel id names a different channel in each workspace.
    assert globex_slack.conversations_info(channel=GENERAL)["channel"]["name"] == "globex-general"
    globex_slack.chat_postMessage(channel=GENERAL, text="hello globex")
    acme_slack.chat_postMessage(channel=GENERAL, text="hello acme")
    assert [m["text"] for m in globex.messages(GENERAL)] == ["hello globex"]
    assert [m["text"] for m in emu.messages(GENERAL)] == ["hello acme"]
    with pytest.raises(SlackApiError) as excinfo:
        acme_slack.users_info(user=GINA)
    assert _error(excinfo) == "user_not_found"
    # Ids Slack hands out stay unique across workspaces.
    acme_dm = acme_slack.conversations_open(users=ALICE)["channel"]["id"]
    assert globex_slack.conversations_open(users=GINA)["channel"]["id"] != acme_dm
    # The log tells the workspaces apart; the emulator's log holds them all.
    assert [c.team_id for c in emu.calls("auth.test")] == [emu.team_id, GLOBEX]
    assert [c.method for c in globex.calls()][:3] == [
        "auth.test",
        "conversations.info",
        "chat.postMessage",
    ]
    assert all(c.team_id == emu.team_id for c in emu.calls(team_id=emu.team_id))


def test_tenants_share_the_lock_and_wake_waiters(two: tuple[SlackEmulator, Tenant]) -> None:
    emu, globex = two
    slack = _client(emu, globex.bot_token)
    poster = threading.Thread(target=lambda: slack.chat_postMessage(channel=GENERAL, text="hi"))
    poster.start()
    globex.wait_for(lambda: len(globex.messages(GENERAL)) == 1, timeout=2)
    poster.join()
    assert emu.workspace(GLOBEX) is globex and emu.workspace(emu.team_id) is emu
    with pytest.raises(ValueError, match="already exists"):
        emu.add_workspace(GLOBEX, "Globex", "globex")
    with pytest.raises(KeyError):
        emu.workspace("T0NOWHERE1")


def test_unknown_and_revoked_tokens_are_refused(two: tuple[SlackEmulator, Tenant]) -> None:
    emu, globex = two
    token = globex.bot_token
    events = emu.uninstall(GLOBEX)
    assert events == [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [globex.bot_user_id]}},
    ]
    assert not globex.is_installed() and globex.bot_token == token and emu.is_installed()
    with pytest.raises(SlackApiError) as excinfo:
        _client(emu, token).auth_test()
    assert _error(excinfo) == "token_revoked"
    with pytest.raises(SlackApiError) as excinfo:
        _client(emu, "xoxb-made-up").auth_test()
    assert _error(excinfo) == "invalid_auth"
    assert _client(emu, emu.bot_token).auth_test()["ok"]
    assert emu.calls("auth.test")[0].team_id is None  # refused calls belong to no workspace
    with pytest.raises(ValueError, match="not installed"):
        globex.uninstall()
    # The first workspace can be uninstalled too.
    first = emu.bot_token
    emu.uninstall()
    with pytest.raises(SlackApiError) as excinfo:
        _client(emu, first).auth_test()
    assert _error(excinfo) == "token_revoked"


# --- OAuth v2 --------------------------------------------------------------------------------


def test_consent_redirects_back_with_a_code_or_a_cancel(two: tuple[SlackEmulator, Tenant]) -> None:
    emu, _ = two
    emu.approve_next_install(GLOBEX, GINA)
    status, headers, _ = _consent(emu)
    back = urlsplit(headers["Location"])
    assert status == 302 and f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = parse_qs(back.query)
    assert query["state"] == ["st-1"] and query["code"][0]
    emu.cancel_next_install(GLOBEX, GUS)
    status, headers, _ = _consent(emu)
    assert status == 302
    assert headers["Location"] == f"{REDIRECT}?error=access_denied&state=st-1"
    # The person can be named in the URL instead of queued.
    status, headers, _ = _consent(emu, emulator_team=GLOBEX, emulator_user=GUS)
    assert status == 302 and "code=" in headers["Location"]
    calls = emu.calls("/oauth/v2/authorize")
    assert [c.status for c in calls] == [302, 302, 302]
    assert [c.team_id for c in calls] == [GLOBEX] * 3


@pytest.mark.parametrize(
    ("query", "decide", "error"),
    [
        ({}, False, "nobody is on the consent page"),
        ({"client_id": "9999.0000"}, True, "invalid_client_id"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, True, "bad_redirect_uri"),
        ({"scope": ""}, True, "invalid_scope"),
        ({"emulator_team": GLOBEX, "emulator_user": ALICE}, False, "no person of workspace"),
    ],
)
def test_consent_page_errors(
    two: tuple[SlackEmulator, Tenant], query: dict[str, str], decide: bool, error: str
) -> None:
    emu, _ = two
    if decide:
        emu.approve_next_install(GLOBEX, GINA)
    status, headers, page = _consent(emu, **query)
    assert status == 400 and "Location" not in headers
    assert headers["Content-Type"].startswith("text/html") and error in page


def test_oauth_v2_access_installs_with_a_new_bot_token() -> None:
    emu = SlackEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_urls=[REDIRECT])
    with emu:
        newcomer = emu.add_workspace("T0INITECH1", "Initech", "initech", installed=False)
        newcomer.add_user("U0PETER001", "peter")
        assert newcomer.bot_token is None and not newcomer.is_installed()
        code = _code(emu, "T0INITECH1", "U0PETER001")
        answer = WebClient(base_url=emu.api_url).oauth_v2_access(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code
        )
        assert answer.data == {
            "ok": True,
            "access_token": newcomer.bot_token,
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": newcomer.bot_user_id,
            "app_id": emu.app_id,
            "team": {"name": "Initech", "id": "T0INITECH1"},
            "enterprise": None,
            "authed_user": {"id": "U0PETER001"},
            "is_enterprise_install": False,
        }
        assert str(answer["access_token"]).startswith("xoxb-") and newcomer.is_installed()
        who = _client(emu, answer["access_token"]).auth_test()
        assert who["team_id"] == "T0INITECH1" and who["bot_id"] == "BB0INITECH1"
        logged = emu.calls("oauth.v2.access")[0]
        assert logged.team_id == "T0INITECH1" and logged.status == 200
        # Reinstalling keeps the bot token; after an uninstall, a new one is issued.
        again = _client(emu, None).api_call(
            "oauth.v2.access",
            data={
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "code": _code(emu, "T0INITECH1", "U0PETER001"),
            },
        )
        assert again["access_token"] == answer["access_token"]
        assert emu.calls("oauth.v2.access")[1].params["client_secret"] == "<redacted>"
        newcomer.uninstall()
        third = WebClient(base_url=emu.api_url).oauth_v2_access(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            code=_code(emu, "T0INITECH1", "U0PETER001"),
        )
        assert third["access_token"] != answer["access_token"]
        assert third["access_token"] == newcomer.bot_token


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "9999.0000"}, "invalid_client_id"),
        ({"client_secret": "guessed"}, "bad_client_secret"),
        ({"code": "123.456.made-up"}, "invalid_code"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, "bad_redirect_uri"),
        ({"redirect_uri": None}, "bad_redirect_uri"),  # the authorize URL named one
        ({"grant_type": "refresh_token", "refresh_token": "xoxe-1"}, "invalid_refresh_token"),
        ({"grant_type": "password"}, "invalid_grant_type"),
        ({"scopes": "typo"}, "invalid_arg_name"),
    ],
)
def test_oauth_v2_access_errors(
    two: tuple[SlackEmulator, Tenant], change: dict[str, Any], error: str
) -> None:
    emu, globex = two
    code = _code(emu, redirect_uri=REDIRECT)
    asked: dict[str, Any] = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    asked.update(code=code, redirect_uri=REDIRECT)
    asked.update(change)
    client_id, client_secret = asked.pop("client_id"), asked.pop("client_secret")
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(base_url=emu.api_url).oauth_v2_access(
            client_id=client_id, client_secret=client_secret, **asked
        )
    assert _error(excinfo) == error
    assert emu.calls("oauth.v2.access")[-1].team_id is None
    # A refused exchange does not spend the code.
    good = {"code": code, "redirect_uri": REDIRECT}
    answer = WebClient(base_url=emu.api_url).oauth_v2_access(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **good
    )
    assert answer["team"]["id"] == GLOBEX and answer["access_token"] == globex.bot_token


def test_codes_work_once_and_expire() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    emu = SlackEmulator(clock=clock, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    emu.configure_oauth(CLIENT_ID, CLIENT_SECRET, [REDIRECT])
    with _populate(emu)[0]:
        slack = WebClient(base_url=emu.api_url)
        code = _code(emu)
        slack.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
        late = _code(emu)
        clock.advance(minutes=11)
        for spent in (code, late):
            with pytest.raises(SlackApiError) as excinfo:
                slack.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=spent)
            assert _error(excinfo) == "invalid_code"


def test_oauth_needs_the_app_configured() -> None:
    with _populate(SlackEmulator())[0] as emu:
        emu.approve_next_install(GLOBEX, GINA)
        status, _, page = _consent(emu, redirect_uri=REDIRECT)
        assert status == 400 and "invalid_client_id" in page
        with pytest.raises(SlackApiError) as excinfo:
            WebClient(base_url=emu.api_url).oauth_v2_access(
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code="x"
            )
        assert _error(excinfo) == "invalid_client_id"


# --- the driver in a second workspace ------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _body(sent: tuple[str, bytes]) -> dict[str, Any]:
    content_type, body = sent
    if content_type == "application/json":
        return dict(json.loads(body))
    form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
    return dict(json.loads(form["payload"])) if "payload" in form else form


def test_driver_payloads_carry_the_second_workspace(two: tuple[SlackEmulator, Tenant]) -> None:
    emu, globex = two
    handler = type("Recorder", (_Recorder,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        driver = SlackDriver(
            f"http://127.0.0.1:{server.server_address[1]}/slack/events", SECRET, globex
        )
        assert driver.api_app_id == emu.app_id
        driver.command(GINA, GENERAL, "reboot core-1")
        form = _body(handler.received[-1])
        assert (form["team_id"], form["team_domain"]) == (GLOBEX, "globex")
        assert form["api_app_id"] == emu.app_id and form["is_enterprise_install"] == "false"
        assert form["response_url"].startswith(emu.base_url + "/response/")
        posted = _client(emu, globex.bot_token).chat_postMessage(
            channel=GENERAL,
            text="ok?",
            blocks=[
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "confirm",
                            "text": {"type": "plain_text", "text": "OK"},
                        }
                    ],
                }
            ],
        )
        driver.click(GUS, GENERAL, posted["ts"], "confirm")
        payload = _body(handler.received[-1])
        assert payload["team"] == {"id": GLOBEX, "domain": "globex"}
        assert payload["user"]["team_id"] == GLOBEX and payload["is_enterprise_install"] is False
        driver.say(GINA, GENERAL, "hello")
        envelope = _body(handler.received[-1])
        assert envelope["team_id"] == envelope["context_team_id"] == GLOBEX
        assert envelope["authorizations"][0]["team_id"] == GLOBEX
        assert envelope["authorizations"][0]["user_id"] == globex.bot_user_id
        assert envelope["event"]["team"] == GLOBEX
        # A response URL from the second workspace answers into it.
        url = urlsplit(form["response_url"])
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
        connection.request("POST", url.path, json.dumps({"text": "only you"}), {})
        assert connection.getresponse().status == 200
        connection.close()
        assert [e["text"] for e in globex.ephemerals(GINA)] == ["only you"]
        assert emu.ephemerals() == []
        for event in emu.uninstall(GLOBEX):
            driver.event(event)
        assert _body(handler.received[-2])["event"] == {"type": "app_uninstalled"}
        assert _body(handler.received[-1])["team_id"] == GLOBEX
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- Bolt's own OAuth flow against the emulator --------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(params=[True, False], ids=["install-page", "straight-redirect"])
def bolt(
    request: pytest.FixtureRequest, tmp_path: Path, two: tuple[SlackEmulator, Tenant]
) -> Iterator[tuple[App, str, FileInstallationStore, list[dict[str, Any]]]]:
    emu, _ = two
    store = FileInstallationStore(base_dir=str(tmp_path / "installations"))
    settings = OAuthSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=["commands", "chat:write"],
        installation_store=store,
        state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "states")),
        authorization_url=emu.authorize_url,
        install_page_rendering_enabled=request.param,
    )
    app = App(
        signing_secret=SECRET,
        client=WebClient(base_url=emu.api_url),
        oauth_settings=settings,
        process_before_response=True,
    )
    app.enable_token_revocation_listeners()  # Bolt's own app_uninstalled / tokens_revoked
    seen: list[dict[str, Any]] = []

    @app.command("/confirm")
    def confirm(ack: Any, context: Any, client: WebClient) -> None:
        ack("noted")
        seen.append({"team": context.team_id, "auth": client.auth_test().data})

    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    # What the app's settings page would say: the Redirect URL is the app's callback.
    emu.configure_oauth(CLIENT_ID, CLIENT_SECRET, [f"{base}/slack/oauth_redirect"])
    try:
        yield app, base, store, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_bolt_installs_into_a_second_workspace_and_serves_it(
    two: tuple[SlackEmulator, Tenant],
    bolt: tuple[App, str, FileInstallationStore, list[dict[str, Any]]],
) -> None:
    emu, globex = two
    _, base, store, seen = bolt
    driver = SlackDriver(f"{base}/slack/events", SECRET, globex)
    emu.uninstall(GLOBEX)  # start from a workspace the app is not in
    answer = driver.install(GINA)
    assert answer.status == 200 and "Thank you!" in answer.body, answer.body
    installed = store.find_installation(enterprise_id=None, team_id=GLOBEX)
    assert installed is not None and installed.bot_token == globex.bot_token
    assert globex.is_installed() and installed.user_id == GINA
    assert installed.bot_user_id == globex.bot_user_id and installed.team_name == "Globex"

    ack = driver.command(GUS, GENERAL, "reboot core-1")
    assert ack.status == 200 and ack.text == "noted", ack.body
    assert seen[-1]["team"] == GLOBEX and seen[-1]["auth"]["team_id"] == GLOBEX
    assert seen[-1]["auth"]["user_id"] == globex.bot_user_id

    # The person cancels: Bolt shows its failure page, nothing more is stored.
    refused = driver.install(GUS, approve=False)
    assert refused.status == 200 and "access_denied" in refused.body

    # Uninstalling: Bolt's built-in listeners drop the installation.
    for event in globex.uninstall():
        assert driver.event(event).status == 200
    assert store.find_installation(enterprise_id=None, team_id=GLOBEX) is None
    # A command from there now gets Bolt's "reinstall" note, through its response URL.
    assert driver.command(GUS, GENERAL, "reboot core-1").status == 200
    assert "no longer available" in globex.ephemerals(GUS)[-1]["text"]


def test_install_refuses_an_app_that_points_at_slack_com(tmp_path: Path) -> None:
    with _populate(SlackEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET))[0] as emu:
        settings = OAuthSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scopes=["commands"],
            installation_store=FileInstallationStore(base_dir=str(tmp_path / "i")),
            state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "s")),
        )
        app = App(
            signing_secret=SECRET, client=WebClient(base_url=emu.api_url), oauth_settings=settings
        )
        server = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        thread.start()
        try:
            driver = SlackDriver(f"http://127.0.0.1:{server.server_port}/slack/events", SECRET, emu)
            with pytest.raises(AssertionError, match=r"authorization_url=emulator\.authorize_url"):
                driver.install(ALICE)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
