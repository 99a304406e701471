"""Sending the daily digest: once per (workspace, recipient, local date), enforced by the
database, so replicas, restarts and a late start each send it once and only once."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import metrics
from bot.db import reading, unit_of_work
from bot.ledger import checkpoints
from bot.models import DigestSend
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import cadence, digest, settings_store
from bot.records.settings_store import Policy
from bot.usecases.configure import Configuring
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports
from bot.usecases.remind import Reminding

CHANNEL = "channel"
log = logging.getLogger(__name__)


class Digesting:
    def __init__(
        self,
        ports: Ports,
        messenger: Messenger,
        configuring: Configuring,
        reminding: Reminding,
    ) -> None:
        self._ports = ports
        self._messenger = messenger
        self._configuring = configuring
        self._reminding = reminding

    def tick(self, force: bool = False) -> int:
        """One pass of the schedule (every minute in `sayso serve`, or `sayso tick` from
        cron): reminders and expiry, the checkpoints of the days that ended, then the digests
        if due, which publish those checkpoints. `force` sends today's digests whatever the
        day and hour, still once each. Returns the digests queued."""
        # Read once a pass: a change applies from the next.
        policy = self._configuring.workspace_policy()
        self._reminding.remind_and_expire(policy)
        self.seal_finished_days()
        return self.send_digests(force, policy)

    def seal_finished_days(self) -> None:
        try:
            sealed = checkpoints.seal(
                self._ports.session_factory, self._ports.team_id, self._ports.now()
            )
        except Exception:  # the digest still goes out; the next pass seals again
            log.exception("sealing the finished days of %s failed", self._ports.team_id)
            return
        for made in sealed:
            log.info(
                "sealed %s %s: %s events, root %s",
                self._ports.team_id,
                made.day,
                made.size,
                made.root,
            )

    def send_digests(self, force: bool = False, policy: Policy | None = None) -> int:
        """Today's digests, if due (or `force`d: `sayso digest --send`), once per recipient
        and local date. Owners who muted or snoozed them get no DM; the channel is posted."""
        schedule = (policy or self._configuring.workspace_policy()).digest
        now = self._ports.now()
        day = cadence.due_day(schedule, now)
        if day is None and force:
            day = now.astimezone(cadence.ZoneInfo(schedule.zone)).date()
        if day is None:
            return 0
        with reading(self._ports.session_factory) as session:
            sent_before = {
                (row.recipient): row
                for row in session.execute(
                    select(DigestSend)
                    .where(DigestSend.team_id == self._ports.team_id, DigestSend.day < day)
                    .order_by(DigestSend.day)
                ).scalars()
            }
            channel, owners = digest.build(
                session, self._ports.team_id, now, schedule.zone, now - timedelta(days=1)
            )
            personal = settings_store.personal(session, self._ports.team_id, owners)
        # (recipient, digest, whether anything is posted): an all-clear morning with "post
        # nothing" still counts as the channel's digest of the day, so nothing that comes up
        # later that day posts one at an odd hour.
        recipients = [
            (owner, built, True)
            for owner, built in sorted(owners.items())
            if not built.all_clear and not personal[owner].quiet_on(day)
        ]
        if schedule.channel_id:
            post = schedule.post_all_clear or not channel.all_clear
            recipients.insert(0, (CHANNEL, channel, post))
        queued = 0
        for recipient, built, post in recipients:
            previous = sent_before.get(recipient)
            try:
                with unit_of_work(self._ports.session_factory) as session:
                    session.add(
                        DigestSend(
                            team_id=self._ports.team_id,
                            recipient=recipient,
                            day=day,
                            sent_at=now,
                            unresolved=built.unresolved,
                        )
                    )
                    if post:
                        queue.enqueue(
                            session,
                            now,
                            team_id=self._ports.team_id,
                            kind=JobKind.DIGEST,
                            payload={
                                "recipient": recipient,
                                "channel": schedule.channel_id,
                                "zone": schedule.zone,
                                "previous": previous.unresolved if previous else None,
                            },
                        )
            except IntegrityError:
                continue  # already sent today, by us earlier or by another replica
            queued += post
        metrics.digest_run(queued)
        if queued:
            self._ports.on_commit()
        return queued

    def digest_for(self, user_id: str) -> digest.Digest:
        """`/confirm digest`: this person's digest, now (asked for, so never muted)."""
        now = self._ports.now()
        zone = self._configuring.workspace_policy().digest.zone
        with reading(self._ports.session_factory) as session:
            channel, owners = digest.build(
                session, self._ports.team_id, now, zone, now - timedelta(days=1)
            )
        return owners.get(user_id) or digest.Digest(
            self._ports.team_id, channel.day, user_id, checkpoints=channel.checkpoints
        )
