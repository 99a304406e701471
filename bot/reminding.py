"""Reminders in a pending record's thread, and expiry when nobody confirmed in time.

Each reminder has its number as a unique key (table `reminders`), so two replicas or a
restart never send one twice; a reminder waits until every requester it addresses is at
work in their own time zone (nights and weekends are skipped, not lost)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from bot import records, scheduler
from bot.db import unit_of_work
from bot.delivery import Kind
from bot.models import Answer, Record, RecordStatus, Reminder
from bot.usecase import UseCase


class Reminding(UseCase):
    reminder_policy: scheduler.ReminderPolicy
    policy: scheduler.DigestPolicy  # the workspace's zone decides what a working day is

    def remind_and_expire(self) -> tuple[int, int]:
        """One pass: (reminders sent, records expired)."""
        now = self._now()
        with self._session_factory() as session:
            pending = list(
                session.execute(
                    select(Record.id, Record.created_at).where(
                        Record.team_id == self.team_id, Record.status == RecordStatus.PENDING
                    )
                )
            )
            sent = {
                record_id: (count, last)
                for record_id, count, last in session.execute(
                    select(Reminder.record_id, func.count(), func.max(Reminder.sent_at))
                    .join(Record, Record.id == Reminder.record_id)
                    .where(Record.team_id == self.team_id, Record.status == RecordStatus.PENDING)
                    .group_by(Reminder.record_id)
                )
            }
        reminded = expired = 0
        policy = self.reminder_policy
        for record_id, created_at in pending:
            age = scheduler.working_days_between(created_at, now, self.policy.zone)
            if age >= policy.expire_after_working_days:
                expired += self._expire(record_id)
                continue
            n, last = sent.get(record_id, (0, None))
            # Spaced from the capture and from the last reminder: a late one (a night or a
            # weekend in between) does not bring the next one forward.
            due = max(created_at + policy.after * (n + 1), (last or created_at) + policy.after)
            if n < policy.most and now >= due:
                reminded += self._remind(record_id, n + 1)
        if reminded or expired:
            self._on_commit()
        return reminded, expired

    def _expire(self, record_id: int) -> int:
        with unit_of_work(self._session_factory) as session:
            record = session.get(Record, record_id, with_for_update=True)
            if record is None or not records.expire(session, self._now(), record):
                return 0
            self._enqueue(session, record, Kind.REFRESH_RECORD)
            self._enqueue(
                session,
                record,
                Kind.THREAD_REPLY,
                template="event_reply",
                context={"event": "expired", "actor_id": record.captured_by_id},
            )
        return 1

    def _remind(self, record_id: int, n: int) -> int:
        with self._session_factory() as session:
            record = session.execute(
                select(Record)
                .options(selectinload(Record.requesters))
                .where(Record.id == record_id)
            ).scalar_one()
            waiting = [r.user_id for r in record.requesters if r.answer == Answer.PENDING]
        now = self._now()
        zones = [self._directory.person(self.team_id, user, now).tz for user in waiting]
        if not waiting or not all(
            scheduler.at_work(now, zone, self.reminder_policy) for zone in zones
        ):
            return 0  # tried again on a later pass, when everyone asked is at work
        try:
            with unit_of_work(self._session_factory) as session:
                session.add(Reminder(record_id=record_id, number=n, sent_at=now))
                locked = session.get(Record, record_id, with_for_update=True)
                if locked is None or locked.status != RecordStatus.PENDING:
                    return 0
                records.remind(session, now, locked, waiting, n)
                self._enqueue(
                    session,
                    locked,
                    Kind.THREAD_REPLY,
                    template="reminder",
                    context={"waiting_ids": waiting, "since": locked.created_at.isoformat()},
                )
        except IntegrityError:
            return 0  # another replica sent this one
        return 1
