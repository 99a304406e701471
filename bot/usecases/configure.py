"""`/confirm settings`: the workspace's digest, reminder and expiry policy, and each person's
snooze or mute (stored by `settings_store`).

Anyone in the workspace may change its part, except guests from another organization in a
Slack Connect channel (the directory knows them: `Person.is_external`): a client
must not be able to turn the reminders about their own confirmations off. Everyone may
change their own part. When Slack cannot say who someone is, they are not taken for a member:
the form does not open, and a workspace part is not saved (they are asked to try again).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.db import reading, unit_of_work
from bot.errors import ModalInvalid
from bot.records import settings_store
from bot.records.settings_store import Personal, Policy
from bot.slack.i18n import translator
from bot.slack.ids import BlockId, CallbackId
from bot.usecases.ports import Ports

_HH_MM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
Problems = dict[BlockId, tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class WorkspaceForm:
    """The workspace's part of the settings form, as typed (checked by `save_settings`)."""

    channel_id: str | None
    at: str | None
    days: tuple[str, ...]
    zone: str
    remind_after: str
    most_reminders: str
    expire_after: str
    all_clear: str | None  # "post" or "nothing"


@dataclass(frozen=True)
class SettingsForm:
    user_id: str
    workspace: WorkspaceForm | None  # None when the form had no workspace part
    snooze_until: str | None
    muted: bool


class Configuring:
    def __init__(self, ports: Ports, defaults: Policy) -> None:
        self._ports = ports
        self._defaults = defaults  # the environment's, for what a workspace did not store

    @property
    def defaults(self) -> Policy:
        return self._defaults

    def workspace_policy(self) -> Policy:
        with reading(self._ports.session_factory) as session:
            return settings_store.policy(session, self._ports.team_id, self._defaults)

    def open_settings_modal(self, trigger_id: str, user_id: str) -> None:
        now = self._ports.now()
        person = self._ports.directory.known_person(self._ports.team_id, user_id, now)
        with reading(self._ports.session_factory) as session:
            current = settings_store.policy(session, self._ports.team_id, self._defaults)
            mine = settings_store.personal(session, self._ports.team_id, [user_id])[user_id]
        shown = settings_store.columns(current)
        # A snooze that has run out is not shown: saving the form would refuse it.
        snoozed = mine.snoozed_until
        if snoozed is not None and snoozed <= _today(now, person.tz):
            snoozed = None
        view = self._ports.renderer.render_view(
            "settings_modal",
            person.locale,
            callback_id=CallbackId.SETTINGS_MODAL.value,
            blocks=BlockId,
            may_change_workspace=not person.is_external,
            current=shown,
            chosen_days=shown["digest_days"].split(","),
            days=settings_store.DAYS,
            limits={
                "remind_after": settings_store.REMIND_AFTER_HOURS,
                "most_reminders": settings_store.MOST_REMINDERS,
                "expire_after": settings_store.EXPIRE_AFTER_DAYS,
            },
            muted=mine.muted,
            snoozed_until=snoozed.isoformat() if snoozed else "",
        )
        self._ports.gateway.open_view(trigger_id, view)

    def save_settings(self, form: SettingsForm) -> None:
        """Checked field by field; problems go back next to the fields, nothing is stored."""
        now = self._ports.now()
        person = self._ports.directory.person(self._ports.team_id, form.user_id, now)
        problems: Problems = {}
        chosen: Policy | None = None
        if form.workspace is not None:
            if not person.known:
                problems[BlockId.DIGEST_CHANNEL] = ("settings.unchecked_person", {})
            elif person.is_external:
                problems[BlockId.DIGEST_CHANNEL] = ("settings.not_allowed", {})
            else:
                chosen = _workspace_choice(form.workspace, self._defaults, problems)
        snooze = None
        if form.snooze_until:
            try:
                snooze = date.fromisoformat(form.snooze_until)
            except ValueError:
                snooze = date.min
            if snooze <= _today(now, person.tz):
                problems[BlockId.SNOOZE_UNTIL] = ("settings.snooze_past", {})
        if problems:
            t = translator(person.locale, str)
            raise ModalInvalid({block.value: t(key, **f) for block, (key, f) in problems.items()})
        with unit_of_work(self._ports.session_factory) as session:
            if chosen is not None:
                settings_store.save_workspace(
                    session, self._ports.team_id, form.user_id, now, chosen, self._defaults
                )
            settings_store.save_personal(
                session, self._ports.team_id, form.user_id, now, Personal(form.muted, snooze)
            )


def _workspace_choice(form: WorkspaceForm, base: Policy, problems: Problems) -> Policy:
    zone = form.zone.strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems[BlockId.TIMEZONE] = ("settings.bad_zone", {"zone": zone})
    if form.at is None or not _HH_MM.fullmatch(form.at):
        problems[BlockId.DIGEST_TIME] = ("settings.bad_time", {})
    days = tuple(d for d in settings_store.DAYS if d in form.days)
    if not days:
        problems[BlockId.DIGEST_DAYS] = ("settings.no_days", {})
    numbers = {
        BlockId.REMIND_AFTER: (form.remind_after, settings_store.REMIND_AFTER_HOURS),
        BlockId.MOST_REMINDERS: (form.most_reminders, settings_store.MOST_REMINDERS),
        BlockId.EXPIRE_AFTER: (form.expire_after, settings_store.EXPIRE_AFTER_DAYS),
    }
    read: dict[BlockId, int] = {}
    for block, (typed, (low, high)) in numbers.items():
        value = typed.strip()
        if value.isascii() and value.isdigit() and low <= int(value) <= high:
            read[block] = int(value)
        else:
            problems[block] = ("settings.bad_number", {"low": low, "high": high})
    if problems:
        return base
    digest = replace(
        base.digest,
        zone=zone,
        at=time.fromisoformat(str(form.at)),
        days=days,
        channel_id=form.channel_id or None,
        post_all_clear=form.all_clear != "nothing",
    )
    reminders = replace(
        base.reminders,
        after=timedelta(hours=read[BlockId.REMIND_AFTER]),
        most=read[BlockId.MOST_REMINDERS],
        expire_after_working_days=read[BlockId.EXPIRE_AFTER],
    )
    return Policy(digest, reminders)


def _today(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()
