"""Settings kept in the database, changed with `/confirm settings`: each workspace's digest,
reminder and expiry policy, and each person's snooze or mute.

The environment (`Settings`) gives the defaults. Only what someone actually changed is
stored, column by column, so a workspace keeps following the environment in everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import Settings
from bot.ledger import hashchain
from bot.models import PersonSettings, WorkspaceSettings
from bot.records.cadence import DigestPolicy, ReminderPolicy

log = logging.getLogger(__name__)

DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# What the form accepts, inclusive: (low, high).
REMIND_AFTER_HOURS = (1, 72)
MOST_REMINDERS = (0, 10)
EXPIRE_AFTER_DAYS = (1, 30)


@dataclass(frozen=True)
class Policy:
    """A workspace's schedule: when and where the digest goes, how reminders and expiry go."""

    digest: DigestPolicy
    reminders: ReminderPolicy


@dataclass(frozen=True)
class Personal:
    muted: bool = False
    snoozed_until: date | None = None  # DMs and reminders resume on that date

    def quiet_on(self, day: date) -> bool:
        return self.muted or (self.snoozed_until is not None and day < self.snoozed_until)


def defaults(settings: Settings) -> Policy:
    """The policy the environment sets, for workspaces that stored nothing."""
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return Policy(
        DigestPolicy(
            zone=settings.digest_timezone,
            at=time(hour, minute),
            days=tuple(settings.digest_days.split(",")),
            channel_id=settings.digest_channel or None,
        ),
        ReminderPolicy(),
    )


def policy(session: Session, team_id: str, fallback: Policy) -> Policy:
    """The workspace's policy: what it stored, else `fallback` (the environment's)."""
    row = session.get(WorkspaceSettings, team_id)
    return fallback if row is None else _apply(fallback, _stored(row))


def save_workspace(
    session: Session,
    team_id: str,
    user_id: str,
    now: datetime,
    chosen: Policy,
    fallback: Policy,
) -> dict[str, list[Any]]:
    """Store what differs from the workspace's policy now; each change goes into the ledger
    (who, what, from and to). Returns the changes, {name: [before, after]}."""
    workspace = hashchain.lock_workspace(session, team_id, now)  # one writer at a time
    row = session.get(WorkspaceSettings, team_id)
    before = columns(policy(session, team_id, fallback))
    after = columns(chosen)
    changes = {name: [before[name], after[name]] for name in after if after[name] != before[name]}
    if not changes:
        return {}
    if row is None:
        row = WorkspaceSettings(team_id=team_id)
        session.add(row)
    for name, (_, value) in changes.items():
        setattr(row, name, value)
    row.updated_by_id, row.updated_at = user_id, now
    hashchain.append(
        session, workspace, None, "settings_changed", user_id, now, {"changes": changes}
    )
    log.info("%s changed the settings of %s: %s", user_id, team_id, changes)
    return changes


def personal(session: Session, team_id: str, user_ids: Iterable[str]) -> dict[str, Personal]:
    """Everyone's own settings, in one query; people who stored nothing get the default."""
    wanted = sorted(set(user_ids))
    found = {
        row.user_id: Personal(row.muted, row.snoozed_until)
        for row in session.execute(
            select(PersonSettings).where(
                PersonSettings.team_id == team_id, PersonSettings.user_id.in_(wanted)
            )
        ).scalars()
    }
    return {user_id: found.get(user_id, Personal()) for user_id in wanted}


def save_personal(
    session: Session, team_id: str, user_id: str, now: datetime, chosen: Personal
) -> None:
    hashchain.lock_workspace(session, team_id, now)  # so two saves never insert the row twice
    row = session.get(PersonSettings, (team_id, user_id))
    if row is None:
        row = PersonSettings(team_id=team_id, user_id=user_id)
        session.add(row)
    if (row.muted, row.snoozed_until) != (chosen.muted, chosen.snoozed_until):
        log.info(
            "%s of %s: muted %s, snoozed until %s",
            user_id,
            team_id,
            chosen.muted,
            chosen.snoozed_until,
        )
    row.muted, row.snoozed_until, row.updated_at = chosen.muted, chosen.snoozed_until, now


# -- policy <-> columns --------------------------------------------------------------------


def columns(chosen: Policy) -> dict[str, Any]:
    """A policy as the columns of `workspace_settings` hold it (JSON-ready, for the ledger)."""
    digest, reminders = chosen.digest, chosen.reminders
    return {
        "digest_channel": digest.channel_id or "",
        "digest_time": digest.at.strftime("%H:%M"),
        "digest_days": ",".join(digest.days),
        "timezone": digest.zone,
        "remind_after_hours": int(reminders.after / timedelta(hours=1)),
        "most_reminders": reminders.most,
        "expire_after_days": reminders.expire_after_working_days,
        "post_all_clear": digest.post_all_clear,
    }


def _stored(row: WorkspaceSettings) -> dict[str, Any]:
    return {
        name: getattr(row, name)
        for name in columns(Policy(DigestPolicy(), ReminderPolicy()))
        if getattr(row, name) is not None
    }


def _apply(base: Policy, values: dict[str, Any]) -> Policy:
    digest, reminders = base.digest, base.reminders
    if "digest_channel" in values:
        digest = replace(digest, channel_id=values["digest_channel"] or None)
    if "digest_time" in values:
        digest = replace(digest, at=time.fromisoformat(values["digest_time"]))
    if "digest_days" in values:
        digest = replace(digest, days=tuple(d for d in values["digest_days"].split(",") if d))
    if "timezone" in values:
        digest = replace(digest, zone=values["timezone"])
    if "post_all_clear" in values:
        digest = replace(digest, post_all_clear=values["post_all_clear"])
    if "remind_after_hours" in values:
        reminders = replace(reminders, after=timedelta(hours=values["remind_after_hours"]))
    if "most_reminders" in values:
        reminders = replace(reminders, most=values["most_reminders"])
    if "expire_after_days" in values:
        reminders = replace(reminders, expire_after_working_days=values["expire_after_days"])
    return Policy(digest, reminders)
