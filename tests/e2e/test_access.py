"""Who may do and see what, when Slack cannot say who someone is or which channels they are in:
nothing that depends on it is granted (the person is asked to try again), and the digest
posted into a channel shows the text of only the records everyone there may see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.emulator.sandbox import Sandbox
from bot.errors import ModalInvalid
from bot.models import AuditEvent
from bot.slack.ids import BlockId, CallbackId
from bot.usecases.configure import SettingsForm, WorkspaceForm
from tests.conftest import ALICE, BOB, CHANNEL, CHEN, LI, TEAM, WANG, add_cast
from tests.e2e.helpers import capture, record_count, record_json
from tests.support import ManualClock

DIGESTS = "C0DIGEST01"
PRIVATE = "C0SECRET01"
WHO = "couldn't check with Slack who you are"
CHANNELS = "couldn't check with Slack which channels you are in"


def _inputs(view: dict[str, Any]) -> set[str]:
    return {b["block_id"] for b in view["blocks"] if b["type"] == "input"}


def _settings_changes(box: Sandbox) -> list[AuditEvent]:
    assert box.runtime is not None
    with box.runtime.session_factory() as session:
        query = select(AuditEvent).where(AuditEvent.type == "settings_changed")
        return list(session.execute(query).scalars())


def _retry_later(box: Sandbox, clock: ManualClock, minutes: int = 1) -> None:
    assert box.runtime is not None
    clock.advance(minutes=minutes)
    box.runtime.dispatcher.wake()
    box.settle()


# -- fail closed: who someone is -------------------------------------------------------------


def test_settings_wait_until_slack_says_who_asks(sandbox: Sandbox, clock: ManualClock) -> None:
    """A Slack Connect guest Slack cannot describe (users.info fails) is not taken for a
    member of the workspace: neither the form nor a submission lets them change its part."""
    box = sandbox
    assert box.driver is not None and box.runtime is not None
    box.emulator.add_channel(DIGESTS, "sayso-digest", members=[CHEN])
    before = box.runtime.team.configuring.workspace_policy()
    box.emulator.fail("users.info", status=500, times=1000)

    refused = box.driver.command(CHEN, CHANNEL, "settings")
    assert refused.status == 200
    assert WHO in refused.body and "try again in a minute" in refused.body
    assert box.emulator.modals(CHEN) == []
    # Nor a member whom Slack cannot describe either: nothing is granted on a guess.
    assert WHO in box.driver.command(ALICE, CHANNEL, "settings").body

    # A submission that carries the workspace's part is refused in the form, and not stored.
    forged = SettingsForm(
        CHEN,
        WorkspaceForm(DIGESTS, "06:00", ("SA",), "UTC", "72", "0", "30", "nothing"),
        None,
        False,
    )
    with pytest.raises(ModalInvalid) as refusal:
        box.runtime.team.configuring.save_settings(forged)
    (problem,) = refusal.value.errors.values()
    assert set(refusal.value.errors) == {BlockId.DIGEST_CHANNEL} and WHO in problem
    assert box.runtime.team.configuring.workspace_policy() == before
    assert _settings_changes(box) == []

    # Slack answers again: a minute later the guest is known for what they are.
    box.emulator.heal("users.info")
    clock.advance(minutes=1)
    assert box.driver.command(CHEN, CHANNEL, "settings").body == ""
    (guest,) = box.emulator.modals(CHEN)
    assert guest["callback_id"] == CallbackId.SETTINGS_MODAL
    assert _inputs(guest) == {BlockId.SNOOZE_UNTIL, BlockId.MUTE}
    with pytest.raises(ModalInvalid) as refusal:
        box.runtime.team.configuring.save_settings(forged)
    assert refusal.value.errors == {
        BlockId.DIGEST_CHANNEL: "只有本工作区的成员可以修改其设置。"  # chen reads Chinese
    }
    assert box.driver.command(ALICE, CHANNEL, "settings").body == ""
    assert BlockId.DIGEST_CHANNEL in _inputs(box.emulator.modals(ALICE)[0])


def test_the_refusal_speaks_chinese_where_that_is_the_default(
    database_url: str, clock: ManualClock
) -> None:
    with Sandbox(database_url, clock=clock, team_id=TEAM, settings={"locale": "zh-CN"}) as box:
        add_cast(box.emulator)
        assert box.driver is not None
        box.emulator.fail("users.info", status=500, times=1000)
        refused = box.driver.command(CHEN, CHANNEL, "settings")
        assert "Sayso 暂时无法向 Slack 确认你是谁" in refused.json()["text"]
        assert box.emulator.modals(CHEN) == []


def test_a_memo_reaction_waits_until_slack_says_who_reacted(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    """:memo: from the client's side is their own note; while Slack cannot say whose
    reaction it is, nothing is captured on a guess, and it is looked at again later."""
    box = sandbox
    assert box.driver is not None
    guests, _ = box.driver.say(WANG, CHANNEL, "please reboot core-1 tonight")
    ours, _ = box.driver.say(WANG, CHANNEL, "and drain edge-3 first")
    box.emulator.fail("users.info", status=500, times=1000)
    box.driver.react(WANG, CHANNEL, guests["ts"])
    box.driver.react(ALICE, CHANNEL, ours["ts"])
    box.settle()
    assert record_count(box) == 0

    box.emulator.heal("users.info")
    _retry_later(box, clock, minutes=5)
    assert record_count(box) == 1  # alice's; wang's own note captured nothing
    record = record_json(box, 1)
    assert record["captured_by_id"] == ALICE and record["text"] == "and drain edge-3 first"


# -- fail closed: who is in a channel ----------------------------------------------------------


def test_show_and_search_ask_to_try_again_when_slack_cannot_list_the_persons_channels(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    box = sandbox
    assert box.driver is not None
    capture(box, ALICE, WANG, "open port 443 on fw-2")
    box.emulator.fail("users.conversations", status=500, times=1000)

    shown = box.driver.command(LI, CHANNEL, "show 1")  # li is in the channel, not a party
    assert CHANNELS in shown.body and "try again in a minute" in shown.body
    assert "port 443" not in shown.body
    found = box.driver.command(LI, CHANNEL, "search port")
    assert CHANNELS in found.body and "port 443" not in found.body
    assert CHANNELS in box.driver.command(LI, CHANNEL, "list").body
    exported = box.driver.command(LI, CHANNEL, "export 1")
    assert CHANNELS in exported.body
    box.settle()
    assert box.emulator.calls("files.completeUploadExternal") == []  # no evidence file sent
    # Whoever the record names needs no look-up: alice captured it.
    assert "open port 443 on fw-2" in box.driver.command(ALICE, CHANNEL, "show 1").body

    # The find form says it next to the query.
    assert box.driver.shortcut(LI, CallbackId.FIND_SHORTCUT.value).status == 200
    (form,) = box.emulator.modals(LI)
    answer = box.driver.submit_view(LI, form["id"], {BlockId.QUERY: {"value": "port"}})
    assert answer.json()["response_action"] == "errors"
    assert CHANNELS in answer.json()["errors"][BlockId.QUERY]

    # As soon as Slack answers again, so does Sayso (a failure is not remembered).
    box.emulator.heal("users.conversations")
    assert "open port 443 on fw-2" in box.driver.command(LI, CHANNEL, "show 1").body


def test_the_home_tab_waits_until_slack_says_which_channels_the_person_is_in(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    box = sandbox
    assert box.driver is not None
    capture(box, ALICE, WANG, "open port 443 on fw-2")
    box.emulator.fail("users.conversations", status=500, times=1000)
    assert box.driver.open_home(LI).status == 200
    box.settle()
    assert box.emulator.home_view(LI) is None  # not drawn with the channel's records left out

    box.emulator.heal("users.conversations")
    _retry_later(box, clock, minutes=5)
    home = box.emulator.home_view(LI)
    assert home is not None and "open port 443 on fw-2" in str(home["blocks"])


# -- the digest's channel ----------------------------------------------------------------------


@pytest.fixture
def digest_box(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    with Sandbox(
        database_url, clock=clock, team_id=TEAM, settings={"digest_channel": DIGESTS}
    ) as box:
        add_cast(box.emulator)
        box.emulator.add_channel(PRIVATE, "core-secret", members=[ALICE, WANG], is_private=True)
        box.emulator.add_channel(DIGESTS, "sayso-digest", members=[ALICE, LI, BOB])
        yield box


def _posted(box: Sandbox, channel: str) -> str:
    """Everything posted into a channel, threads included, as one text."""
    return str(
        [box.emulator.thread(channel, m["ts"]) for m in box.emulator.messages(channel)]
        + box.emulator.messages(channel)
    )


def _dms(box: Sandbox) -> dict[str, str]:
    """Each owner's digest DM, by owner."""
    opened = {
        c.response["channel"]["id"]: c.params["users"]
        for c in box.emulator.calls("conversations.open")
    }
    return {
        opened[c.params["channel"]]: str(c.params)
        for c in box.emulator.calls("chat.postMessage")
        if c.params["channel"] in opened
    }


def test_the_channel_digest_shows_only_its_own_records_and_counts_the_rest(
    digest_box: Sandbox,
) -> None:
    box = digest_box
    assert box.driver is not None and box.runtime is not None
    m = box.driver.mention
    # In a private channel li and bob are not in: alice's, and one li carries out.
    box.driver.command(ALICE, PRIVATE, f"{m(WANG)} wipe the old HSM keys")
    box.driver.command(ALICE, PRIVATE, f"{m(WANG)} rotate the root CA owner:{m(LI)}")
    # In the digest channel itself: everyone there may see it.
    box.driver.command(LI, DIGESTS, f"{m(BOB)} approve the change window")
    box.settle()

    assert box.runtime.team.digesting.tick() == 3  # the channel, alice and li
    box.settle()
    posted = _posted(box, DIGESTS)
    assert "3 unresolved" in posted
    assert "approve the change window" in posted
    assert "HSM" not in posted and "root CA" not in posted
    assert "2 more from other channels" in posted  # counted, not shown
    assert m(WANG) not in posted  # nor who was asked

    dms = _dms(box)
    assert set(dms) == {ALICE, LI}
    # Each owner's DM lists what they carry: li owns #2, from a channel li is not in.
    assert "wipe the old HSM keys" in dms[ALICE] and "root CA" not in dms[ALICE]
    assert "rotate the root CA" in dms[LI] and "HSM" not in dms[LI]
    assert "approve the change window" in dms[LI]
