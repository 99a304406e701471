"""App Home: what waits for me, what I carry, what I asked for, what is new in my channels."""

from __future__ import annotations

from typing import Any

import pytest

from bot.emulator.sandbox import Sandbox
from bot.slack.ids import ActionId, BlockId, CallbackId, HomeAction
from tests.conftest import ALICE, CHANNEL, CHEN, LI, TEAM, WANG, ZHAO
from tests.e2e.helpers import buttons, capture, card, click, record_json, request
from tests.support import ManualClock


def _home_text(sandbox: Sandbox, user: str) -> str:
    view = sandbox.emulator.home_view(user)
    assert view is not None, f"no Home tab published for {user}"
    return str(view["blocks"])


def _section(text: str, title: str, next_title: str | None) -> str:
    start = text.index(title)
    return text[start : text.index(next_title, start) if next_title else None]


def test_home_shows_each_persons_records_and_follows_changes(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    m = sandbox.driver.mention
    sandbox.driver.command(ALICE, CHANNEL, f"{m(ZHAO)} drain edge-3 owner:{m(LI)}")
    sandbox.settle()

    for person in (WANG, ALICE, LI):
        assert sandbox.driver.open_home(person).status == 200
    sandbox.settle()
    wang = _home_text(sandbox, WANG)
    waiting = _section(wang, "Waiting for you to confirm", "Yours to carry out")
    assert "*#1*" in waiting and "*#2*" not in waiting

    alice = _home_text(sandbox, ALICE)
    assert "*#1*" in _section(alice, "Yours to carry out", "You asked")
    assert "*#2*" not in _section(alice, "Yours to carry out", "You asked")
    # Each record once: #1 is alice's to carry out, so not also "asked" nor "recent".
    asked = _section(alice, "You asked", "Recent in your channels")
    assert "*#1*" not in asked and "*#2*" in asked
    assert "*#1*" not in _section(alice, "Recent in your channels", None)
    assert "*#2*" in _section(_home_text(sandbox, LI), "Yours to carry out", "You asked")
    for person in (WANG, ALICE, LI):
        home = _home_text(sandbox, person)
        assert home.count("*#1*") == 1 and home.count("*#2*") == 1, person

    click(sandbox, WANG, 1, "Confirm")  # the Home tabs follow without being opened again
    wang = _home_text(sandbox, WANG)
    assert "*#1*" not in _section(wang, "Waiting for you to confirm", "Yours to carry out")
    assert "*#1*" in _section(wang, "Recent in your channels", None)  # moved, still once
    assert "*#1*" not in _section(_home_text(sandbox, ALICE), "You asked", "Recent")


def test_only_home_tabs_opened_lately_are_redrawn(sandbox: Sandbox, clock: ManualClock) -> None:
    """A tab nobody has opened is drawn when it is opened; one opened over a week ago is no
    longer redrawn as records move (it is drawn afresh on the next opening)."""
    assert sandbox.driver is not None
    assert sandbox.driver.open_home(WANG).status == 200
    sandbox.settle()
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    assert sandbox.emulator.home_view(ALICE) is None  # alice never opened hers
    assert "*#1*" in _home_text(sandbox, WANG)

    clock.advance(days=8)
    capture(sandbox, ALICE, WANG, "open port 8443 on fw-2")
    assert "*#2*" not in _home_text(sandbox, WANG)  # not redrawn: not looked at for 8 days

    assert sandbox.driver.open_home(WANG).status == 200
    sandbox.settle()
    assert "*#2*" in _home_text(sandbox, WANG)
    click(sandbox, WANG, 2, "Confirm")
    waiting = _section(
        _home_text(sandbox, WANG), "Waiting for you to confirm", "Yours to carry out"
    )
    assert "*#2*" not in waiting


def _buttons(view: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(label, action_id, value) of every button on a view, top to bottom."""
    return [
        (e["text"]["text"], e["action_id"], e.get("value"))
        for block in view["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
    ]


def test_the_main_actions_are_at_the_top_and_open_their_forms(sandbox: Sandbox) -> None:
    """New confirmation opens the capture form (asking which channel: a Home tab has none),
    Settings the settings form, Find the search form, which runs `/confirm search`'s search."""
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    assert sandbox.driver.open_home(ALICE).status == 200
    sandbox.settle()
    view = sandbox.emulator.home_view(ALICE)
    assert view is not None
    assert [b["type"] for b in view["blocks"][:2]] == ["header", "actions"]
    top = [(label, action) for label, action, _ in _buttons(view)[:3]]
    assert top == [
        ("New confirmation", HomeAction.NEW),
        ("Settings", HomeAction.SETTINGS),
        ("Find", HomeAction.FIND),
    ]

    assert sandbox.driver.click_home(ALICE, HomeAction.NEW).status == 200
    (form,) = sandbox.emulator.modals(ALICE)
    assert form["callback_id"] == CallbackId.CAPTURE_MODAL
    answer = sandbox.driver.submit_view(
        ALICE,
        form["id"],
        {
            BlockId.CHANNEL: {
                "value": {"type": "conversations_select", "selected_conversation": CHANNEL}
            },
            BlockId.REQUESTERS: {"value": sandbox.driver.multi_users([ZHAO])},
            BlockId.TEXT: {"value": "drain edge-3 before the window"},
        },
    )
    assert answer.status == 200 and sandbox.emulator.modals(ALICE) == []
    sandbox.settle()
    assert record_json(sandbox, 2)["channel_id"] == CHANNEL
    assert card(sandbox, 2)["ts"] == record_json(sandbox, 2)["thread_ts"]
    assert "*#2*" in _home_text(sandbox, ALICE)  # and the tab follows

    assert sandbox.driver.click_home(ALICE, HomeAction.SETTINGS).status == 200
    (settings,) = sandbox.emulator.modals(ALICE)
    assert settings["callback_id"] == CallbackId.SETTINGS_MODAL
    sandbox.driver.submit_view(ALICE, settings["id"])

    assert sandbox.driver.click_home(ALICE, HomeAction.FIND).status == 200
    (find,) = sandbox.emulator.modals(ALICE)
    answer = sandbox.driver.submit_view(ALICE, find["id"], {BlockId.QUERY: {"value": "port 443"}})
    assert answer.json()["response_action"] == "update"
    assert "open port 443 on fw-2" in str(answer.json()["view"]["blocks"])
    assert "drain edge-3" not in str(answer.json()["view"]["blocks"])


@pytest.mark.parametrize(
    ("requester", "confirm", "reject"), [(WANG, "Confirm", "Reject"), (CHEN, "确认", "拒绝")]
)
def test_confirm_and_reject_on_the_rows_waiting_for_the_viewer(
    sandbox: Sandbox, requester: str, confirm: str, reject: str
) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, requester, "open port 443 on fw-2")
    capture(sandbox, ALICE, requester, "reboot core-1 tonight")
    assert sandbox.driver.open_home(requester).status == 200
    sandbox.settle()
    view = sandbox.emulator.home_view(requester)
    assert view is not None
    rows = [(label, value) for label, action, value in _buttons(view) if value]
    assert rows == [
        (confirm, f"{TEAM}/2/1"),
        (reject, f"{TEAM}/2/1"),
        (confirm, f"{TEAM}/1/1"),
        (reject, f"{TEAM}/1/1"),
    ]
    # The whole instruction is shown next to the buttons, as the thread asks it.
    assert "reboot core-1 tonight" in str(view["blocks"])
    # Reject asks first here too, as on the card and the request.
    dialogs = [
        element.get("confirm")
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("value", "").startswith(f"{TEAM}/")
    ]
    assert [d is not None for d in dialogs] == [False, True, False, True]

    sandbox.driver.click_home(requester, ActionId.CONFIRM, value=f"{TEAM}/1/1")
    sandbox.settle()
    sandbox.driver.click_home(requester, ActionId.REJECT, value=f"{TEAM}/2/1")
    sandbox.settle()

    one, two = record_json(sandbox, 1), record_json(sandbox, 2)
    assert (one["status"], two["status"]) == ("confirmed", "rejected")
    # The same path as the request's buttons: the same history and the same thread replies.
    assert one["events"][-2]["type"] == "confirmed" and one["events"][-2]["actor_id"] == requester
    assert "#1" in sandbox.emulator.thread(CHANNEL, one["thread_ts"])[-1]["text"]
    assert set(buttons(request(sandbox, 1)).values()) == {
        ActionId.DONE,
        ActionId.CANCEL,
        ActionId.CHANGE,
    }
    home = _home_text(sandbox, requester)
    waiting = _section(home, "等待你确认" if requester == CHEN else "Waiting for you", None)
    assert "#1" not in waiting.split("divider")[0] and "#2" not in waiting.split("divider")[0]
    assert sandbox.emulator.direct_messages(requester) == []


def test_a_superseded_revision_is_refused_from_the_home_tab_too(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "set the BGP hold timer on edge-3 to 30s")
    assert sandbox.driver.open_home(WANG).status == 200
    sandbox.settle()
    stale = sandbox.emulator.home_view(WANG)
    assert stale is not None

    click(sandbox, ALICE, 1, "Request change")
    (form,) = sandbox.emulator.modals(ALICE)
    sandbox.driver.submit_view(
        ALICE, form["id"], {BlockId.TEXT: {"value": "set the BGP hold timer on edge-3 to 60s"}}
    )
    sandbox.settle()
    assert record_json(sandbox, 1)["revision"] == 2

    # Wang's client still shows the tab as it was: its Confirm names revision 1.
    response = sandbox.driver.click_home(WANG, ActionId.CONFIRM, value=f"{TEAM}/1/1", view=stale)
    assert response.status == 200
    sandbox.settle()
    assert record_json(sandbox, 1)["status"] == "pending"
    # Refused, and told by direct message: a Home tab has no channel to whisper in.
    (told,) = sandbox.emulator.direct_messages(WANG)
    assert "revision 1 of #1" in told["text"] and "revision 2" in told["text"]

    sandbox.driver.click_home(WANG, ActionId.CONFIRM, value=f"{TEAM}/1/2")  # the redrawn tab
    sandbox.settle()
    assert record_json(sandbox, 1)["status"] == "confirmed"
