"""Whatever arrives at /slack/events, malformed or unauthenticated, gets a 4xx and one line in
the log: never a 500, never a traceback. Sent over real HTTP, as anyone on the internet can."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.parse
from typing import Any

import pytest

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.e2e.helpers import capture, record_count, record_json

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def _payload(payload: Any) -> bytes:
    return b"payload=" + urllib.parse.quote(json.dumps(payload)).encode()


def _action(**changes: Any) -> bytes:
    """A block_actions payload as Slack sends it (a Confirm click), with some fields changed."""
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": WANG, "username": "wang", "name": "wang", "team_id": "T0GLOBEX01"},
        "api_app_id": "A0SAYSO001",
        "token": "verification-token",
        "container": {"type": "message", "message_ts": "1.000100", "channel_id": CHANNEL},
        "trigger_id": "1.2.3",
        "channel": {"id": CHANNEL, "name": "edge-upgrade"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [
            {
                "action_id": "sayso_confirm",
                "block_id": "b",
                "value": f"{TEAM}/1/1",
                "type": "button",
                "action_ts": "1.2",
            }
        ],
        **changes,
    }
    return _payload({k: v for k, v in payload.items() if v != "-"})


def _view(view: Any, **changes: Any) -> bytes:
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "acme"},
        "user": {"id": ALICE, "username": "alice", "name": "alice", "team_id": TEAM},
        "api_app_id": "A0SAYSO001",
        "trigger_id": "1.2.3",
        "view": view,
        **changes,
    }
    return _payload({k: v for k, v in payload.items() if v != "-"})


def _event(event: Any, **changes: Any) -> bytes:
    envelope = {
        "token": "verification-token",
        "team_id": TEAM,
        "api_app_id": "A0SAYSO001",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev0MALFORMED",
        "event_time": 1_700_000_000,
        "authorizations": [
            {"team_id": TEAM, "user_id": "U0SAYSO001", "is_bot": True, "enterprise_id": None}
        ],
        **changes,
    }
    return json.dumps({k: v for k, v in envelope.items() if v != "-"}).encode()


def _command(**changes: str) -> bytes:
    fields = {
        "command": "/confirm",
        "text": "help",
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "user_id": ALICE,
        "trigger_id": "1.2.3",
        **changes,
    }
    return urllib.parse.urlencode({k: v for k, v in fields.items() if v != "-"}).encode()


UNSIGNED = {
    "json array": (b"[1, 2]", JSON),
    "json string": (b'"hello"', JSON),
    "json number": (b"42", JSON),
    "json null": (b"null", JSON),
    "json object": (b'{"type": "event_callback"}', JSON),
    "a command": (_command(), FORM),
    "form garbage": (b"%%%&&&==", FORM),
}


@pytest.mark.parametrize(("body", "content_type"), UNSIGNED.values(), ids=UNSIGNED.keys())
def test_an_unsigned_body_of_any_shape_is_refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    assert sandbox.driver is not None
    with caplog.at_level(logging.WARNING):
        response = sandbox.driver.send_raw(body, content_type, sign=False)
    _refused_in_one_line(response.status, caplog, 401)


def test_a_body_that_is_not_text_is_refused_signed_or_not(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack sends form fields or JSON, and signs text: bytes that are no UTF-8 are refused
    before their signature is even looked at (nothing is stored for them either way)."""
    assert sandbox.driver is not None
    for sign in (False, True):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            response = sandbox.driver.send_raw(b"\xff\xfe\x00garbage", FORM, sign=sign)
        _refused_in_one_line(response.status, caplog, 400)


TIMESTAMPS = ["abc", "1e3", "", " 12", "-1", "1700000000.5", "9" * 40, "0x10"]


@pytest.mark.parametrize("timestamp", TIMESTAMPS)
def test_a_timestamp_that_is_no_number_of_seconds_is_refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    """Signed for real with that timestamp, too: only the digits of a recent time pass."""
    assert sandbox.driver is not None
    body = _command(text="<@U0WANG0001|wang> reboot core-1")
    base = b"v0:" + timestamp.encode() + b":" + body
    secret = sandbox.settings.slack_signing_secret.encode()
    signature = "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()
    with caplog.at_level(logging.WARNING):
        response = sandbox.driver.send_raw(
            body, FORM, signature=signature, headers={"X-Slack-Request-Timestamp": timestamp}
        )
    _refused_in_one_line(response.status, caplog, 401)
    assert record_count(sandbox) == 0


def test_a_missing_signature_or_timestamp_is_refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    assert sandbox.driver is not None
    stale = int(time.time()) - 6 * 60
    for sent in (
        {"sign": False},
        {"headers": {"X-Slack-Request-Timestamp": ""}},
        {"timestamp": stale},
        {"signature": "v0=" + "0" * 64},
        {"signature": "not even hex"},
    ):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            response = sandbox.driver.send_raw(_command(), FORM, **sent)  # type: ignore[arg-type]
        _refused_in_one_line(response.status, caplog, 401)


SIGNED = {
    "json array": (b"[1, 2]", JSON),
    "json string": (b'"hello"', JSON),
    "json number": (b"42", JSON),
    "json null": (b"null", JSON),
    "payload array": (_payload([1]), FORM),
    "payload string": (_payload("x"), FORM),
    "payload null": (_payload(None), FORM),
    "payload not json": (b"payload=%7Bbroken", FORM),
    "payload bad utf-8": (b"payload=%ff%fe", FORM),
    "no type": (_payload({"team": {"id": TEAM}, "user": {"id": ALICE}}), FORM),
    "type not text": (_payload({"type": 5, "team": {"id": TEAM}}), FORM),
    "actions null": (_action(actions=None), FORM),
    "actions empty": (_action(actions=[]), FORM),
    "actions text": (_action(actions="sayso_confirm"), FORM),
    "action null": (_action(actions=[None]), FORM),
    "action id not text": (_action(actions=[{"action_id": 5, "value": "x"}]), FORM),
    "no user": (_action(user="-"), FORM),
    "user null": (_action(user=None), FORM),
    "user without id": (_action(user={"name": "wang"}), FORM),
    "team a number": (_action(team=5), FORM),
    "channel a list": (_action(channel=[CHANNEL]), FORM),
    "container text": (_action(container="message"), FORM),
    "authorizations text": (_action(authorizations="x"), FORM),
    "authorizations of null": (_action(authorizations=[None]), FORM),
    "enterprise a number": (_action(enterprise=5), FORM),
    "view without type": (_view({"id": "V1", "callback_id": "sayso_capture"}), FORM),
    "view null": (_view(None), FORM),
    "view text": (_view("V1"), FORM),
    "view state text": (
        _view({"id": "V1", "type": "modal", "callback_id": "sayso_capture", "state": "x"}),
        FORM,
    ),
    "shortcut without callback": (
        _payload({"type": "shortcut", "team": {"id": TEAM}, "user": {"id": ALICE}}),
        FORM,
    ),
    "message shortcut without message": (
        _payload(
            {
                "type": "message_action",
                "callback_id": "sayso_confirm_message",
                "team": {"id": TEAM},
                "user": {"id": ALICE},
                "channel": {"id": CHANNEL},
                "trigger_id": "1.2.3",
            }
        ),
        FORM,
    ),
    "command without user": (_command(user_id="-"), FORM),
    "command without channel": (_command(channel_id="-"), FORM),
    "command without team": (_command(team_id="-"), FORM),
    "event null": (_event(None), JSON),
    "event text": (_event("message"), JSON),
    "event without type": (_event({"channel": CHANNEL, "user": ALICE, "ts": "1.2"}), JSON),
    "home opened by nobody": (_event({"type": "app_home_opened", "tab": "home"}), JSON),
    "reaction on nothing": (
        _event({"type": "reaction_added", "reaction": "memo", "user": ALICE, "item": None}),
        JSON,
    ),
    "message without channel": (
        _event({"type": "message", "user": ALICE, "ts": "1.2", "text": "x"}),
        JSON,
    ),
    "event id a number": (_event({"type": "app_home_opened", "user": ALICE}, event_id=5), JSON),
    "edit of no message": (
        _event(
            {
                "type": "message",
                "subtype": "message_changed",
                "channel": CHANNEL,
                "ts": "1.2",
                "message": "x",
            }
        ),
        JSON,
    ),
    "reaction on a message of no channel": (
        _event(
            {
                "type": "reaction_added",
                "user": ALICE,
                "reaction": "memo",
                "item": {"type": "message", "ts": "1.2"},
            }
        ),
        JSON,
    ),
    "message text a number": (
        _event({"type": "message", "channel": CHANNEL, "ts": "1.2", "user": ALICE, "text": 5}),
        JSON,
    ),
    "form metadata not json": (
        _view(
            {
                "id": "V1",
                "type": "modal",
                "callback_id": "sayso_capture",
                "private_metadata": "{bad",
            }
        ),
        FORM,
    ),
    "form metadata a list": (
        _view(
            {"id": "V1", "type": "modal", "callback_id": "sayso_amend", "private_metadata": "[1]"}
        ),
        FORM,
    ),
}


@pytest.mark.parametrize(("body", "content_type"), SIGNED.values(), ids=SIGNED.keys())
def test_a_signed_body_of_an_odd_shape_is_refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    """Signed with the secret, as only Slack can: what Slack never sends, and Bolt or a
    listener would stumble on."""
    assert sandbox.driver is not None
    with caplog.at_level(logging.WARNING):
        response = sandbox.driver.send_raw(body, content_type)
    _refused_in_one_line(response.status, caplog, 400)
    assert record_count(sandbox) == 0
    # ... and the bot is still there.
    capture(sandbox, ALICE, WANG, "still alive")
    assert record_json(sandbox, 1)["text"] == "still alive"


NOT_SAYSO_S = {
    "a button of another app": (_action(actions=[{"action_id": "other_app", "value": "x"}]), FORM),
    "a form of another app": (_view({"id": "V1", "type": "modal", "callback_id": "other"}), FORM),
    "a command of another app": (_command(command="/other"), FORM),
    "a type nobody handles": (_payload({"type": "weird", "team": {"id": TEAM}}), FORM),
}


@pytest.mark.parametrize(("body", "content_type"), NOT_SAYSO_S.values(), ids=NOT_SAYSO_S.keys())
def test_a_signed_request_nothing_handles_gets_a_404_in_one_line(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, body: bytes, content_type: str
) -> None:
    assert sandbox.driver is not None
    with caplog.at_level(logging.WARNING):
        response = sandbox.driver.send_raw(body, content_type)
    _refused_in_one_line(response.status, caplog, 404)


def _refused_in_one_line(status: int, caplog: pytest.LogCaptureFixture, expected: int) -> None:
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert status == expected, [r.getMessage() for r in lines]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].exc_info is None and "\n" not in lines[0].getMessage()


def test_slack_s_unsigned_ssl_check_is_answered_and_nothing_else(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack checks a slash command URL's certificate with `ssl_check=1`, unsigned (as Bolt
    knows): a 200, and nothing done, even when a command rides along."""
    assert sandbox.driver is not None
    with caplog.at_level(logging.WARNING):
        checked = sandbox.driver.send_raw(b"ssl_check=1&token=xxx", FORM, sign=False)
        smuggled = _command(text="<@U0WANG0001|wang> reboot core-1", ssl_check="1")
        also = sandbox.driver.send_raw(smuggled, FORM, sign=False)
    assert (checked.status, checked.body, also.status, also.body) == (200, "", 200, "")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    sandbox.settle()
    assert record_count(sandbox) == 0


@pytest.mark.parametrize("length", ["-5", "abc", "1e3"])
def test_a_content_length_that_is_no_number_of_bytes_is_refused(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, length: str
) -> None:
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/slack/events")
    connection.putheader("Content-Type", FORM)
    connection.putheader("Content-Length", length)
    with caplog.at_level(logging.WARNING):
        connection.endheaders()
        status = connection.getresponse().status
    connection.close()
    _refused_in_one_line(status, caplog, 400)
