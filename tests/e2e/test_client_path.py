"""The client's path (issue 18, 1-5): confirm from the card, few messages in their channel,
near misses answered privately, destructive buttons that ask first, silent double clicks."""

from __future__ import annotations

from typing import Any

from bot.emulator.sandbox import Sandbox
from bot.slack.ids import BlockId
from tests.conftest import ALICE, CHANNEL, CHEN, LI, WANG, ZHAO
from tests.e2e.helpers import (
    buttons,
    capture,
    card,
    click,
    record_json,
    request,
    visible_text,
)

INSTRUCTION = "please change the BGP hold timer on edge-3 to 30s"


def _posts(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Sayso's messages in the client's channel (cards and thread replies), as posted."""
    return [
        call.params
        for call in sandbox.emulator.calls("chat.postMessage")
        if call.params.get("channel") == CHANNEL and call.response.get("ok")
    ]


def _click_card(sandbox: Sandbox, user: str, number: int, label: str, shown: Any = None) -> None:
    """Clicks a button on the card as `user`'s client shows it (`shown`: a stale copy)."""
    assert sandbox.driver is not None
    message = shown or card(sandbox, number)
    response = sandbox.driver.click(
        user, CHANNEL, message["ts"], buttons(message)[label], message=message
    )
    assert response.status == 200, response.body
    sandbox.settle()


def _amend(sandbox: Sandbox, user: str, new_text: str) -> None:
    assert sandbox.driver is not None
    click(sandbox, user, 1, "Request change")
    (modal,) = sandbox.emulator.modals(user)
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text(new_text)}}
    assert sandbox.driver.submit_view(user, modal["id"], values).status == 200
    sandbox.settle()


def _reply(sandbox: Sandbox, user: str, text: str, number: int = 1) -> None:
    assert sandbox.driver is not None
    thread_ts = record_json(sandbox, number)["thread_ts"]
    sandbox.driver.say(user, CHANNEL, text, thread_ts=thread_ts)
    sandbox.settle()


# -- 1. one click from the first message they see ---------------------------------------------


def test_the_requester_confirms_from_the_card_in_the_channel(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    assert buttons(card(sandbox, 1)) == {"Confirm": "sayso_confirm", "Reject": "sayso_reject"}
    # The request in the thread still names wang: that mention is what notifies him.
    assert f"<@{WANG}>, please confirm" in visible_text(request(sandbox, 1))

    _click_card(sandbox, WANG, 1, "Confirm")

    record = record_json(sandbox, 1)
    assert (record["status"], record["decided_by_id"]) == ("confirmed", WANG)
    assert record["requesters"][0]["via"] == "button"
    assert buttons(card(sandbox, 1)) == {}
    assert f"Confirmed by <@{WANG}>" in visible_text(card(sandbox, 1))
    assert sandbox.emulator.ephemerals() == []


def test_the_cards_buttons_follow_the_requests_rules(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)

    _click_card(sandbox, LI, 1, "Confirm")
    _click_card(sandbox, ALICE, 1, "Reject")

    assert record_json(sandbox, 1)["status"] == "pending"
    for who in (LI, ALICE):
        (told,) = sandbox.emulator.ephemerals(user_id=who)
        assert f"Only <@{WANG}> can confirm #1" in told["text"]
        # Told beside the card they clicked, not in a thread they may never have opened.
        assert told.get("thread_ts") is None

    _click_card(sandbox, WANG, 1, "Reject")
    assert record_json(sandbox, 1)["status"] == "rejected"
    assert buttons(card(sandbox, 1)) == {}


def test_a_superseded_revision_is_refused_on_the_card_too(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    stale_card = card(sandbox, 1)  # what wang's client still shows of revision 1

    _amend(sandbox, ALICE, "please change the BGP hold timer on edge-3 to 90s")
    # The card now carries revision 2's buttons.
    assert {b["value"] for b in _elements(card(sandbox, 1))} == {"T0ACME0001/1/2"}

    for label in ("Confirm", "Reject"):
        _click_card(sandbox, WANG, 1, label, shown=stale_card)
    record = record_json(sandbox, 1)
    assert (record["status"], record["revision"]) == ("pending", 2)
    told = sandbox.emulator.ephemerals(user_id=WANG)
    assert len(told) == 2
    assert all("belongs to revision 1 of #1" in e["text"] for e in told)

    _click_card(sandbox, WANG, 1, "Confirm")
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert record["requesters"][0]["answered_revision"] == 2


# -- 2. less noise ------------------------------------------------------------------------------
#
# Sayso's messages in the channel per story, before this change and now:
#   capture + confirm                  3 -> 3  (card, request, "confirmed: the owner may go ahead")
#   capture + amend + confirm          5 -> 4  (no separate "changed" reply)
#   capture + reject                   3 -> 3  (card, request, "rejected")
#   two requesters confirm             4 -> 3  (no "still waiting for" reply)
#   capture + withdraw                 3 -> 2  (withdrawn is shown in place)


def test_capture_and_confirm_adds_three_messages(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    assert len(_posts(sandbox)) == 2  # the card, and the request in its thread
    click(sandbox, WANG, 1, "Confirm")
    posts = _posts(sandbox)
    assert len(posts) == 3
    assert f"<@{ALICE}> can go ahead" in posts[-1]["text"]  # the owner, told by mention


def test_an_amendment_adds_one_message(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    _amend(sandbox, WANG, "please change the BGP hold timer on edge-3 to 90s")
    posts = _posts(sandbox)
    assert len(posts) == 3
    assert (
        f"<@{WANG}> changed instruction *#1*: <@{WANG}>, please confirm revision 2"
        in visible_text(posts[-1])
    )
    click(sandbox, WANG, 1, "Confirm")
    assert len(_posts(sandbox)) == 4


def test_a_rejection_adds_one_message(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, ZHAO, INSTRUCTION)
    click(sandbox, ZHAO, 1, "Reject")
    posts = _posts(sandbox)
    assert len(posts) == 3
    assert f"<@{ZHAO}> rejected #1" in posts[-1]["text"]


def test_each_of_several_requesters_is_shown_in_place_until_all_have_confirmed(
    sandbox: Sandbox,
) -> None:
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    sandbox.driver.command(ALICE, CHANNEL, f"{m(WANG)} {m(ZHAO)} drain edge-3")
    sandbox.settle()
    click(sandbox, WANG, 1, "Confirm")
    assert len(_posts(sandbox)) == 2
    assert f":white_check_mark: <@{WANG}>" in visible_text(card(sandbox, 1))
    _click_card(sandbox, ZHAO, 1, "Confirm")
    posts = _posts(sandbox)
    assert len(posts) == 3
    assert "Everyone has confirmed" in posts[-1]["text"]


def test_closing_a_record_updates_it_in_place(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    click(sandbox, ALICE, 1, "Withdraw")
    assert record_json(sandbox, 1)["status"] == "withdrawn"
    assert len(_posts(sandbox)) == 2
    assert "Withdrawn by" in visible_text(card(sandbox, 1))
    assert "Withdrawn by" in visible_text(request(sandbox, 1))


# -- 3. near misses -----------------------------------------------------------------------------


def test_a_near_miss_is_answered_privately_once_per_thread(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    posted = len(_posts(sandbox))

    _reply(sandbox, WANG, "ok")

    record = record_json(sandbox, 1)
    assert record["status"] == "pending"
    assert record["requesters"][0]["answer"] == "pending"
    (told,) = sandbox.emulator.ephemerals(user_id=WANG)
    assert told["thread_ts"] == record["thread_ts"]
    assert "Nothing was recorded: “ok” does not answer #1" in visible_text(told)
    assert "reply *confirm*" in visible_text(told)
    noted = record["events"][-1]
    assert (noted["type"], noted["actor_id"]) == ("unclear_reply", WANG)
    assert noted["payload"]["text"] == "ok"

    for text in ("👍", "confirm?"):  # once per thread
        _reply(sandbox, WANG, text)
    assert len(sandbox.emulator.ephemerals(user_id=WANG)) == 1
    assert len(_posts(sandbox)) == posted  # nothing said in the channel

    _reply(sandbox, WANG, "confirmed")
    assert record_json(sandbox, 1)["status"] == "confirmed"


def test_a_near_miss_is_answered_in_the_requesters_language(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, CHEN, "请把 core-1 的网络参数改成30秒")
    _reply(sandbox, CHEN, "好的")
    (told,) = sandbox.emulator.ephemerals(user_id=CHEN)
    assert "未记录任何内容：“好的”不算对 #1 的答复" in visible_text(told)
    assert record_json(sandbox, 1)["status"] == "pending"


def test_only_a_waiting_requesters_near_miss_is_answered(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    _reply(sandbox, LI, "ok")  # not a requester
    _reply(sandbox, WANG, "can you confirm the impact?")  # a question, not an attempt
    assert sandbox.emulator.ephemerals() == []

    click(sandbox, WANG, 1, "Confirm")
    _reply(sandbox, WANG, "👍")  # answered already
    assert sandbox.emulator.ephemerals() == []
    assert "unclear_reply" not in [e["type"] for e in record_json(sandbox, 1)["events"]]


# -- 5. a double click is silent ----------------------------------------------------------------


def test_the_same_button_twice_is_silent(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    shown = card(sandbox, 1)
    for _ in range(2):
        _click_card(sandbox, WANG, 1, "Confirm", shown=shown)
    assert record_json(sandbox, 1)["status"] == "confirmed"
    assert sandbox.emulator.ephemerals() == []

    shown = request(sandbox, 1)
    for _ in range(2):
        response = sandbox.driver.click(
            ALICE, CHANNEL, shown["ts"], buttons(shown)["Call off"], message=shown
        )
        assert response.status == 200
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["status"] == "cancelled"
    assert [e["type"] for e in record["events"]].count("cancelled") == 1
    assert sandbox.emulator.ephemerals() == []

    # Another person's press, or another button, is still explained.
    response = sandbox.driver.click(
        LI, CHANNEL, shown["ts"], buttons(shown)["Call off"], message=shown
    )
    sandbox.settle()
    assert "can do that to #1" in sandbox.emulator.ephemerals(user_id=LI)[-1]["text"]
    response = sandbox.driver.click(
        ALICE, CHANNEL, shown["ts"], buttons(shown)["Mark done"], message=shown
    )
    sandbox.settle()
    assert "#1 is called off now" in sandbox.emulator.ephemerals(user_id=ALICE)[-1]["text"]


def test_withdraw_or_reject_twice_is_silent(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    capture(sandbox, ALICE, ZHAO, "reboot core-2 tonight")
    assert sandbox.driver is not None
    for user, number, label in ((ALICE, 1, "Withdraw"), (ZHAO, 2, "Reject")):
        shown = request(sandbox, number)
        for _ in range(2):
            response = sandbox.driver.click(
                user, CHANNEL, shown["ts"], buttons(shown)[label], message=shown
            )
            assert response.status == 200
        sandbox.settle()
    assert [record_json(sandbox, n)["status"] for n in (1, 2)] == ["withdrawn", "rejected"]
    assert sandbox.emulator.ephemerals() == []


def _elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]
