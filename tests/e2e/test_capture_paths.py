"""Every way an instruction is captured: inline options, the form, the message shortcut,
the :memo: reaction and the nudge."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.emulator.sandbox import Sandbox
from bot.slack.ids import BlockId, CallbackId
from tests.conftest import ALICE, BOB, CHANNEL, LI, WANG, ZHAO
from tests.e2e.helpers import card, record_count, record_json, request, visible_text


def _command(sandbox: Sandbox, user: str, text: str):  # type: ignore[no-untyped-def]
    assert sandbox.driver is not None
    response = sandbox.driver.command(user, CHANNEL, text)
    assert response.status == 200, response.body
    sandbox.settle()
    return response


def test_inline_options_several_requesters_risk_due_and_owner(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    # 09:30 UTC is 17:30 in Shanghai (alice's zone): "tomorrow 9am" is the 27th, 01:00 UTC.
    response = _command(
        sandbox,
        ALICE,
        f"{m(WANG)} {m(ZHAO)} please change the BGP hold timer on edge-3 to 30s "
        f'risk:high "may drop traffic for 5 min" due:tomorrow 9am owner:{m(LI)}',
    )
    record = record_json(sandbox, 1)
    assert record["text"] == "please change the BGP hold timer on edge-3 to 30s"
    assert [r["user_id"] for r in record["requesters"]] == [WANG, ZHAO]
    assert (record["risk"], record["risk_note"]) == ("high", "may drop traffic for 5 min")
    assert record["owner_id"] == LI
    assert record["due_at"] == "2026-11-27T01:00:00.000000Z"
    due_epoch = int(datetime(2026, 11, 27, 1, tzinfo=UTC).timestamp())
    assert f"<!date^{due_epoch}^" in str(response.json()["blocks"])
    shown = visible_text(card(sandbox, 1))
    assert "may drop traffic for 5 min" in shown and f"<!date^{due_epoch}^" in shown
    assert f"Waiting for <@{WANG}>, <@{ZHAO}> to confirm" in shown


def test_due_dates_are_read_in_the_typists_zone(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    _command(sandbox, ALICE, f"{m(WANG)} reboot edge-3 due:2026-12-01 17:00")
    _command(sandbox, BOB, f"{m(WANG)} reboot edge-4 due:2026-12-01 17:00")
    _command(sandbox, ALICE, f"{m(WANG)} 重启 edge-5 截止:明天下午5点")
    assert record_json(sandbox, 1)["due_at"] == "2026-12-01T09:00:00.000000Z"  # Shanghai
    assert record_json(sandbox, 2)["due_at"] == "2026-12-01T22:00:00.000000Z"  # New York
    assert record_json(sandbox, 3)["due_at"] == "2026-11-27T09:00:00.000000Z"


def test_an_unreadable_date_quotes_the_phrase_and_stores_nothing(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    for phrase, expected in (("whenever you can", "could not read"), ("yesterday", "past")):
        response = _command(
            sandbox, ALICE, f"{sandbox.driver.mention(WANG)} reboot edge-3 due:{phrase}"
        )
        text = str(response.json()["blocks"])
        assert f"`{phrase}`" in text and expected in text
    assert "fri 17:00" in text or "`" in text
    assert record_count(sandbox) == 0
    assert sandbox.emulator.calls("chat.postMessage") == []


def test_bad_options_explain_themselves(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    for text, problem in (
        (f"{m(WANG)} reboot risk:extreme", "risk:"),
        (f"{m(WANG)} reboot owner:li", "owner:"),
    ):
        assert problem in str(_command(sandbox, ALICE, text).json()["blocks"])
    assert record_count(sandbox) == 0


def _open_form(sandbox: Sandbox, user: str) -> str:
    (modal,) = sandbox.emulator.modals(user)
    return str(modal["id"])


def test_the_form_behind_confirm_alone(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    response = _command(sandbox, BOB, "")
    assert response.body == ""
    view_id = _open_form(sandbox, BOB)
    assert sandbox.emulator.view(view_id)["callback_id"] == CallbackId.CAPTURE_MODAL

    # A time without a date, and a due date in the past, come back next to their fields.
    refused = driver.submit_view(
        BOB,
        view_id,
        {
            BlockId.REQUESTERS: {"value": driver.multi_users([WANG])},
            BlockId.TEXT: {"value": driver.plain_text("open port 443 on fw-2")},
            BlockId.DUE_TIME: {"value": driver.timepicker("10:00")},
        },
    )
    assert refused.json()["response_action"] == "errors"
    assert set(refused.json()["errors"]) == {BlockId.DUE_DATE}
    refused = driver.submit_view(
        BOB,
        view_id,
        {
            BlockId.DUE_DATE: {"value": driver.datepicker("2026-11-01")},
        },
    )
    assert "past" in refused.json()["errors"][BlockId.DUE_DATE]
    assert record_count(sandbox) == 0

    accepted = driver.submit_view(
        BOB,
        view_id,
        {
            BlockId.KIND: {"value": driver.static_select("decision")},
            BlockId.RISK: {"value": driver.static_select("medium")},
            BlockId.RISK_NOTE: {"value": driver.plain_text("brief outage")},
            BlockId.DUE_DATE: {"value": driver.datepicker("2026-12-01")},
            BlockId.DUE_TIME: {"value": driver.timepicker("10:00")},
            BlockId.OWNER: {"value": driver.users_select(LI)},
        },
    )
    assert accepted.status == 200 and not accepted.body
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert (record["kind"], record["risk"], record["risk_note"]) == (
        "decision",
        "medium",
        "brief outage",
    )
    assert record["due_at"] == "2026-12-01T15:00:00.000000Z"  # 10:00 in bob's New York
    assert record["owner_id"] == LI and record["source"] == "modal"
    assert record["requester_id"] == WANG
    assert "Decision #1" in visible_text(card(sandbox, 1))


def test_the_form_refuses_a_blank_instruction(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    _command(sandbox, ALICE, "")
    view_id = _open_form(sandbox, ALICE)
    # Slack's client refuses an empty required input itself, but lets spaces through.
    answer = sandbox.driver.submit_view(
        ALICE,
        view_id,
        {
            BlockId.REQUESTERS: {"value": sandbox.driver.multi_users([WANG])},
            BlockId.TEXT: {"value": sandbox.driver.plain_text("   ")},
        },
    )
    assert answer.json() == {
        "response_action": "errors",
        "errors": {BlockId.TEXT: "The instruction cannot be empty."},
    }
    assert record_count(sandbox) == 0


def test_message_shortcut_prefills_the_form_and_asks_in_that_thread(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    message, _ = driver.say(WANG, CHANNEL, "pls bump the hold timer on edge-3 to 30s, I'm sure")
    response = driver.message_shortcut(ALICE, CHANNEL, message["ts"], CallbackId.MESSAGE_SHORTCUT)
    assert response.status == 200
    view_id = _open_form(sandbox, ALICE)
    view = sandbox.emulator.view(view_id)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[BlockId.REQUESTERS]["element"]["initial_users"] == [WANG]
    assert blocks[BlockId.TEXT]["element"]["initial_value"] == message["text"]

    assert driver.submit_view(ALICE, view_id).status == 200
    sandbox.settle()

    record = record_json(sandbox, 1)
    assert record["source"] == "shortcut"
    assert record["source_ts"] == message["ts"]
    assert record["thread_ts"] == message["ts"]
    assert record["source_permalink"].startswith("https://")
    assert record["text"] == message["text"]
    # No separate card: the request goes straight into the client's own thread.
    assert [m["ts"] for m in sandbox.emulator.messages(CHANNEL)] == [message["ts"]]
    (asking,) = sandbox.emulator.thread(CHANNEL, message["ts"])
    assert f"<@{WANG}>, please confirm instruction *#1*" in visible_text(asking)
    assert "Source message" in visible_text(asking)
    told = sandbox.emulator.ephemerals(user_id=ALICE)
    assert any("Recorded #1 from that message" in e["text"] for e in told)


def test_memo_reaction_captures_once(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    message, _ = driver.say(ZHAO, CHANNEL, "restart core-1 tonight, skip the maintenance window")

    assert driver.react(ALICE, CHANNEL, message["ts"]).status == 200
    sandbox.settle()
    assert driver.react(LI, CHANNEL, message["ts"]).status == 200
    sandbox.settle()
    assert driver.react(BOB, CHANNEL, message["ts"], name="thumbsup").status == 200
    sandbox.settle()

    assert record_count(sandbox) == 1
    record = record_json(sandbox, 1)
    assert (record["source"], record["captured_by_id"], record["requester_id"]) == (
        "reaction",
        ALICE,
        ZHAO,
    )
    assert record["text"] == message["text"]
    assert [e["text"] for e in sandbox.emulator.ephemerals(user_id=LI)] == [
        ":memo: That message is already recorded as #1."
    ]
    assert len(sandbox.emulator.thread(CHANNEL, message["ts"])) == 1


def test_a_retried_event_is_handled_once(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(ZHAO, CHANNEL, "go")
    event = sandbox.emulator.add_user_reaction(ALICE, CHANNEL, message["ts"], "memo")
    first = sandbox.driver.event(event, event_id="Ev0RETRY001")
    again = sandbox.driver.event(event, event_id="Ev0RETRY001", retry_num=1)
    sandbox.settle()
    assert (first.status, again.status) == (200, 200)
    assert record_count(sandbox) == 1
    assert sandbox.emulator.ephemerals(user_id=ALICE) != []
    assert len([c for c in sandbox.emulator.calls("conversations.history")]) == 1


def test_watchers_get_a_private_nudge_with_a_capture_button(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    watching = _command(sandbox, ALICE, "watch")
    assert "nudge" in watching.json()["text"]

    driver.say(WANG, CHANNEL, "who is responsible for edge-3?")
    driver.say(WANG, CHANNEL, "we should not skip the ticket")
    sandbox.settle()
    assert sandbox.emulator.ephemerals(user_id=ALICE) == []

    risky, _ = driver.say(WANG, CHANNEL, "just do it now, I'll take responsibility")
    sandbox.settle()
    (nudge,) = sandbox.emulator.ephemerals(user_id=ALICE)
    assert "I'll take responsibility" in nudge["text"] or "responsibility" in str(nudge["blocks"])
    assert sandbox.emulator.ephemerals(user_id=LI) == []  # not watching
    assert sandbox.emulator.ephemerals(user_id=WANG) == []  # the author is never nudged

    capture_button = nudge["blocks"][1]["elements"][0]
    assert capture_button["text"]["text"] == "Capture"
    response = driver.click(ALICE, CHANNEL, nudge["ts"], capture_button["action_id"])
    assert response.status == 200
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert (record["source"], record["source_ts"], record["requester_id"]) == (
        "nudge",
        risky["ts"],
        WANG,
    )

    _command(sandbox, ALICE, "unwatch")
    driver.say(WANG, CHANNEL, "skip the ticket")
    sandbox.settle()
    assert len(sandbox.emulator.ephemerals(user_id=ALICE)) == 2  # the nudge and "Recorded"


def test_chinese_speaking_requester_sees_chinese(sandbox: Sandbox) -> None:
    from tests.conftest import CHEN

    assert sandbox.driver is not None
    _command(sandbox, ALICE, f"{sandbox.driver.mention(CHEN)} 请把网络参数改成30秒")
    asking = request(sandbox, 1)
    labels = [
        e["text"]["text"] for b in asking["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["确认", "拒绝", "要求修改", "撤回"]
    assert "请按原文确认" in visible_text(asking)
    assert "请把网络参数改成30秒" in visible_text(asking)
    assert record_json(sandbox, 1)["text"] == "请把网络参数改成30秒"


def test_slack_connect_requesters_show_their_organization(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    _command(sandbox, ALICE, f"{sandbox.driver.mention(WANG)} open port 443")
    record = record_json(sandbox, 1)
    assert record["requesters"][0]["org_name"] == "Globex"
    assert record["requesters"][0]["org_team_id"] == "T0GLOBEX01"
    assert f"<@{WANG}> (Globex)" in visible_text(request(sandbox, 1))


def test_a_clients_own_memo_reaction_captures_nothing(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(ALICE, CHANNEL, "we will reboot core-1 at 22:00")
    sandbox.driver.react(WANG, CHANNEL, message["ts"])
    sandbox.settle()
    assert record_count(sandbox) == 0
    assert sandbox.emulator.calls("chat.postMessage") == []


MARIA = "W0MARIA001"  # Enterprise Grid people's ids start with W


def _grid(sandbox: Sandbox) -> None:
    """Acme Networks is one workspace of the Acme Group's Enterprise Grid; maria works in
    another (Acme Europe, a team id of its own) and is in #edge-upgrade too."""
    emulator = sandbox.emulator
    for team, name, domain in (
        ("T0ACME0001", "Acme Networks", "acme"),
        ("T0ACMEEU01", "Acme Europe", "acme-eu"),
    ):
        emulator.add_team(
            team, name, domain, enterprise_id="E0ACME0001", enterprise_name="Acme Group"
        )
    emulator.add_user(MARIA, "maria", "Maria Rossi", team_id="T0ACMEEU01", tz="Europe/Rome")
    emulator.invite(CHANNEL, MARIA)


def test_a_colleague_from_another_workspace_of_the_enterprise_captures_with_memo(
    sandbox: Sandbox,
) -> None:
    _grid(sandbox)
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(WANG, CHANNEL, "please reboot core-2 tonight")
    assert sandbox.driver.react(MARIA, CHANNEL, message["ts"]).status == 200
    sandbox.settle()
    record = record_json(sandbox, 1)
    assert record["captured_by_id"] == MARIA
    # The client is still from another organization; the colleague is not.
    assert record["requesters"][0]["org_name"] == "Globex"
    # And a client's own :memo: still captures nothing, in the enterprise as outside it.
    other, _ = sandbox.driver.say(ALICE, CHANNEL, "we will reboot core-1 at 22:00")
    sandbox.driver.react(WANG, CHANNEL, other["ts"])
    sandbox.settle()
    assert record_count(sandbox) == 1


def test_a_colleague_of_the_enterprise_is_not_shown_as_another_organization(
    sandbox: Sandbox,
) -> None:
    _grid(sandbox)
    assert sandbox.driver is not None
    mention = sandbox.driver.mention(MARIA)
    response = sandbox.driver.command(ALICE, CHANNEL, f"{mention} switch edge-3 to the new uplink")
    assert response.status == 200
    sandbox.settle()
    requester = record_json(sandbox, 1)["requesters"][0]
    assert (requester["org_team_id"], requester["org_name"]) == (None, None)
    assert "Acme Europe" not in visible_text(request(sandbox, 1))
