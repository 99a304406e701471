"""`/confirm settings`: the workspace's digest, reminders and expiry, and each person's snooze
or mute, changed in a modal and obeyed by the schedule on the controlled clock."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.emulator.sandbox import Sandbox
from bot.errors import ModalInvalid
from bot.ledger.verify import verify
from bot.models import AuditEvent
from bot.slack.ids import BlockId, CallbackId
from bot.usecases.configure import SettingsForm, WorkspaceForm
from tests.conftest import ALICE, BOB, CHANNEL, CHEN, LI, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture, visible_text
from tests.support import ManualClock

DIGESTS = "C0DIGEST01"


@pytest.fixture
def box(sandbox: Sandbox) -> Sandbox:
    sandbox.emulator.add_channel(DIGESTS, "sayso-digest", members=[ALICE, LI, BOB])
    return sandbox


def _open(box: Sandbox, user: str) -> dict[str, Any]:
    assert box.driver is not None
    response = box.driver.command(user, CHANNEL, "settings")
    assert response.status == 200 and response.body == "", response.body
    (modal,) = box.emulator.modals(user)
    assert modal["callback_id"] == CallbackId.SETTINGS_MODAL
    return modal


def _inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def _save(box: Sandbox, user: str, **values: Any) -> Any:
    """Opens the form and submits it with `values` (block id -> what the person entered)."""
    assert box.driver is not None
    view = _open(box, user)
    answer = box.driver.submit_view(
        user, view["id"], {block: {"value": value} for block, value in values.items()}
    )
    assert answer.status == 200
    box.settle()
    return answer


def _tick(box: Sandbox) -> int:
    assert box.runtime is not None
    queued = box.runtime.team.digesting.tick()
    box.settle()
    return queued


def _dm_recipients(box: Sandbox) -> list[str]:
    return [c.params["users"] for c in box.emulator.calls("conversations.open")]


def _ledger(box: Sandbox) -> list[AuditEvent]:
    assert box.runtime is not None
    with box.runtime.session_factory() as session:
        assert verify(session).ok
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.type == "settings_changed")
            ).scalars()
        )


def test_the_form_shows_the_environment_and_help_lists_it(box: Sandbox) -> None:
    assert box.driver is not None
    help_text = str(box.driver.command(ALICE, CHANNEL, "help").json())
    assert "`settings`" in help_text

    shown = _inputs(_open(box, ALICE))
    assert shown[BlockId.TIMEZONE]["initial_value"] == "UTC"
    assert shown[BlockId.DIGEST_TIME]["initial_time"] == "09:00"
    days = [o["value"] for o in shown[BlockId.DIGEST_DAYS]["initial_options"]]
    assert days == ["MO", "TU", "WE", "TH", "FR"]
    assert "initial_conversation" not in shown[BlockId.DIGEST_CHANNEL]
    assert shown[BlockId.REMIND_AFTER]["initial_value"] == "4"
    assert shown[BlockId.MOST_REMINDERS]["initial_value"] == "2"
    assert shown[BlockId.EXPIRE_AFTER]["initial_value"] == "3"
    assert shown[BlockId.ALL_CLEAR]["initial_option"]["value"] == "post"
    assert "initial_date" not in shown[BlockId.SNOOZE_UNTIL]

    # A client's guest from another organization sees only their own part, in Chinese.
    guest = _open(box, CHEN)
    assert guest["title"]["text"] == "Sayso 设置"
    assert set(_inputs(guest)) == {BlockId.SNOOZE_UNTIL, BlockId.MUTE}
    assert "其他组织的访客" in str(guest["blocks"])


def test_saved_settings_move_the_digest_and_are_on_the_ledger(
    box: Sandbox, clock: ManualClock
) -> None:
    capture(box, ALICE, WANG, "open port 443 on fw-2")  # Thursday 09:30 UTC
    answer = _save(
        box,
        ALICE,
        **{
            BlockId.DIGEST_CHANNEL: {
                "type": "conversations_select",
                "selected_conversation": DIGESTS,
            },
            BlockId.DIGEST_TIME: {"type": "timepicker", "selected_time": "21:00"},
            BlockId.DIGEST_DAYS: ["TH"],
            BlockId.TIMEZONE: " America/New_York ",
        },
    )
    assert answer.body == "" and box.emulator.modals(ALICE) == []

    (changed,) = _ledger(box)
    assert changed.actor_id == ALICE and changed.record_id is None
    assert changed.payload["changes"] == {
        "digest_channel": ["", DIGESTS],
        "digest_time": ["09:00", "21:00"],
        "digest_days": ["MO,TU,WE,TH,FR", "TH"],
        "timezone": ["UTC", "America/New_York"],
    }
    shown = _inputs(_open(box, ALICE))
    assert shown[BlockId.DIGEST_CHANNEL]["initial_conversation"] == DIGESTS
    assert shown[BlockId.TIMEZONE]["initial_value"] == "America/New_York"
    assert box.driver is not None
    box.driver.submit_view(ALICE, box.emulator.modals(ALICE)[0]["id"])  # saved unchanged
    assert len(_ledger(box)) == 1  # no change, no event

    assert _tick(box) == 0  # 04:30 in New York, past the old 09:00 UTC; 17:30 for alice
    clock.advance(hours=3, minutes=30)  # Thursday 21:00 in Shanghai, alice's own zone
    assert _tick(box) == 1  # alice's DM, at the new time in her zone
    clock.advance(hours=13)  # Thursday 21:00 in New York, Friday in UTC
    assert _tick(box) == 1  # the channel's
    (summary,) = box.emulator.messages(DIGESTS)
    assert "1 unresolved" in summary["text"]
    # Built again when delivered, in the workspace's zone: New York's Thursday.
    assert "checkpoints published on 2026-11-26" in str(box.emulator.thread(DIGESTS, summary["ts"]))
    clock.advance(days=1)  # Friday in New York: not a digest day any more
    assert _tick(box) == 0
    clock.advance(days=6)  # Thursday again
    assert _tick(box) >= 1
    assert len(box.emulator.messages(DIGESTS)) == 2


def test_problems_come_back_next_to_their_fields(box: Sandbox) -> None:
    assert box.driver is not None and box.runtime is not None
    before = box.runtime.team.configuring.workspace_policy()
    view = _open(box, ALICE)
    refused = box.driver.submit_view(
        ALICE,
        view["id"],
        {
            BlockId.TIMEZONE: {"value": "Mars/Olympus"},
            BlockId.SNOOZE_UNTIL: {"value": box.driver.datepicker("2026-11-01")},
        },
    )
    errors = refused.json()["errors"]
    assert refused.json()["response_action"] == "errors"
    assert set(errors) == {BlockId.TIMEZONE, BlockId.SNOOZE_UNTIL}
    assert "Mars/Olympus" in errors[BlockId.TIMEZONE]
    assert len(box.emulator.modals(ALICE)) == 1  # the form stays open
    assert box.runtime.team.configuring.workspace_policy() == before
    assert _ledger(box) == []

    # What Slack's own inputs would not let through is checked again all the same.
    odd = WorkspaceForm(None, "25:00", ("XX",), "UTC", "0", "11", "²", "post")
    with pytest.raises(ModalInvalid) as refusal:
        box.runtime.team.configuring.save_settings(SettingsForm(ALICE, odd, None, False))
    assert refusal.value.errors == {
        BlockId.DIGEST_TIME: "Pick a time, like 09:00.",
        BlockId.DIGEST_DAYS: "Pick at least one day.",
        BlockId.REMIND_AFTER: "A whole number from 1 to 72.",
        BlockId.MOST_REMINDERS: "A whole number from 0 to 10.",
        BlockId.EXPIRE_AFTER: "A whole number from 1 to 30.",
    }

    # Someone from another organization cannot change the workspace's part, even by
    # sending it without the form.
    forged = SettingsForm(
        WANG, WorkspaceForm(None, "09:00", ("MO",), "UTC", "1", "0", "30", "nothing"), None, False
    )
    with pytest.raises(ModalInvalid) as refusal:
        box.runtime.team.configuring.save_settings(forged)
    assert refusal.value.errors == {
        BlockId.DIGEST_CHANNEL: "Only members of this workspace can change its settings."
    }
    assert box.runtime.team.configuring.workspace_policy() == before


def test_mute_and_snooze_stop_dms_and_reminders_but_not_the_channel(
    box: Sandbox, clock: ManualClock
) -> None:
    assert box.driver is not None
    _save(
        box,
        ALICE,
        **{
            BlockId.DIGEST_CHANNEL: {
                "type": "conversations_select",
                "selected_conversation": DIGESTS,
            },
            BlockId.MOST_REMINDERS: "1",
            BlockId.MUTE: ["mute"],
        },
    )
    _save(box, LI, **{BlockId.SNOOZE_UNTIL: box.driver.datepicker("2026-11-28")})  # Saturday
    _save(box, WANG, **{BlockId.SNOOZE_UNTIL: box.driver.datepicker("2026-11-30")})  # Monday
    assert _inputs(_open(box, WANG))[BlockId.SNOOZE_UNTIL]["initial_date"] == "2026-11-30"
    capture(box, ALICE, WANG, "open port 443 on fw-2")  # alice's
    box.driver.command(ALICE, CHANNEL, f"{box.driver.mention(ZHAO)} drain edge-3 owner:<@{LI}|li>")
    box.settle()

    def bells(number: int) -> list[str]:
        thread_ts = box.emulator.messages(CHANNEL)[number - 1]["ts"]
        return [m["text"] for m in box.emulator.thread(CHANNEL, thread_ts) if ":bell:" in m["text"]]

    box.emulator.clear_calls()
    assert _tick(box) == 1  # Thursday 09:30 UTC: the channel only
    assert len(box.emulator.messages(DIGESTS)) == 1 and _dm_recipients(box) == []

    clock.advance(hours=4)  # 13:30 in London: zhao is reminded; wang's turn passes unsent
    _tick(box)
    assert len(bells(2)) == 1 and bells(1) == []
    clock.advance(hours=12)  # Friday 09:30 in Shanghai, where wang is still snoozed
    _tick(box)
    clock.advance(hours=8)  # Friday 09:30 UTC: the channel's digest; li is still snoozed
    assert _tick(box) == 1 and _dm_recipients(box) == []
    clock.advance(days=2, hours=16)  # Monday 09:30 in Shanghai: the snooze is over ...
    _tick(box)
    assert bells(1) == []  # ... and the skipped reminder was not kept for later
    clock.advance(hours=8)  # Monday 09:30 UTC: li's snooze is over, alice stays muted
    _tick(box)
    assert _dm_recipients(box) == [LI]
    assert len(box.emulator.messages(DIGESTS)) == 3


def test_all_clear_or_nothing(box: Sandbox, clock: ManualClock) -> None:
    channel = {"type": "conversations_select", "selected_conversation": DIGESTS}
    _save(box, BOB, **{BlockId.DIGEST_CHANNEL: channel, BlockId.ALL_CLEAR: "nothing"})
    assert _tick(box) == 0
    capture(box, ALICE, WANG, "open port 443 on fw-2")
    assert _tick(box) == 1  # alice's DM; the channel's digest of the day was "nothing"
    assert box.emulator.messages(DIGESTS) == []
    assert box.runtime is not None
    assert box.runtime.team.configuring.workspace_policy().digest.post_all_clear is False

    _save(box, BOB, **{BlockId.ALL_CLEAR: "post"})
    _save(box, BOB, **{BlockId.EXPIRE_AFTER: "1"})
    clock.advance(days=1)  # Friday: #1 expires after one working day; alice hears of it
    assert _tick(box) == 2
    clock.advance(days=3)  # Monday: nothing left
    assert _tick(box) == 1
    (_, monday) = box.emulator.messages(DIGESTS)
    assert monday["text"].startswith(":white_check_mark: All clear")


def test_a_reminder_speaks_the_requesters_language(box: Sandbox, clock: ManualClock) -> None:
    capture(box, ALICE, CHEN, "请把网络参数改成30秒")  # chen writes in Chinese, in Shanghai
    clock.advance(hours=16)  # Friday 09:30 in Shanghai
    _tick(box)
    thread = box.emulator.thread(CHANNEL, box.emulator.messages(CHANNEL)[0]["ts"])
    (reminder,) = [m for m in thread if ":bell:" in m["text"]]
    assert f"<@{CHEN}>，#1 仍在等待你的确认" in visible_text(reminder)


def test_the_workspace_settings_stay_per_workspace(box: Sandbox) -> None:
    _save(box, ALICE, **{BlockId.TIMEZONE: "Asia/Shanghai"})
    assert box.runtime is not None
    with box.runtime.session_factory() as session:
        from bot.records import settings_store

        defaults = box.runtime.team.configuring.defaults
        assert settings_store.policy(session, TEAM, defaults).digest.zone == "Asia/Shanghai"
        assert settings_store.policy(session, "T0OTHER001", defaults).digest.zone == "UTC"
