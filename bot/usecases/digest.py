"""Sending the daily digest: once per (workspace, recipient, local date), enforced by the
database, so replicas, restarts and a late start each send it once and only once."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot import metrics
from bot.db import reading, unit_of_work
from bot.ledger import checkpoints
from bot.models import DigestSend
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import cadence, digest, settings_store
from bot.records.cadence import DigestPolicy
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
        and local date: the channel's at the digest time in the workspace's zone, each owner's
        DM at the digest time in the owner's own (as Slack says it), on the workspace's digest
        days as the owner's calendar has them. Owners who muted or snoozed them get no DM."""
        schedule = (policy or self._configuring.workspace_policy()).digest
        now = self._ports.now()
        since = now - timedelta(days=1)
        due: dict[str, tuple[date, str]] = {}  # recipient -> (their local date, their zone)
        channel_day = self._due(schedule, schedule.zone, now, force)
        if schedule.channel_id and channel_day is not None:
            due[CHANNEL] = (channel_day, schedule.zone)
        with reading(self._ports.session_factory) as session:
            owners = digest.owners(session, self._ports.team_id, since)
        for owner in owners:
            zone = self._zone_of(owner, schedule.zone)
            day = self._due(schedule, zone, now, force)
            if day is not None:
                due[owner] = (day, zone)
        if not due:
            return 0
        with reading(self._ports.session_factory) as session:
            rows = session.execute(
                select(DigestSend)
                .where(
                    DigestSend.team_id == self._ports.team_id,
                    DigestSend.recipient.in_(list(due)),
                    DigestSend.day <= max(day for day, _ in due.values()),
                )
                .order_by(DigestSend.day)
            ).scalars()
            sent_before: dict[str, DigestSend] = {}
            for row in rows:
                day = due[row.recipient][0]
                if row.day == day:
                    due.pop(row.recipient)  # already sent today: built no more
                elif row.day < day:
                    sent_before[row.recipient] = row
            personal = settings_store.personal(
                session, self._ports.team_id, [r for r in due if r != CHANNEL]
            )
            # (recipient, day, zone, digest, whether anything is posted): an all-clear
            # morning with "post nothing" still counts as the channel's digest of the day, so
            # nothing that comes up later that day posts one at an odd hour.
            recipients: list[tuple[str, date, str, digest.Digest, bool]] = []
            for recipient, (day, zone) in sorted(due.items(), key=lambda r: r[0] != CHANNEL):
                if recipient == CHANNEL:
                    channel, _ = digest.build(session, self._ports.team_id, now, zone, since)
                    post = schedule.post_all_clear or not channel.all_clear
                    recipients.append((CHANNEL, day, zone, channel, post))
                    continue
                _, theirs = digest.build(
                    session,
                    self._ports.team_id,
                    now,
                    zone,
                    since,
                    stored_zone_wins=False,
                    owner_id=recipient,
                )
                built = theirs.get(recipient)
                if built is None or built.all_clear or personal[recipient].quiet_on(day):
                    continue  # looked at again on the next pass, while it is their day
                recipients.append((recipient, day, zone, built, True))
        queued = 0
        for recipient, day, zone, built, post in recipients:
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
                                "zone": zone,
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

    @staticmethod
    def _due(schedule: DigestPolicy, zone: str, now: datetime, force: bool) -> date | None:
        """The local date in `zone` whose digest is due now (today's, whatever the hour and
        day, when forced), or None."""
        day = cadence.due_day(replace(schedule, zone=zone), now)
        if day is None and force:
            day = now.astimezone(ZoneInfo(zone)).date()
        return day

    def _zone_of(self, user_id: str, fallback: str) -> str:
        """The person's time zone as Slack says it (users.info, kept a day); the workspace's
        when Slack could not say, or names one this machine does not know."""
        person = self._ports.directory.person(self._ports.team_id, user_id, self._ports.now())
        if not person.known:
            return fallback
        try:
            ZoneInfo(person.tz)
        except (ZoneInfoNotFoundError, ValueError):
            return fallback
        return person.tz

    def digest_for(self, user_id: str) -> digest.Digest:
        """`/confirm digest`: this person's digest, now, in their own zone (asked for, so
        never muted)."""
        now = self._ports.now()
        zone = self._zone_of(user_id, self._configuring.workspace_policy().digest.zone)
        with reading(self._ports.session_factory) as session:
            channel, owners = digest.build(
                session,
                self._ports.team_id,
                now,
                zone,
                now - timedelta(days=1),
                stored_zone_wins=False,
                owner_id=user_id,
            )
        return owners.get(user_id) or digest.Digest(
            self._ports.team_id, channel.day, user_id, checkpoints=channel.checkpoints
        )
