"""Only Slack, only once, only this workspace: forged, replayed, foreign and oversized requests."""

from __future__ import annotations

import http.client
import time
import urllib.parse

from slack_sdk.signature import SignatureVerifier

from bot import records
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.records import Capture
from bot.web import MAX_BODY_BYTES, ReplayGuard
from tests.conftest import ALICE, CHANNEL, WANG
from tests.e2e.helpers import capture, record_count, record_json, request
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


def test_replay_guard_forgets_after_its_window() -> None:
    clock = [0.0]
    guard = ReplayGuard(monotonic=lambda: clock[0])
    assert guard.first_time("v0=a") and not guard.first_time("v0=a")
    clock[0] += ReplayGuard.WINDOW + 1  # by then Bolt refuses the stale timestamp anyway
    assert guard.first_time("v0=a")


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
        records.capture(
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
        assert records.get(session, "T0OTHER001", 1).status == "pending"
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
