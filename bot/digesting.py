"""Sending the daily digest: once per (workspace, recipient, local date), enforced by the
database, so replicas, restarts and a late start each send it once and only once."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import digest, outbox, scheduler
from bot.db import unit_of_work
from bot.delivery import Kind
from bot.models import DigestSend
from bot.usecase import UseCase

CHANNEL = "channel"


class Digesting(UseCase):
    policy: scheduler.DigestPolicy

    if TYPE_CHECKING:

        def remind_and_expire(self) -> tuple[int, int]: ...

    def tick(self, force: bool = False) -> int:
        """One pass of the schedule (every minute in `sayso serve`, or `sayso tick` from
        cron). `force` sends today's digests whatever the day and hour, still once each."""
        self.remind_and_expire()
        now = self._now()
        day = scheduler.due_day(self.policy, now)
        if day is None and force:
            day = now.astimezone(scheduler.ZoneInfo(self.policy.zone)).date()
        if day is None:
            return 0
        with self._session_factory() as session:
            sent_before = {
                (row.recipient): row
                for row in session.execute(
                    select(DigestSend)
                    .where(DigestSend.team_id == self.team_id, DigestSend.day < day)
                    .order_by(DigestSend.day)
                ).scalars()
            }
            channel, owners = digest.build(
                session, self.team_id, now, self.policy.zone, now - timedelta(days=1)
            )
        recipients = [(owner, d) for owner, d in sorted(owners.items()) if not d.all_clear]
        if self.policy.channel_id:
            recipients.insert(0, (CHANNEL, channel))
        queued = 0
        for recipient, built in recipients:
            previous = sent_before.get(recipient)
            try:
                with unit_of_work(self._session_factory) as session:
                    session.add(
                        DigestSend(
                            team_id=self.team_id,
                            recipient=recipient,
                            day=day,
                            sent_at=now,
                            unresolved=built.unresolved,
                        )
                    )
                    outbox.enqueue(
                        session,
                        now,
                        team_id=self.team_id,
                        kind=Kind.DIGEST,
                        payload={
                            "recipient": recipient,
                            "channel": self.policy.channel_id,
                            "previous": previous.unresolved if previous else None,
                        },
                    )
            except IntegrityError:
                continue  # already sent today, by us earlier or by another replica
            queued += 1
        if queued:
            self._on_commit()
        return queued

    def digest_for(self, user_id: str) -> digest.Digest:
        """`/confirm digest`: this person's digest, now."""
        now = self._now()
        with self._session_factory() as session:
            channel, owners = digest.build(
                session, self.team_id, now, self.policy.zone, now - timedelta(days=1)
            )
        return owners.get(user_id) or digest.Digest(
            self.team_id, channel.day, user_id, head_hash=channel.head_hash
        )
