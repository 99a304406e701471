"""One way to print a time outside Slack: in the reader's zone, with the offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import localtime
from bot.emulator.transcript import render_mrkdwn
from bot.slack.rendering import slack_date

AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def test_times_show_in_the_chosen_zone_with_the_offset() -> None:
    assert localtime.shown(AT, "Asia/Shanghai") == "2026-11-26 17:30 +08:00"
    assert localtime.shown(AT, "America/New_York", seconds=True) == "2026-11-26 04:30:00 -05:00"
    assert localtime.shown(AT, None) == "2026-11-26 09:30 +00:00"
    # Stored forms: ISO text, a naive UTC datetime (SQLite), a Unix time (a Slack ts).
    assert localtime.shown("2026-11-26T09:30:00Z", "Asia/Tokyo") == "2026-11-26 18:30 +09:00"
    assert localtime.shown(AT.replace(tzinfo=None), "Asia/Shanghai").endswith("17:30 +08:00")
    assert localtime.shown(AT.timestamp(), "Europe/London") == "2026-11-26 09:30 +00:00"
    assert localtime.shown(None, "Asia/Shanghai") == "-"


def test_an_unknown_zone_is_refused_by_name() -> None:
    with pytest.raises(localtime.UnknownZone, match="Mars/Olympus"):
        localtime.shown(AT, "Mars/Olympus")
    assert localtime.usable("Mars/Olympus") is None
    assert localtime.usable("Asia/Shanghai") == "Asia/Shanghai"


def test_the_transcript_shows_slack_dates_in_the_readers_zone() -> None:
    text = f"Due {slack_date(AT, 'en')}."
    assert render_mrkdwn(text, {}, {}) == "Due 2026-11-26 09:30 UTC."  # the fallback
    assert render_mrkdwn(text, {}, {}, "Asia/Shanghai") == "Due 2026-11-26 17:30 +08:00."
