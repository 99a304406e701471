"""The walking skeleton, end to end: /confirm -> card + threaded request -> click -> record."""

from __future__ import annotations

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, LI, WANG, ZHAO
from tests.e2e.helpers import (
    buttons,
    capture,
    card,
    click,
    record_count,
    record_json,
    request,
    visible_text,
)
from tests.support import ManualClock

INSTRUCTION = "please change the BGP hold timer on edge-3 to 30s"


def test_capture_stores_pending_record_and_asks_requester_in_thread(sandbox: Sandbox) -> None:
    response = capture(sandbox, ALICE, WANG, INSTRUCTION)

    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert ack["text"] == f"Recorded #1, waiting for <@{WANG}>."

    record = record_json(sandbox, 1)
    assert record["status"] == "pending"
    assert record["text"] == INSTRUCTION
    assert record["requester_id"] == WANG
    assert record["captured_by_id"] == ALICE
    assert record["channel_id"] == CHANNEL
    assert record["confirmed_at"] is None
    assert [e["type"] for e in record["events"]] == ["captured", "card_posted"]

    posted = card(sandbox, 1)
    assert record["thread_ts"] == posted["ts"]
    assert INSTRUCTION in visible_text(posted)
    assert f"Waiting for <@{WANG}> to confirm" in visible_text(posted)

    asking = request(sandbox, 1)
    assert asking["thread_ts"] == posted["ts"]
    assert f"<@{WANG}>, please confirm instruction *#1* exactly as written" in visible_text(asking)
    assert INSTRUCTION in visible_text(asking)
    assert set(buttons(asking)) == {"Confirm", "Reject", "Request change", "Withdraw"}


def test_requester_confirms_with_one_click(sandbox: Sandbox, clock: ManualClock) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    clicked_at = clock.advance(minutes=3)

    click(sandbox, WANG, 1, "Confirm")

    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert record["decided_by_id"] == WANG
    assert record["confirmed_at"] == clicked_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    confirmed, snapshot = record["events"][-2:]
    assert (confirmed["type"], confirmed["actor_id"]) == ("confirmed", WANG)
    # The thread as it stood, kept in case Slack's retention deletes it, hash in the chain.
    assert (snapshot["type"], snapshot["payload"]["messages"]) == ("thread_snapshot", 2)

    updated = [c.params for c in sandbox.emulator.calls("chat.update")]
    assert {u["ts"] for u in updated} == {card(sandbox, 1)["ts"], request(sandbox, 1)["ts"]}
    for message in (card(sandbox, 1), request(sandbox, 1)):
        assert f"Confirmed by <@{WANG}> at <!date^{int(clicked_at.timestamp())}^" in visible_text(
            message
        )
    assert buttons(card(sandbox, 1)) == {}
    assert set(buttons(request(sandbox, 1))) == {"Mark done", "Call off", "Request change"}
    reply = sandbox.emulator.thread(CHANNEL, card(sandbox, 1)["ts"])[-1]
    assert f"<@{WANG}> confirmed #1" in reply["text"]


def test_requester_rejects(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, ZHAO, "skip the change ticket and reboot core-1 now")

    click(sandbox, ZHAO, 1, "Reject")

    record = record_json(sandbox, 1)
    assert record["status"] == "rejected"
    assert record["decided_by_id"] == ZHAO
    assert record["confirmed_at"] is None
    assert record["events"][-1]["type"] == "rejected"
    assert f"Rejected by <@{ZHAO}>" in visible_text(card(sandbox, 1))
    assert set(buttons(request(sandbox, 1))) == {"Reopen"}
    reply = sandbox.emulator.thread(CHANNEL, card(sandbox, 1)["ts"])[-1]
    assert f"<@{ZHAO}> rejected #1" in reply["text"]


def test_only_the_requester_can_answer(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    events_before = record_json(sandbox, 1)["events"]

    for label in ("Confirm", "Reject"):
        click(sandbox, LI, 1, label)

    record = record_json(sandbox, 1)
    assert record["status"] == "pending"
    assert record["events"] == events_before
    assert sandbox.emulator.calls("chat.update") == []
    told = sandbox.emulator.ephemerals(user_id=LI)
    assert len(told) == 2
    assert all(f"Only <@{WANG}> can confirm #1" in e["text"] for e in told)
    assert all(e.get("thread_ts") == card(sandbox, 1)["ts"] for e in told)
    assert set(buttons(request(sandbox, 1))) == {"Confirm", "Reject", "Request change", "Withdraw"}


def test_double_click_and_late_click_change_nothing(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    stale = request(sandbox, 1)  # what wang's client still shows while the update travels
    assert sandbox.driver is not None

    for action in ("Confirm", "Confirm", "Reject"):
        response = sandbox.driver.click(
            WANG, CHANNEL, stale["ts"], buttons(stale)[action], message=stale
        )
        assert response.status == 200
    sandbox.settle()

    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert [e["type"] for e in record["events"]].count("confirmed") == 1
    assert "rejected" not in [e["type"] for e in record["events"]]
    replies = sandbox.emulator.thread(CHANNEL, card(sandbox, 1)["ts"])
    assert len(replies) == 2  # the request and one "confirmed" reply
    # The second Confirm only repeats wang's own answer: silent. Reject is another answer,
    # which no longer applies, and wang is told so.
    (told,) = sandbox.emulator.ephemerals(user_id=WANG)
    assert "#1 is confirmed now" in told["text"]


def test_command_without_requester_explains_and_stores_nothing(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    for text in ("please reboot core-1", f"{sandbox.driver.mention(WANG)}   "):
        response = sandbox.driver.command(ALICE, CHANNEL, text)
        assert response.status == 200
        assert response.json()["response_type"] == "ephemeral"
        assert "Usage:" in response.json()["text"]
    sandbox.settle()
    assert record_count(sandbox) == 0
    assert sandbox.emulator.calls("chat.postMessage") == []


def test_records_are_numbered_per_workspace(sandbox: Sandbox) -> None:
    for requester in (WANG, ZHAO, WANG):
        capture(sandbox, ALICE, requester, INSTRUCTION)
    assert [record_json(sandbox, n)["number"] for n in (1, 2, 3)] == [1, 2, 3]
    assert [m["text"].split(" ")[1] for m in sandbox.emulator.messages(CHANNEL)] == [
        "#1",
        "#2",
        "#3",
    ]
