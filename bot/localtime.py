"""Times as a person reads them: in the zone they chose, with its offset, never bare UTC.

One helper for every place outside Slack that prints a time (the CLI, the demo's transcript,
evidence files); inside Slack, `<!date^…>` tokens let each reader's client do it. The
formatting is Babel's, so the patterns are CLDR's rather than strftime's by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime

MINUTES = "yyyy-MM-dd HH:mm xxx"
SECONDS = "yyyy-MM-dd HH:mm:ss xxx"


class UnknownZone(ValueError):
    """A zone name the tz database does not know."""


def zone(name: str | None) -> tzinfo:
    """The zone called `name`; UTC for none. UnknownZone for a name the tz database lacks."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UnknownZone(f"unknown time zone {name!r}; use a name like Asia/Shanghai") from error


def known(name: str | None) -> bool:
    """Whether `name` is a zone the tz database knows (Slack's are; a typed one may not be)."""
    try:
        zone(name)
    except UnknownZone:
        return False
    return bool(name)


def usable(name: str | None) -> str | None:
    """`name` when the tz database knows it, else None (the caller's default applies)."""
    return name if known(name) else None


def moment_of(value: datetime | str | float) -> datetime:
    """A stored time (aware, naive UTC, ISO text or a Unix time) as an aware datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def shown(
    value: datetime | str | float | None,
    tz: str | None,
    *,
    seconds: bool = False,
    empty: str = "-",
    locale: str = "en",
) -> str:
    """`2026-11-26 17:30 +08:00`: the time in zone `tz` with its offset from UTC."""
    if value is None or value == "":
        return empty
    pattern = SECONDS if seconds else MINUTES
    return format_datetime(moment_of(value), pattern, tzinfo=zone(tz), locale=babel_locale(locale))


def babel_locale(locale: str) -> str:
    """Sayso's locale names (`en`, `zh-CN`) as Babel's (`en`, `zh_CN`)."""
    return locale.replace("-", "_")
