"""When the digest is due: a workspace's days and hour, read with python-dateutil's rrule in
the workspace's own time zone (so daylight-saving changes move nothing by an hour); and the
working days and hours reminders keep to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, FR, MO, SA, SU, TH, TU, WE, rrule, weekday

WEEKDAYS: dict[str, weekday] = {
    "MO": MO,
    "TU": TU,
    "WE": WE,
    "TH": TH,
    "FR": FR,
    "SA": SA,
    "SU": SU,
}


@dataclass(frozen=True)
class DigestPolicy:
    zone: str = "UTC"
    at: time = time(9, 0)
    days: tuple[str, ...] = ("MO", "TU", "WE", "TH", "FR")
    channel_id: str | None = None
    # When nothing is unresolved: post the one-line "All clear" in the channel, or nothing.
    post_all_clear: bool = True


def due_day(policy: DigestPolicy, now: datetime) -> date | None:
    """Today's local date if today's digest time has come (a late start still sends it,
    the same day only); None on days off and before the hour."""
    if not policy.days:
        return None  # rrule would read no days as every day
    tz = ZoneInfo(policy.zone)
    local = now.astimezone(tz)
    midnight = datetime.combine(local.date(), time(), tzinfo=tz)
    schedule = rrule(
        DAILY,
        dtstart=midnight,
        byweekday=[WEEKDAYS[d] for d in policy.days],
        byhour=policy.at.hour,
        byminute=policy.at.minute,
        bysecond=0,
    )
    latest = schedule.before(local, inc=True)
    return local.date() if latest is not None and latest.date() == local.date() else None


@dataclass(frozen=True)
class ReminderPolicy:
    after: timedelta = timedelta(hours=4)
    most: int = 2
    expire_after_working_days: int = 3
    # Reminders reach people at work: these hours, Monday to Friday, in their own zone.
    working_hours: tuple[time, time] = (time(9, 0), time(18, 0))


def working_days_between(start: datetime, end: datetime, zone: str) -> int:
    """Whole working days (Monday to Friday) after `start`'s local date, up to `end`'s."""
    tz = ZoneInfo(zone)
    first = datetime.combine(start.astimezone(tz).date(), time(), tzinfo=tz)
    last = datetime.combine(end.astimezone(tz).date(), time(), tzinfo=tz)
    if last <= first:
        return 0
    days = rrule(DAILY, dtstart=first, until=last, byweekday=(MO, TU, WE, TH, FR))
    return sum(1 for day in days if day > first)


def at_work(moment: datetime, zone: str, policy: ReminderPolicy) -> bool:
    local = moment.astimezone(ZoneInfo(zone))
    start, end = policy.working_hours
    return local.weekday() < 5 and start <= local.time() < end
