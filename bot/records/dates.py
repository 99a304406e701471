"""Due-date phrases, in English and Simplified Chinese, read in the typist's time zone.

`parse_due` leans on `dateparser` for the reading itself. Where dateparser misreads a phrase
people really type, a rewrite in `_REWRITES` turns it into one it reads; the few rules that
cannot be rewrites (they move the reference day or decide what an incomplete phrase means)
are named functions below. The decisions, in one place:

- A phrase that names a day but no time of day is due at 17:00 local (business end of day);
  `eod`, `end of day` and 下班前 mean 17:00 too.
- A time alone (`17:00`, `5pm`, 下午5点) and `eod` mean today; once passed they are "past",
  never silently moved to tomorrow.
- A bare weekday (`fri 17:00`, 周五) is the next such day; today counts only while the time is
  still ahead. `next monday` is the first Monday after today (dateparser's reading, and the
  same day as 下周一). 下周X is weekday X of next week, weeks starting on Monday: on a Thursday,
  下周五 is eight days away.
- Numeric dates must be ISO (`2026-12-01`). `12/01` is December 1 in the US and January 12
  almost everywhere else, so day/month numbers without a leading year are refused as
  unreadable rather than guessed; so is the zone `CST` (China or US Central).
- Durations in hours or minutes (`in 2 hours`, 2小时后) are elapsed time, exact across a DST
  change; everything else is wall-clock time in the typist's zone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from dateparser.date import DateData

Reason = Literal["unreadable", "past"]

# Shown when a phrase cannot be read, so people see both languages work.
EXAMPLES: tuple[str, ...] = (
    "fri 17:00",
    "tomorrow 9am",
    "in 2 hours",
    "2026-12-01 17:00",
    "明天下午5点",
    "周五17:00",
    "下周一",
    "12月1日 17:00",
)

# A day named without a time of day is due at the business end of that day.
DUE_HOUR = 17
_DUE_TIME = f" {DUE_HOUR}:00"

_LANGUAGES = ["en", "zh"]
_MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
_ZH_DIGITS.update({"五": 5, "六": 6, "七": 7, "八": 8, "九": 9})
# Markers after which an hour on the 12-hour clock is p.m.: 下午3点 is 15:00, 中午12点 is noon.
_PM_BELOW = {"下午": 12, "傍晚": 12, "晚上": 12, "中午": 11}
_ZH_WEEKDAYS = "一二三四五六日天"


class DueDateError(ValueError):
    """A due-date phrase that cannot be used, with why: "unreadable" or "past"."""

    def __init__(self, phrase: str, reason: Reason) -> None:
        super().__init__(f"due date {phrase!r} is {reason}")
        self.phrase = phrase
        self.reason: Reason = reason


def _zh_number(match: re.Match[str]) -> str:
    text = match.group(0)
    if "十" not in text:
        return str(_ZH_DIGITS[text])
    tens, _, ones = text.partition("十")
    return str((_ZH_DIGITS[tens] if tens else 1) * 10 + (_ZH_DIGITS[ones] if ones else 0))


def _zh_clock(match: re.Match[str]) -> str:
    hour = int(match["hour"])
    minute = 30 if match["half"] else int(match["minute"] or 0)
    if hour < _PM_BELOW.get(match["marker"] or "", 0):
        hour += 12
    if hour > 23 or minute > 59:
        return match.group(0)  # left for dateparser to refuse
    return f" {hour:02d}:{minute:02d} "


def _zh_month_day(match: re.Match[str]) -> str:
    month, day = int(match["month"]), int(match["day"])
    if match["year"]:
        return f" {match['year']}-{month:02d}-{day:02d} "
    if not 1 <= month <= 12:
        return match.group(0)
    # An English month name keeps dateparser's "next such date" reading for a missing year.
    return f" {_MONTHS[month - 1]} {day} "


_Rewrite = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

# Phrases dateparser misreads, rewritten into ones it reads; applied in this order.
_REWRITES: tuple[_Rewrite, ...] = (
    # eod / end of day / 下班前: dateparser has no business end of day.
    (re.compile(r"\b(?:by\s+)?(?:eod|end\s+of\s+(?:the\s+)?day)\b|下班前", re.I), _DUE_TIME + " "),
    # 三点, 两小时, 十二月: dateparser reads Arabic digits only (weekdays like 周一 are kept).
    (
        re.compile(
            r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|[零〇一二两三四五六七八九])"
            r"(?=\s*个?\s*(?:点|點|时|小时|钟头|分|天|月|日|号))"
        ),
        _zh_number,
    ),
    # 2个小时后, 2 小时后: dateparser wants the unit glued to the number, without 个.
    (re.compile(r"(?<=\d)\s*个?\s*(?:小时|钟头)"), "小时"),
    (re.compile(r"(?<=\d)\s+(?=分钟|天)"), ""),
    # 12月1日, 2026年12月1日: dateparser reads 月日 only after a year (first, so 5点 never
    # takes the month for its minutes).
    (
        re.compile(
            r"(?:(?P<year>\d{4})\s*年\s*)?(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*[日号]"
        ),
        _zh_month_day,
    ),
    # 下午5点, 上午10点半, 17点30分: dateparser ignores the half of the day and the 点 unit.
    (
        re.compile(
            r"(?P<marker>上午|早上|早晨|凌晨|中午|下午|傍晚|晚上)?\s*(?P<hour>\d{1,2})\s*[点點时]钟?"
            r"(?:\s*(?P<half>半)|\s*(?P<minute>\d{1,2})\s*分?)?"
        ),
        _zh_clock,
    ),
)

_ISO_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}")
# A decimal quantity ("in 1.5 hours") is not a day and month.
_DAY_MONTH_NUMBERS = re.compile(r"\d{1,2}[-/.]\d{1,2}(?!\d*\s*(?:hours?|hrs?|days?|小时|天))", re.I)
_AMBIGUOUS_ZONE = re.compile(r"\bcst\b", re.I)
_TIME_ALONE = re.compile(r"^\d{1,2}(?::\d{2}\s*(?:[ap]\.?m\.?)?|\s*[ap]\.?m\.?)$", re.I)
_NEXT_WEEK_DAY = re.compile(rf"下个?(?:周|星期|礼拜)(?P<day>[{_ZH_WEEKDAYS}])")
_WEEKDAY = re.compile(
    r"\b(?:mon|tues?|wed|thu(?:rs?)?|fri|sat|sun|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
    rf"|(?:周|星期|礼拜)[{_ZH_WEEKDAYS}]",
    re.I,
)
_WEEKDAY_MODIFIER = re.compile(r"\b(?:next|last|this)\b|[上下本这](?:个)?(?:周|星期|礼拜)", re.I)
_CLOCK = re.compile(r"\d\s*:\s*\d|\d\s*[ap]\.?m\b", re.I)
_ELAPSED = re.compile(r"\b(?:hours?|hrs?|minutes?|mins?)\b|小时|分钟", re.I)


def parse_due(phrase: str, tz: str, now: datetime) -> datetime:
    """The due time `phrase` names, read in zone `tz` at `now`, as an aware UTC datetime.

    Raises DueDateError with reason "unreadable" or "past".
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    zone = _zone(tz)
    local_now = now.astimezone(zone).replace(tzinfo=None)
    text = _rewrite(phrase)
    if not text or _is_ambiguous(text):
        raise DueDateError(phrase, "unreadable")
    text, base, next_week = _shift_next_week(text, local_now)
    if _TIME_ALONE.match(text):
        text = "today " + text
    found = _read(text, base)
    if found is None:
        raise DueDateError(phrase, "unreadable")
    if not next_week:
        found = _today_if_ahead(found, text, local_now)
    try:
        due = _to_utc(found, text, zone, now, local_now)
    except OverflowError:  # e.g. 9999-12-31 23:59 west of Greenwich
        raise DueDateError(phrase, "unreadable") from None
    if due <= now:
        raise DueDateError(phrase, "past")
    return due


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Slack profiles occasionally carry zone names this machine's tz database lacks.
        return UTC


def _rewrite(phrase: str) -> str:
    # NFKC folds full-width digits and colons (１７：００) typed with Chinese input methods.
    text = unicodedata.normalize("NFKC", phrase)
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _is_ambiguous(text: str) -> bool:
    return bool(_DAY_MONTH_NUMBERS.search(_ISO_DATE.sub(" ", text)) or _AMBIGUOUS_ZONE.search(text))


def _shift_next_week(text: str, local_now: datetime) -> tuple[str, datetime, bool]:
    """Reads 下周X as X counted from this week's Sunday, i.e. weekday X of next week."""
    match = _NEXT_WEEK_DAY.search(text)
    if match is None:
        return text, local_now, False
    sunday = local_now + timedelta(days=6 - local_now.weekday())
    return text[: match.start()] + "周" + match["day"] + text[match.end() :], sunday, True


def _read(text: str, base: datetime) -> datetime | None:
    """The wall-clock time dateparser reads (aware only if the phrase named a zone)."""
    data = _dateparser(text, base)
    if data is None or "day" not in data.parts:
        return None  # no date, or only a month or a year: not a day anyone can be held to
    found: datetime = data.date_obj
    if "time" not in data.parts:
        if _CLOCK.search(text):
            return None  # a time was written but not understood (24:00, 13pm): not 17:00
        # Re-reading with the time lets dateparser's "next such date" see the real due time.
        with_time = _dateparser(text + _DUE_TIME, base)
        if with_time is not None and "time" in with_time.parts:
            found = with_time.date_obj
        else:
            found = found.replace(hour=DUE_HOUR, minute=0, second=0, microsecond=0)
    return found


def _dateparser(text: str, base: datetime) -> DateData | None:
    # Imported here: dateparser costs ~50 ms to import and ~100 ms on its first call, which
    # the bot's startup and commands without a due date should not pay.
    from dateparser.date import DateDataParser

    settings = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": base,
        # "UTC" makes dateparser compute in plain wall-clock time; the zone is applied after.
        "TIMEZONE": "UTC",
        # Only year-first numeric dates get this far (see _is_ambiguous).
        "DATE_ORDER": "YMD",
    }
    data: DateData = DateDataParser(languages=_LANGUAGES, settings=settings).get_date_data(text)
    return data if data.date_obj is not None else None


def _today_if_ahead(found: datetime, text: str, local_now: datetime) -> datetime:
    """dateparser sends a bare weekday naming today to next week; today counts if still ahead."""
    if not _WEEKDAY.search(text) or _WEEKDAY_MODIFIER.search(text) or found.tzinfo:
        return found
    earlier = found - timedelta(days=7)
    return earlier if earlier.date() == local_now.date() and earlier > local_now else found


def _to_utc(
    found: datetime, text: str, zone: tzinfo, now: datetime, local_now: datetime
) -> datetime:
    if found.tzinfo is not None:
        return found.astimezone(UTC)  # the phrase named its own zone
    if _ELAPSED.search(text):
        return (now + (found - local_now)).astimezone(UTC)
    # fold=0: an hour repeated by DST means its first occurrence.
    return found.replace(tzinfo=zone).astimezone(UTC)


def local_due(date: str, time: str | None, tz: str) -> datetime:
    """A date and optional time picked in a form (YYYY-MM-DD, HH:MM), read in `tz`, as UTC.

    Without a time the due moment is the end of that business day, as for phrases.
    """
    hour, minute = (int(part) for part in (time or f"{DUE_HOUR}:00").split(":"))
    day = datetime.fromisoformat(date)
    return day.replace(hour=hour, minute=minute, tzinfo=_zone(tz)).astimezone(UTC)
