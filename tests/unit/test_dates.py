"""Due-date phrases resolve to exact UTC instants, read in the typist's zone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from bot.records.dates import EXAMPLES, DueDateError, parse_due

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
# Thursday 2026-11-26 09:30 in Shanghai; still Wednesday 20:30 in New York.
NOW = datetime.fromisoformat("2026-11-26T09:30:00+08:00")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("fri 17:00", "2026-11-27 09:00"),
        ("friday 5pm", "2026-11-27 09:00"),
        ("Fri 17:00", "2026-11-27 09:00"),
        ("2026-12-01 17:00", "2026-12-01 09:00"),
        ("2026-12-01", "2026-12-01 09:00"),
        ("tomorrow", "2026-11-27 09:00"),
        ("tomorrow 9am", "2026-11-27 01:00"),
        ("in 2 hours", "2026-11-26 03:30"),
        ("next monday", "2026-11-30 09:00"),
        ("eod", "2026-11-26 09:00"),
        ("end of day", "2026-11-26 09:00"),
        ("明天", "2026-11-27 09:00"),
        ("明天下午5点", "2026-11-27 09:00"),
        ("明天17:00", "2026-11-27 09:00"),
        ("后天上午10点", "2026-11-28 02:00"),
        ("周五17:00", "2026-11-27 09:00"),
        ("星期五下午3点", "2026-11-27 07:00"),
        ("下周一", "2026-11-30 09:00"),
        ("12月1日 17:00", "2026-12-01 09:00"),
        ("2026年12月1日", "2026-12-01 09:00"),
    ],
)
def test_listed_phrases_in_shanghai(phrase: str, expected: str) -> None:
    due = parse_due(phrase, SHANGHAI, NOW)
    assert due == utc(expected)
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("fri 17:00", "2026-11-27 22:00"),
        ("tomorrow", "2026-11-26 22:00"),
        ("tomorrow 9am", "2026-11-26 14:00"),
        ("in 2 hours", "2026-11-26 03:30"),
        ("next monday", "2026-11-30 22:00"),
        ("2026-12-01", "2026-12-01 22:00"),
        ("明天下午5点", "2026-11-26 22:00"),
        ("下周一", "2026-11-30 22:00"),
        # Wednesday evening there, so Thursday is tomorrow.
        ("thursday", "2026-11-26 22:00"),
    ],
)
def test_the_same_phrases_in_new_york(phrase: str, expected: str) -> None:
    assert parse_due(phrase, NEW_YORK, NOW) == utc(expected)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        # Today is Thursday: it counts only while the time is still ahead.
        ("thu 10:00", "2026-11-26 02:00"),
        ("thu 9:00", "2026-12-03 01:00"),
        ("thursday", "2026-11-26 09:00"),
        ("周四", "2026-11-26 09:00"),
        # 下周X is weekday X of next week, not the first X after today.
        ("下周五", "2026-12-04 09:00"),
        ("下周四", "2026-12-03 09:00"),
        ("下周日", "2026-12-06 09:00"),
        # A time alone, or a day and month alone, means the next such one, starting today.
        ("17:00", "2026-11-26 09:00"),
        ("11月26日", "2026-11-26 09:00"),
        ("december 1", "2026-12-01 09:00"),
        ("in 2 days", "2026-11-28 09:00"),
        # Chinese numerals, measure words, end of working day, full-width digits.
        ("下午三点", "2026-11-26 07:00"),
        ("明天上午十点半", "2026-11-27 02:30"),
        ("两小时后", "2026-11-26 03:30"),
        ("2个小时后", "2026-11-26 03:30"),
        ("十二月一日", "2026-12-01 09:00"),
        ("明天下班前", "2026-11-27 09:00"),
        ("晚上8点", "2026-11-26 12:00"),
        ("中午12点", "2026-11-26 04:00"),
        ("１７：００", "2026-11-26 09:00"),
        ("2026/12/01 17:00", "2026-12-01 09:00"),
        ("in 1.5 hours", "2026-11-26 03:00"),
        # A phrase naming its own zone is read in it.
        ("fri 17:00 +08:00", "2026-11-27 09:00"),
    ],
)
def test_reading_rules(phrase: str, expected: str) -> None:
    assert parse_due(phrase, SHANGHAI, NOW) == utc(expected)


@pytest.mark.parametrize(
    ("phrase", "tz", "now", "expected"),
    [
        # New York leaves DST at 02:00 on 2026-11-01: 17:00 that day is EST (UTC-5).
        ("tomorrow", NEW_YORK, "2026-10-31T12:00:00-04:00", "2026-11-01 22:00"),
        ("sun 17:00", NEW_YORK, "2026-10-31T12:00:00-04:00", "2026-11-01 22:00"),
        # 01:30 happens twice that night; the first one (EDT) is meant.
        ("tomorrow 1:30am", NEW_YORK, "2026-10-31T12:00:00-04:00", "2026-11-01 05:30"),
        # An elapsed duration is exact across the change, not two wall-clock hours.
        ("in 2 hours", NEW_YORK, "2026-11-01T00:30:00-04:00", "2026-11-01 06:30"),
        # An unknown zone name falls back to UTC.
        ("eod", "Mars/Olympus", "2026-11-26T01:30:00+00:00", "2026-11-26 17:00"),
        ("tomorrow 9am", "", "2026-11-26T01:30:00+00:00", "2026-11-27 09:00"),
    ],
)
def test_zones(phrase: str, tz: str, now: str, expected: str) -> None:
    assert parse_due(phrase, tz, datetime.fromisoformat(now)) == utc(expected)


@pytest.mark.parametrize(
    "phrase",
    [
        "whenever",
        "asap?",
        "",
        "   ",
        "32/13",
        # Day/month numbers without a leading year are ambiguous (US vs. elsewhere).
        "12/01 17:00",
        "12/01/2026",
        "1-2",
        "12.30",
        # CST is China Standard Time to half our users and US Central to dateparser.
        "fri 5pm CST",
        # A month or a year is not a day.
        "december",
        "2026",
        "5",
        "2026-02-30",
        "monday 25:00",
        # A time dateparser cannot read is not silently replaced by 17:00.
        "24:00",
        "tomorrow 13pm",
        "13月1日",
        "next sprint",
        "friday or monday",
    ],
)
def test_unreadable(phrase: str) -> None:
    with pytest.raises(DueDateError) as caught:
        parse_due(phrase, SHANGHAI, NOW)
    assert caught.value.reason == "unreadable"
    assert caught.value.phrase == phrase


@pytest.mark.parametrize(
    ("phrase", "tz", "now"),
    [
        ("2026-11-25", SHANGHAI, NOW),
        ("2026-11-26 09:00", SHANGHAI, NOW),
        ("yesterday", SHANGHAI, NOW),
        ("now", SHANGHAI, NOW),
        ("9am", SHANGHAI, NOW),
        ("上午9点", SHANGHAI, NOW),
        # Already 20:30 in New York: end of day has passed, and is not moved to tomorrow.
        ("eod", NEW_YORK, NOW),
        ("end of day", SHANGHAI, datetime.fromisoformat("2026-11-26T18:00:00+08:00")),
        ("下班前", SHANGHAI, datetime.fromisoformat("2026-11-26T17:00:00+08:00")),
    ],
)
def test_past(phrase: str, tz: str, now: datetime) -> None:
    with pytest.raises(DueDateError) as caught:
        parse_due(phrase, tz, now)
    assert caught.value.reason == "past"


def test_a_date_beyond_the_calendar_is_unreadable() -> None:
    with pytest.raises(DueDateError) as caught:
        parse_due("9999-12-31 23:59", NEW_YORK, NOW)
    assert caught.value.reason == "unreadable"


def test_error_is_a_value_error_naming_the_phrase() -> None:
    error = DueDateError("whenever", "unreadable")
    assert isinstance(error, ValueError)
    assert "whenever" in str(error)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as caught:
        parse_due("tomorrow", SHANGHAI, datetime(2026, 11, 26, 9, 30))
    assert not isinstance(caught.value, DueDateError)


@pytest.mark.parametrize("tz", [SHANGHAI, NEW_YORK])
def test_every_example_is_readable(tz: str) -> None:
    assert len(EXAMPLES) >= 4
    assert any(not example.isascii() for example in EXAMPLES)
    for example in EXAMPLES:
        assert parse_due(example, tz, NOW) > NOW


def test_importing_the_module_does_not_load_dateparser() -> None:
    probe = "import sys, bot.records.dates; print('dateparser' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
