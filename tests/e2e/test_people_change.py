"""A person's name, time zone and language are kept for a day, but a change in Slack
(`user_change`) applies to the very next message."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, WANG
from tests.e2e.helpers import buttons, capture, record_json, request, visible_text
from tests.support import ManualClock


def test_a_requester_who_switches_to_chinese_gets_the_next_request_in_chinese(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "open port 443 on edge-3")
    assert "please confirm" in visible_text(request(sandbox, 1))

    clock.advance(minutes=1)  # well within the day Sayso keeps what users.info said
    response = sandbox.driver.change_user(WANG, locale="zh-CN")
    assert response.status == 200, response.body

    capture(sandbox, ALICE, WANG, "close port 8080 on edge-3")
    asking = request(sandbox, 2)
    assert "请按原文确认" in visible_text(asking)
    assert list(buttons(asking)) == ["确认", "拒绝", "要求修改", "撤回"]
    # The first request stays as it was sent; only what comes next follows the change.
    assert "please confirm" in visible_text(request(sandbox, 1))


def test_a_new_time_zone_reads_the_next_due_date_there(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    """alice moves from Shanghai to New York: "due:2026-12-01 17:00" is 17:00 in New York."""
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "reboot core-1 due:2026-12-01 17:00")
    assert record_json(sandbox, 1)["due_at"].startswith("2026-12-01T09:00:00")  # UTC+8

    sandbox.driver.change_user(ALICE, tz="America/New_York")
    capture(sandbox, ALICE, WANG, "reboot core-2 due:2026-12-01 17:00")
    due = datetime.fromisoformat(record_json(sandbox, 2)["due_at"])
    assert due == datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 17:00 EST


def test_a_change_of_someone_never_seen_stores_nothing(sandbox: Sandbox) -> None:
    """Sayso keeps people it has dealt with; a colleague changing their name elsewhere in the
    workspace costs no users.info call and leaves no row."""
    assert sandbox.driver is not None and sandbox.runtime is not None
    from sqlalchemy import func, select

    from bot.models import SlackUser

    sandbox.emulator.add_user("U0NEWBIE01", "newbie", "New Bie")
    before = len(sandbox.emulator.calls("users.info"))
    assert sandbox.driver.change_user("U0NEWBIE01", name="nb").status == 200
    sandbox.settle()
    assert len(sandbox.emulator.calls("users.info")) == before
    with sandbox.runtime.session_factory() as session:
        kept = select(func.count()).select_from(SlackUser).where(SlackUser.user_id == "U0NEWBIE01")
        assert session.execute(kept).scalar_one() == 0
