"""An attacker's and a real workspace's look at search (issue 17): who may find what once
Slack says they left a channel, and lines Slack may carry that no index expects."""

from __future__ import annotations

import re

import pytest

from bot.db import unit_of_work
from bot.emulator import handlers as emulator_handlers
from bot.emulator.calls import ApiCall
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


@pytest.fixture
def pages_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack answers a page of one channel whatever the limit asked (it may return fewer
    than asked, with a next_cursor, even when more exist)."""
    monkeypatch.setattr(emulator_handlers, "_limit", lambda params, default: 1)


def test_every_page_of_a_persons_channels_counts(
    sandbox: Sandbox, clock: ManualClock, pages_of_one: None
) -> None:
    box = sandbox
    for n in range(3):
        box.emulator.add_channel(f"C0PAGE000{n}", f"page-{n}", members=[ALICE, LI])
    last = _capture(box, clock, "C0PAGE0002", "rotate the vpn keys tonight")
    assert _numbers(_search(box, LI, "vpn")) == [last]
    assert len(box.emulator.calls("users.conversations")) >= 4  # CHANNEL and three more


def test_slack_rate_limiting_a_later_page_is_no_partial_answer(
    sandbox: Sandbox, clock: ManualClock, pages_of_one: None
) -> None:
    """A 429 on the second page: neither the first page taken for all of li's channels
    (results missing, silently) nor an error; li is asked to try again."""
    box = sandbox
    for n in range(3):
        box.emulator.add_channel(f"C0PAGE000{n}", f"page-{n}", members=[ALICE, LI])
    _capture(box, clock, "C0PAGE0002", "rotate the vpn keys tonight")
    queued: list[bool] = []

    def after_the_first_page(call: ApiCall) -> None:
        if call.method == "users.conversations" and not queued:
            queued.append(True)
            box.emulator.fail("users.conversations", status=429, retry_after=30)

    stop = box.emulator.subscribe(after_the_first_page)
    try:
        body = _search(box, LI, "vpn")
    finally:
        stop()
    assert "try again in a minute" in body and "rotate" not in body


@pytest.mark.parametrize("error", ["missing_scope", "invalid_auth", "no_permission"])
def test_slack_refusing_to_list_channels_is_said_not_taken_for_none(
    sandbox: Sandbox, clock: ManualClock, error: str
) -> None:
    """users.conversations refused (a scope not granted, a token gone): li is in CHANNEL all
    the same, so an empty answer ("no records") would be a silent lie; li is told Sayso could
    not check, as when Slack is down."""
    box = sandbox
    _capture(box, clock, CHANNEL, "rotate the vpn keys tonight")
    box.emulator.fail("users.conversations", error=error, times=10)
    body = _search(box, LI, "vpn")
    assert "couldn't check with Slack which channels you are in" in body, body
