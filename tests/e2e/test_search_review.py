"""An attacker's and a real workspace's look at search (issue 17): who may find what once
Slack says they left a channel, and lines Slack may carry that no index expects."""

from __future__ import annotations

import re

from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from tests.conftest import ALICE, BOB, CHANNEL, LI, TEAM
from tests.support import ManualClock

PRIVATE = "C0SECRET01"


def _numbers(body: str) -> list[int]:
    return [int(n) for n in re.findall(r"\*#(\d+)\*", body)]


def _capture(box: Sandbox, clock: ManualClock, channel: str, text: str) -> int:
    """A record alice captured in `channel`, bob asked to confirm: li is none of its people."""
    assert box.runtime is not None
    clock.advance(seconds=1)
    with unit_of_work(box.runtime.session_factory) as session:
        capture = Capture(TEAM, channel, ALICE, (BOB,), text)
        return lifecycle.capture(session, clock.now(), capture).number


def _search(box: Sandbox, user: str, line: str) -> str:
    assert box.driver is not None
    response = box.driver.command(user, CHANNEL, f"search {line}")
    assert response.status == 200, response.body
    return response.body


def test_whoever_leaves_a_private_channel_stops_finding_its_records_at_once(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    """Slack tells the bot (member_left_channel) when someone leaves or is removed from a
    channel it is in: the channels Slack listed for them a minute ago no longer hold."""
    box = sandbox
    assert box.driver is not None
    box.emulator.add_channel(PRIVATE, "secret", members=[ALICE, LI], is_private=True)
    secret = _capture(box, clock, PRIVATE, "rotate the vpn keys tonight")
    assert _numbers(_search(box, LI, "vpn")) == [secret]

    box.driver.event(box.emulator.remove(PRIVATE, LI))
    box.settle()
    clock.advance(seconds=30)
    assert _numbers(_search(box, LI, "vpn")) == []
    assert _numbers(_search(box, LI, "list")) == []
    assert "rotate the vpn" not in box.driver.command(LI, CHANNEL, f"show {secret}").body
    # Whoever is still in it finds it as before.
    assert _numbers(_search(box, ALICE, "vpn")) == [secret]


def test_a_line_with_a_nul_character_is_answered(sandbox: Sandbox, clock: ManualClock) -> None:
    """A form field may carry %00: PostgreSQL refuses it in any text it is given, and the
    search must not fail for it (on SQLite it simply finds nothing)."""
    box = sandbox
    assert box.driver is not None
    _capture(box, clock, CHANNEL, "deploy the edge build")
    for line in ("dep\x00loy", "\x00", "ui\x00", "edge in:\x00"):
        response = box.driver.command(LI, CHANNEL, f"search {line}")
        assert response.status == 200, (line, response.body)
