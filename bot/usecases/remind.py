"""Reminders in a pending record's thread, and expiry when nobody confirmed in time.

Each reminder has its number as a unique key (table `reminders`), so two replicas or a
restart never send one twice; a reminder waits until every requester it addresses is at
work in their own time zone (nights and weekends are skipped, not lost). Requesters who
muted or snoozed reminders (`/confirm settings`) are not addressed; when nobody is left to
address, that reminder's turn passes unsent. The delay, the number of reminders and the
expiry are the workspace's (`settings_store.policy`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot.db import reading, unit_of_work
from bot.models import Answer, Record, RecordStatus, Reminder
from bot.outbox.queue import JobKind
from bot.records import cadence, lifecycle, settings_store
from bot.records.settings_store import Policy
from bot.usecases.configure import Configuring
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports


class Reminding:
    def __init__(self, ports: Ports, messenger: Messenger, configuring: Configuring) -> None:
        self._ports = ports
        self._messenger = messenger
        self._configuring = configuring

    def remind_and_expire(self, policy: Policy | None = None) -> tuple[int, int]:
        """One pass: (reminders sent, records expired)."""
        workspace = policy or self._configuring.workspace_policy()
        zone = workspace.digest.zone  # the workspace's zone decides what a working day is
        now = self._ports.now()
        with reading(self._ports.session_factory) as session:
            pending = list(
                session.execute(
                    select(Record.id, Record.created_at).where(
                        Record.team_id == self._ports.team_id, Record.status == RecordStatus.PENDING
                    )
                )
            )
            sent = {
                record_id: (count, last)
                for record_id, count, last in session.execute(
                    select(Reminder.record_id, func.count(), func.max(Reminder.sent_at))
                    .join(Record, Record.id == Reminder.record_id)
                    .where(
                        Record.team_id == self._ports.team_id, Record.status == RecordStatus.PENDING
                    )
                    .group_by(Reminder.record_id)
                )
            }
        reminded = expired = 0
        rules = workspace.reminders
        for record_id, created_at in pending:
            age = cadence.working_days_between(created_at, now, zone)
            if age >= rules.expire_after_working_days:
                expired += self._expire(record_id)
                continue
            n, last = sent.get(record_id, (0, None))
            # Spaced from the capture and from the last reminder: a late one (a night or a
            # weekend in between) does not bring the next one forward.
            due = max(created_at + rules.after * (n + 1), (last or created_at) + rules.after)
            if n < rules.most and now >= due:
                reminded += self._remind(record_id, n + 1, rules)
        if reminded or expired:
            self._ports.on_commit()
        return reminded, expired

    def _expire(self, record_id: int) -> int:
        with unit_of_work(self._ports.session_factory) as session:
            record = session.get(Record, record_id, with_for_update=True)
            if record is None or not lifecycle.expire(session, self._ports.now(), record):
                return 0
            self._messenger.queue(session, record, JobKind.REFRESH_RECORD)
            self._messenger.queue(
                session,
                record,
                JobKind.THREAD_REPLY,
                template="event_reply",
                context={"event": "expired", "actor_id": record.captured_by_id},
            )
        return 1

    def _remind(self, record_id: int, n: int, rules: cadence.ReminderPolicy) -> int:
        with reading(self._ports.session_factory) as session:
            record = session.execute(
                select(Record)
                .options(selectinload(Record.requesters))
                .where(Record.id == record_id)
            ).scalar_one()
            waiting = [r.user_id for r in record.requesters if r.answer == Answer.PENDING]
            personal = settings_store.personal(session, self._ports.team_id, waiting)
        now = self._ports.now()
        zones = {
            user: self._ports.directory.person(self._ports.team_id, user, now).tz
            for user in waiting
        }
        # Each one's own date decides whether their snooze has run out.
        addressed = [
            user
            for user in waiting
            if not personal[user].quiet_on(now.astimezone(ZoneInfo(zones[user])).date())
        ]
        if waiting and not addressed:
            return self._pass_turn(record_id, n, now)
        if not waiting or not all(cadence.at_work(now, zones[u], rules) for u in addressed):
            return 0  # tried again on a later pass, when everyone asked is at work
        # Posted in the thread, the reminder speaks the record's first requester's language,
        # as the card and the request it points to ("above") do (`SlackDelivery` renders
        # every thread message so): one language per thread reads as one conversation, and
        # the mentions reach each requester whatever their language.
        try:
            with unit_of_work(self._ports.session_factory) as session:
                session.add(Reminder(record_id=record_id, number=n, sent_at=now))
                locked = session.get(Record, record_id, with_for_update=True)
                if locked is None or locked.status != RecordStatus.PENDING:
                    return 0
                lifecycle.remind(session, now, locked, addressed, n)
                self._messenger.queue(
                    session,
                    locked,
                    JobKind.THREAD_REPLY,
                    template="reminder",
                    context={"waiting_ids": addressed, "since": locked.created_at.isoformat()},
                )
        except IntegrityError:
            return 0  # another replica sent this one
        return 1

    def _pass_turn(self, record_id: int, n: int, now: datetime) -> int:
        """Everyone waiting muted or snoozed reminders: this one is skipped, not kept for
        later (its row takes its number, so the next is spaced from now), and nothing is
        posted or added to the record's history."""
        try:
            with unit_of_work(self._ports.session_factory) as session:
                session.add(Reminder(record_id=record_id, number=n, sent_at=now))
        except IntegrityError:
            pass  # another replica passed it
        return 0
