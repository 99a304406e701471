"""Only Slack, only once, only this workspace: forged, replayed, foreign and oversized requests."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_sdk.signature import SignatureVerifier

from bot import migrate
from bot.app import Runtime, build_runtime
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator import SlackDriver
from bot.emulator.sandbox import Sandbox
from bot.emulator.wire import DriverResponse
from bot.models import AuditEvent
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from bot.seen_requests import SeenRequests
from bot.web import MAX_BODY_BYTES
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.e2e.helpers import buttons, capture, click, record_count, record_json, request
from tests.support import ManualClock

FORM = "application/x-www-form-urlencoded"


def _command_body(text: str, trigger_id: str = "4.5.6") -> bytes:
    return urllib.parse.urlencode(
        {
            "command": "/confirm",
            "text": text,
            "team_id": "T0ACME0001",
            "channel_id": CHANNEL,
            "user_id": ALICE,
            "trigger_id": trigger_id,
        }
    ).encode()


def test_a_signature_made_with_another_secret_is_refused(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    forger = type(sandbox.driver)(sandbox.events_url, "not-the-secret", sandbox.emulator)
    response = forger.command(ALICE, CHANNEL, f"{forger.mention(WANG)} reboot core-1")
    assert response.status == 401
    assert record_count(sandbox) == 0


def test_a_replayed_request_is_refused(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    body = _command_body("<@U0WANG0001|wang> reboot core-1")
    timestamp = int(time.time())
    signature = SignatureVerifier(sandbox.settings.slack_signing_secret).generate_signature(
        timestamp=str(timestamp), body=body
    )
    first = sandbox.driver.send_raw(body, FORM, timestamp=timestamp, signature=signature)
    again = sandbox.driver.send_raw(body, FORM, timestamp=timestamp, signature=signature)
    assert (first.status, again.status) == (200, 401)
    sandbox.settle()
    assert record_count(sandbox) == 1


def test_a_command_delivered_twice_records_once(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    body = _command_body("<@U0WANG0001|wang> reboot core-1", trigger_id="7.7.7")
    now = int(time.time())
    first = sandbox.driver.send_raw(body, FORM, timestamp=now - 1)
    second = sandbox.driver.send_raw(body, FORM, timestamp=now)  # a fresh delivery, signed anew
    sandbox.settle()
    assert first.json()["text"] == second.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
    assert record_count(sandbox) == 1
    assert len(sandbox.emulator.messages(CHANNEL)) == 1


def test_a_card_of_another_workspace_opens_nothing(
    sandbox: Sandbox, database_url: str, clock: ManualClock
) -> None:
    capture(sandbox, ALICE, WANG, "our own instruction")
    # Another installation shares the database; its record #1 says something else.
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        lifecycle.capture(
            session,
            clock.now(),
            Capture(
                team_id="T0OTHER001",
                channel_id="C0OTHER001",
                captured_by_id="U0OTHER001",
                requester_ids=(WANG,),
                text="their secret instruction",
            ),
        )
    engine.dispose()
    ours = request(sandbox, 1)
    forged = {
        **ours,
        "blocks": [
            {**b, "elements": [{**e, "value": "T0OTHER001/1/1"} for e in b["elements"]]}
            if b["type"] == "actions"
            else b
            for b in ours["blocks"]
        ],
    }
    assert sandbox.driver is not None
    response = sandbox.driver.click(WANG, CHANNEL, ours["ts"], "sayso_confirm", message=forged)
    assert response.status == 200
    sandbox.settle()
    told = sandbox.emulator.ephemerals(user_id=WANG)
    assert [e["text"] for e in told] == [":mag: There is no record #1 in this workspace."]
    assert "secret" not in str(sandbox.emulator.calls())
    assert record_json(sandbox, 1)["status"] == "pending"
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        assert lifecycle.get(session, "T0OTHER001", 1).status == "pending"
    engine.dispose()


def test_an_oversized_body_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    host, port = sandbox.base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/slack/events")
    connection.putheader("Content-Type", FORM)
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()  # and send no body at all: the answer must not wait for it
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    assert record_count(sandbox) == 0


class _Wiretap(SlackDriver):
    """Slack's driver, keeping what it sent on the wire: what an eavesdropper could replay."""

    def __init__(self, driver: SlackDriver, emulator: Any) -> None:
        super().__init__(driver.app_url, driver._secret, emulator)
        self.sent: list[tuple[bytes, str, str, str]] = []

    def send_raw(self, body: bytes, content_type: str, **options: Any) -> DriverResponse:
        stamp = str(int(time.time()))
        signature = options.pop("signature", None) or self._sign(stamp, body)
        options.pop("timestamp", None)
        self.sent.append((body, content_type, stamp, signature))
        return super().send_raw(body, content_type, timestamp=stamp, signature=signature, **options)

    def replay(self, number: int, to: str | None = None, retry: int | None = None) -> int:
        body, content_type, stamp, signature = self.sent[number]
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        target = SlackDriver(to or self.app_url, "unused", self._emulator)
        return target.send_raw(
            body,
            content_type,
            timestamp=stamp,
            signature=signature,
            headers=headers if retry is not None else None,
        ).status


def test_a_replayed_click_is_refused_whatever_its_retry_number(sandbox: Sandbox) -> None:
    # Slack's retry headers are not signed: an eavesdropper can add any.
    capture(sandbox, ALICE, WANG, "reboot core-1")
    click(sandbox, WANG, 1, "Confirm")
    assert sandbox.driver is not None
    wiretap = _Wiretap(sandbox.driver, sandbox.emulator)
    done = request(sandbox, 1)
    assert wiretap.click(ALICE, CHANNEL, done["ts"], buttons(done)["Mark done"]).status == 200
    sandbox.settle()
    click(sandbox, ALICE, 1, "Reopen")
    assert record_json(sandbox, 1)["status"] == "confirmed"

    assert [wiretap.replay(0, retry=n) for n in (None, 1, 2)] == [401, 401, 401]
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert [e["type"] for e in record["events"]].count("done") == 1


def test_a_genuine_event_delivered_again_is_answered_but_not_processed(sandbox: Sandbox) -> None:
    """The same signed event again: a duplicate whoever sends it. Answered 200, so that Slack
    stops retrying, and not processed again."""
    assert sandbox.driver is not None
    wiretap = _Wiretap(sandbox.driver, sandbox.emulator)
    source = sandbox.emulator.post_user_message(WANG, CHANNEL, "change the hold timer to 30s")
    assert wiretap.react(ALICE, CHANNEL, source["ts"]).status == 200
    sandbox.settle()
    assert wiretap.replay(0, retry=1) == 200
    sandbox.settle()
    assert record_count(sandbox) == 1


@contextmanager
def _serving(runtime: Runtime) -> Iterator[str]:
    """Another replica on the same database: its own runtime, served on its own port."""
    server = make_server("127.0.0.1", 0, runtime.wsgi(), handler_class=_Quiet)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/slack/events"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        runtime.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_replay_is_refused_by_another_replica_and_after_a_restart(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    assert sandbox.driver is not None
    wiretap = _Wiretap(sandbox.driver, sandbox.emulator)
    mention = wiretap.mention(WANG)
    assert wiretap.command(ALICE, CHANNEL, f"{mention} reboot core-1").status == 200
    sandbox.settle()
    with _serving(build_runtime(sandbox.settings, TEAM, clock)) as replica:
        assert wiretap.replay(0, to=replica) == 401
    with _serving(build_runtime(sandbox.settings, TEAM, clock)) as restarted:
        assert wiretap.replay(0, to=restarted) == 401
    assert record_count(sandbox) == 1


def test_a_signature_sent_first_on_a_forged_body_does_not_block_the_real_request(
    sandbox: Sandbox,
) -> None:
    """Only a request whose signature holds is remembered: an attacker who learns a signature
    before its request arrives cannot get the real one refused as a replay."""
    assert sandbox.driver is not None
    body = _command_body("<@U0WANG0001|wang> reboot core-1")
    timestamp = int(time.time())
    signature = SignatureVerifier(sandbox.settings.slack_signing_secret).generate_signature(
        timestamp=str(timestamp), body=body
    )
    forged = _command_body("<@U0WANG0001|wang> open every port")
    sent = sandbox.driver.send_raw(forged, FORM, timestamp=timestamp, signature=signature)
    assert sent.status == 401
    real = sandbox.driver.send_raw(body, FORM, timestamp=timestamp, signature=signature)
    assert real.status == 200, real.body
    sandbox.settle()
    assert [r["text"] for r in _records(sandbox)] == ["reboot core-1"]


def test_seen_requests_are_forgotten_once_stale(database_url: str) -> None:
    """A signature is kept as long as its timestamp could pass the freshness check (five
    minutes), and a minute more for clocks that differ; then the sweep forgets it."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    now = [1_800_000_000.0]
    seen = SeenRequests(make_session_factory(engine), wall_clock=lambda: now[0], sweep_every=1)
    stamp = int(now[0])
    assert seen.first_time("v0=aa", stamp) and not seen.first_time("v0=aa", stamp)
    now[0] += SeenRequests.KEPT_FOR - 1
    assert not seen.first_time("v0=aa", stamp)
    now[0] += 2
    assert seen.first_time("v0=bb", int(now[0]))  # and this one sweeps what went stale
    assert seen.first_time("v0=aa", stamp)
    engine.dispose()


def _records(sandbox: Sandbox) -> list[dict[str, Any]]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return [lifecycle.as_dict(r) for r in lifecycle.list_records(session)]


def test_a_request_signed_for_a_workspace_not_served_is_refused_and_files_nothing(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """One bot token serves one workspace; the app's signing secret is the same in every
    workspace it was ever installed in, so their requests are signed too."""
    initech = sandbox.emulator.add_workspace("T0INITECH1", "Initech", "initech")
    initech.add_user("U0PETER001", "peter")
    initech.add_user("U0BILL0001", "bill")
    initech.add_channel("C0TPS00001", "tps-reports", members=["U0PETER001", "U0BILL0001"])
    foreign = SlackDriver(sandbox.events_url, sandbox.settings.slack_signing_secret, initech)

    with caplog.at_level(logging.WARNING):
        command = foreign.command("U0PETER001", "C0TPS00001", "<@U0BILL0001|bill> shred it")
        source, said = foreign.say("U0BILL0001", "C0TPS00001", "shred the TPS reports")
        reacted = foreign.react("U0PETER001", "C0TPS00001", source["ts"])
    # Events are answered (a refusal would only make Slack retry them, and count against the
    # app's events in the workspace it does serve); the rest are refused.
    assert (command.status, said.status, reacted.status) == (403, 200, 200)
    refusals = [r for r in caplog.records if "T0INITECH1" in r.getMessage()]
    assert len(refusals) == 3 and not any(r.exc_info for r in caplog.records)
    sandbox.settle()
    assert record_count(sandbox) == 0
    assert initech.calls() == [] and sandbox.emulator.calls("chat.postMessage") == []
    engine = make_engine(sandbox.settings.database_url)
    with make_session_factory(engine)() as session:
        assert session.query(AuditEvent).count() == 0
    engine.dispose()

    # Meanwhile a guest from another organization, in the served workspace's shared channel
    # (Slack Connect), is the reason Sayso exists: served.
    capture(sandbox, ALICE, WANG, "reboot core-1")
    click(sandbox, WANG, 1, "Confirm")
    assert record_json(sandbox, 1)["status"] == "confirmed"


def _shared_channel_event(event: dict[str, Any], **envelope: Any) -> bytes:
    """An event from a shared channel as Slack sends it (bolt-python's shared-channel tests):
    the envelope's `team_id` and `enterprise_id` may name the organization the event came
    from; `authorizations` names the installation it is delivered to."""
    body = {
        "token": "verification_token",
        "team_id": "T0GLOBEX01",
        "enterprise_id": "E0GLOBEX01",
        "api_app_id": "A0SAYSO001",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{int(time.time() * 1000)}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM,
                "user_id": "U0SAYSO001",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": True,
        **envelope,
    }
    return json.dumps(body).encode()


def test_a_guest_s_event_from_a_shared_channel_is_served(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    source = sandbox.emulator.post_user_message(WANG, CHANNEL, "change the hold timer to 30s")
    reaction = {
        "type": "reaction_added",
        "user": ALICE,
        "item": {"type": "message", "channel": CHANNEL, "ts": source["ts"]},
        "reaction": "memo",
        "item_user": WANG,
        "event_ts": source["ts"],
    }
    response = sandbox.driver.send_raw(_shared_channel_event(reaction), "application/json")
    assert response.status == 200
    sandbox.settle()
    assert [r["text"] for r in _records(sandbox)] == ["change the hold timer to 30s"]


GRID = {
    # A workspace of an Enterprise Grid organization, installed on its own: served.
    "grid workspace": (
        {"team": {"id": TEAM, "domain": "acme", "enterprise_id": "E0ACME0001"}},
        200,
    ),
    # Installed organization-wide: interactivity carries no team; the clicker's workspace
    # (another of the organization's) is not the one this token serves.
    "organization-wide": (
        {
            "team": None,
            "enterprise": {"id": "E0ACME0001", "name": "Acme"},
            "is_enterprise_install": True,
            "user": {"id": WANG, "username": "wang", "team_id": "T0ACMEEU01"},
        },
        403,
    ),
}


@pytest.mark.parametrize(("changes", "status"), GRID.values(), ids=GRID.keys())
def test_enterprise_grid_shapes_are_served_or_refused_without_a_traceback(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, changes: dict[str, Any], status: int
) -> None:
    capture(sandbox, ALICE, WANG, "reboot core-1")
    shown = request(sandbox, 1)
    block_id, button = next(
        (b["block_id"], e)
        for b in shown["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "sayso_confirm"
    )
    payload = {
        "type": "block_actions",
        "user": {"id": WANG, "username": "wang", "name": "wang", "team_id": "T0GLOBEX01"},
        "api_app_id": "A0SAYSO001",
        "token": "verification_token",
        "container": {"type": "message", "message_ts": shown["ts"], "channel_id": CHANNEL},
        "trigger_id": "1.2.3",
        "team": {"id": TEAM, "domain": "acme"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "edge-upgrade"},
        "message": shown,
        "actions": [
            {
                "action_id": "sayso_confirm",
                "block_id": block_id,
                "value": button["value"],
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
        **changes,
    }
    assert sandbox.driver is not None
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    with caplog.at_level(logging.WARNING):
        response = sandbox.driver.send_raw(body, FORM)
    assert response.status == status, response.body
    sandbox.settle()
    assert not any(r.exc_info for r in caplog.records)
    expected = "confirmed" if status == 200 else "pending"
    assert record_json(sandbox, 1)["status"] == expected
