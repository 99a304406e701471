"""Everything after capture: several requesters, replies, amendments, closing, edits."""

from __future__ import annotations

from bot.emulator.sandbox import Sandbox
from bot.slack.ids import BlockId
from tests.conftest import ALICE, CHANNEL, LI, WANG, ZHAO
from tests.e2e.helpers import buttons, capture, card, click, record_json, request, visible_text
from tests.support import ManualClock


def _thread(sandbox: Sandbox, number: int) -> list[dict]:  # type: ignore[type-arg]
    return sandbox.emulator.thread(CHANNEL, record_json(sandbox, number)["thread_ts"])


def _capture_for_two(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    response = sandbox.driver.command(ALICE, CHANNEL, f"{m(WANG)} {m(ZHAO)} drain edge-3")
    assert response.status == 200
    sandbox.settle()


def test_several_requesters_must_all_confirm(sandbox: Sandbox) -> None:
    _capture_for_two(sandbox)
    click(sandbox, WANG, 1, "Confirm")

    record = record_json(sandbox, 1)
    assert record["status"] == "pending"
    assert [r["answer"] for r in record["requesters"]] == ["confirmed", "pending"]
    shown = visible_text(request(sandbox, 1))
    assert f":white_check_mark: <@{WANG}>" in shown
    assert f":hourglass_flowing_sand: <@{ZHAO}>" in shown
    # Shown in place: zhao was asked already, and nobody else must act yet.
    assert len(_thread(sandbox, 1)) == 1

    click(sandbox, ZHAO, 1, "Confirm")
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert record["decided_by_id"] == ZHAO
    assert "Everyone has confirmed" in _thread(sandbox, 1)[-1]["text"]


def test_one_rejection_rejects(sandbox: Sandbox) -> None:
    _capture_for_two(sandbox)
    click(sandbox, WANG, 1, "Confirm")
    click(sandbox, ZHAO, 1, "Reject")
    record = record_json(sandbox, 1)
    assert record["status"] == "rejected"
    assert [r["answer"] for r in record["requesters"]] == ["confirmed", "rejected"]


def test_a_requesters_reply_confirms_and_is_kept_as_evidence(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    assert sandbox.driver is not None
    thread_ts = record_json(sandbox, 1)["thread_ts"]
    for who, text in (
        (WANG, "confirm later?"),
        (WANG, "can you confirm the impact?"),
        (LI, "confirm"),  # not a requester
        (WANG, "I can't confirm"),
    ):
        sandbox.driver.say(who, CHANNEL, text, thread_ts=thread_ts)
        sandbox.settle()
        assert record_json(sandbox, 1)["status"] == "pending", text

    reply, _ = sandbox.driver.say(WANG, CHANNEL, "确认", thread_ts=thread_ts)
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    (wang,) = record["requesters"]
    assert (wang["via"], wang["evidence_ts"]) == ("reply", reply["ts"])
    assert wang["evidence_permalink"].startswith("https://")
    confirmed = [e for e in record["events"] if e["type"] == "confirmed"][-1]
    assert confirmed["payload"]["evidence_ts"] == reply["ts"]
    assert "(by replying in the thread)" in _thread(sandbox, 1)[-1]["text"]

    # Saying it again changes nothing.
    sandbox.driver.say(WANG, CHANNEL, "confirmed", thread_ts=thread_ts)
    sandbox.settle()
    assert [e["type"] for e in record_json(sandbox, 1)["events"]].count("confirmed") == 1


def _request_change(sandbox: Sandbox, user: str, number: int, new_text: str | None) -> dict:  # type: ignore[type-arg]
    assert sandbox.driver is not None
    click(sandbox, user, number, "Request change")
    (modal,) = sandbox.emulator.modals(user)
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text(new_text)}} if new_text else {}
    answer = sandbox.driver.submit_view(user, modal["id"], values)
    sandbox.settle()
    return answer.json() or {}


def _change_shown(message: dict) -> list[tuple[str, str | None]]:  # type: ignore[type-arg]
    """The revision's change in a request: (text, style) after its bold heading."""
    (changed,) = [b for b in message["blocks"] if b["type"] == "rich_text"][1:]
    heading, *pieces = changed["elements"][0]["elements"]
    assert heading["style"] == {"bold": True}
    return [(p["text"], next(iter(p.get("style", {})), None)) for p in pieces]


def test_an_amendment_in_chinese_shows_its_change_by_character_with_no_added_spaces(
    sandbox: Sandbox,
) -> None:
    capture(sandbox, ALICE, WANG, "请在 2026-03-01 10:00 把网络参数改成30秒")
    _request_change(sandbox, WANG, 1, "请在 2026-03-02 10:30 把网络参数改成60秒")

    assert _change_shown(request(sandbox, 1)) == [
        ("请在 ", None),
        # A lone space between two changes goes with them: one change, read at once.
        ("2026-03-01 10:00", "strike"),
        ("2026-03-02 10:30", "bold"),
        (" 把网络参数改成", None),
        ("30", "strike"),
        ("60", "bold"),
        ("秒", None),
    ]


def test_amendment_makes_revision_2_which_must_be_confirmed_again(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "set the BGP hold timer on edge-3 to 30s")
    first_request = request(sandbox, 1)

    unchanged = _request_change(sandbox, WANG, 1, None)
    assert "same as revision 1" in unchanged["errors"][BlockId.TEXT]
    sandbox.emulator.modals(WANG)  # the form stays open with the error; close by answering
    (modal,) = sandbox.emulator.modals(WANG)
    assert sandbox.driver is not None
    sandbox.driver.submit_view(
        WANG,
        modal["id"],
        {
            BlockId.TEXT: {
                "value": sandbox.driver.plain_text("set the BGP hold timer on edge-3 to 90s")
            },
        },
    )
    sandbox.settle()

    record = record_json(sandbox, 1)
    assert (record["revision"], record["status"]) == (2, "pending")
    assert [v["text"] for v in record["revisions"]] == [
        "set the BGP hold timer on edge-3 to 30s",
        "set the BGP hold timer on edge-3 to 90s",
    ]
    assert record["text"].endswith("90s")
    assert "amended" in [e["type"] for e in record["events"]]

    old = sandbox.emulator.message(CHANNEL, first_request["ts"])
    assert old is not None and buttons(old) == {}
    assert "Superseded by revision 2" in visible_text(old)
    new = request(sandbox, 1)
    assert new["ts"] != first_request["ts"]
    assert "revision 2" in visible_text(new)
    assert _change_shown(new) == [
        ("set the BGP hold timer on edge-3 to ", None),
        ("30", "strike"),
        ("90", "bold"),
        ("s", None),
    ]
    # One new message says it all: who changed it, and who must confirm it again.
    assert [m["ts"] for m in _thread(sandbox, 1)] == [first_request["ts"], new["ts"]]
    assert (
        f":pencil2: <@{WANG}> changed instruction *#1*: <@{WANG}>, please confirm revision 2"
        in visible_text(new)
    )

    # wang's client still shows revision 1's buttons: that click must not confirm revision 2.
    stale = sandbox.driver.click(
        WANG,
        CHANNEL,
        first_request["ts"],
        buttons(first_request)["Confirm"],
        message=first_request,
    )
    assert stale.status == 200
    sandbox.settle()
    assert record_json(sandbox, 1)["status"] == "pending"
    told = sandbox.emulator.ephemerals(user_id=WANG)
    assert "belongs to revision 1" in told[-1]["text"]

    click(sandbox, WANG, 1, "Confirm")
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert record["requesters"][0]["answered_revision"] == 2


def test_confirmed_record_can_be_amended_and_asked_again(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    click(sandbox, WANG, 1, "Confirm")
    _request_change(sandbox, ALICE, 1, "open ports 443 and 8443 on fw-2")
    record = record_json(sandbox, 1)
    assert (record["status"], record["revision"]) == ("pending", 2)
    assert record["requesters"][0]["answer"] == "pending"
    assert record["confirmed_at"] is None


def test_strangers_cannot_amend(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    click(sandbox, ZHAO, 1, "Request change")
    assert sandbox.emulator.modals(ZHAO) == []
    assert "can change its wording" in sandbox.emulator.ephemerals(user_id=ZHAO)[-1]["text"]


def test_withdraw_reopen_done_cancel(sandbox: Sandbox, clock: ManualClock) -> None:
    capture(sandbox, ALICE, WANG, "reboot core-1")

    click(sandbox, WANG, 1, "Withdraw")  # the requester is neither capturer nor owner
    assert record_json(sandbox, 1)["status"] == "pending"
    assert "can do that to #1" in sandbox.emulator.ephemerals(user_id=WANG)[-1]["text"]

    click(sandbox, ALICE, 1, "Withdraw")
    assert record_json(sandbox, 1)["status"] == "withdrawn"
    assert "Withdrawn by" in visible_text(card(sandbox, 1))
    assert set(buttons(request(sandbox, 1))) == {"Reopen"}

    click(sandbox, ALICE, 1, "Reopen")
    assert record_json(sandbox, 1)["status"] == "pending"
    click(sandbox, WANG, 1, "Confirm")
    clock.advance(hours=2)
    click(sandbox, LI, 1, "Mark done")  # li is not the owner
    assert record_json(sandbox, 1)["status"] == "confirmed"
    click(sandbox, ALICE, 1, "Mark done")
    assert record_json(sandbox, 1)["status"] == "done"
    assert "Done: marked by" in visible_text(card(sandbox, 1))
    click(sandbox, ALICE, 1, "Reopen")
    assert record_json(sandbox, 1)["status"] == "confirmed"
    click(sandbox, ALICE, 1, "Call off")
    record = record_json(sandbox, 1)
    assert record["status"] == "cancelled"
    types = [e["type"] for e in record["events"]]
    assert [t for t in types if t != "thread_snapshot"][-6:] == [
        "withdrawn",
        "reopened",
        "confirmed",
        "done",
        "reopened",
        "cancelled",
    ]
    assert {e["actor_id"] for e in record["events"] if e["type"] in ("done", "cancelled")} == {
        ALICE
    }
    assert "Called off by" in visible_text(card(sandbox, 1))
    # Withdrawn, done and called off are shown in place; reopening asked wang again, by name,
    # and his confirmation let the owner go ahead: two replies besides the request.
    replies = [m["text"] for m in _thread(sandbox, 1)]
    assert len(replies) == 3, replies
    assert f"reopened #1: <@{WANG}>, please confirm it again" in replies[1]
    assert f"<@{WANG}> confirmed #1" in replies[2]


def test_editing_or_deleting_the_source_changes_history_not_the_record(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    source, _ = driver.say(WANG, CHANNEL, "change the hold timer to 30s")
    driver.react(ALICE, CHANNEL, source["ts"])
    sandbox.settle()
    click(sandbox, WANG, 1, "Confirm")

    driver.edit(WANG, CHANNEL, source["ts"], "change the hold timer to 90s")
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["text"] == "change the hold timer to 30s"
    assert record["status"] == "confirmed"
    edited = record["events"][-1]
    assert edited["type"] == "source_edited"
    assert (edited["payload"]["old_text"], edited["payload"]["new_text"]) == (
        "change the hold timer to 30s",
        "change the hold timer to 90s",
    )
    assert "was edited" in _thread(sandbox, 1)[-1]["text"]


def test_editing_a_confirming_reply_is_noted(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "reboot core-1")
    assert sandbox.driver is not None
    reply, _ = sandbox.driver.say(
        WANG, CHANNEL, "confirmed", thread_ts=record_json(sandbox, 1)["thread_ts"]
    )
    sandbox.settle()
    sandbox.driver.edit(WANG, CHANNEL, reply["ts"], "confirmed, but only after 22:00")
    sandbox.settle()
    sandbox.driver.delete(WANG, CHANNEL, reply["ts"])
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert [e["type"] for e in record["events"]][-2:] == ["reply_edited", "reply_deleted"]
    assert record["events"][-2]["payload"]["new_text"] == "confirmed, but only after 22:00"
    assert "deleted the reply" in _thread(sandbox, 1)[-1]["text"]


def test_simultaneous_clicks_of_two_requesters_both_count(sandbox: Sandbox) -> None:
    """Each click is its own request on its own server thread; on PostgreSQL they really run
    at once. Neither answer may be lost, and the record must end confirmed exactly once."""
    import threading

    _capture_for_two(sandbox)
    asking = request(sandbox, 1)
    confirm = buttons(asking)["Confirm"]
    assert sandbox.driver is not None
    driver = sandbox.driver
    start = threading.Barrier(4)
    statuses: list[int] = []

    def click_now(user: str) -> None:
        start.wait()
        statuses.append(driver.click(user, CHANNEL, asking["ts"], confirm, message=asking).status)

    threads = [threading.Thread(target=click_now, args=(u,)) for u in (WANG, ZHAO, WANG, ZHAO)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    sandbox.settle()

    assert statuses == [200, 200, 200, 200]
    record = record_json(sandbox, 1)
    assert record["status"] == "confirmed"
    assert [r["answer"] for r in record["requesters"]] == ["confirmed", "confirmed"]
    assert [e["type"] for e in record["events"]].count("confirmed") == 2
    assert sum("Everyone has confirmed" in m["text"] for m in _thread(sandbox, 1)) == 1
