"""The outbox's dispatcher: leases the next due message, delivers it, records how it went.

Transient failures are retried with backoff (honouring Slack's Retry-After) for `PATIENCE`;
permanent ones are parked with their reason, for `sayso outbox` to show. Messages about one
record are delivered in the order queued.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Select, Table, Update, bindparam, func, or_, select, update
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import reading, unit_of_work
from bot.models import OutboxMessage
from bot.outbox.gate import AckGate
from bot.slack.gateway import DeliveryError

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
# A message is retried for this long: a Slack outage can last hours, and a card that
# arrives late still beats a record nobody saw.
PATIENCE = timedelta(hours=24)
# Waiting for a person (an invitation to the channel) is retried this often.
PERSON_RETRY = timedelta(seconds=60)
# After this many failed attempts, the person who captured the record is told.
TELL_AFTER_ATTEMPTS = 3
# stop() waits this much beyond its deadline for a delivery under way to finish.
STOP_GRACE = 2.0
# The shortest wait between passes when a backoff or a lease ends soon.
MIN_WAIT = 0.01


# Delivers one message (a detached copy); raises DeliveryError when Slack did not take it.
Deliver = Callable[[OutboxMessage], None]
# Called once per message that keeps failing, in the transaction that records the failure.
Trouble = Callable[[Session, OutboxMessage, DeliveryError], None]
# Told of every failed attempt: the reason, and whether it was the last (for metrics).
Failure = Callable[[str, bool], None]
# A message attempted: its id, and why Slack did not take it (None when it did).
Outcome = tuple[int, DeliveryError | None]


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


# The dispatcher's statements are built once, in Core: building them per message cost more
# than running them.
_OUTBOX = cast(Table, OutboxMessage.__table__)


def _claim_next_statement() -> Update:
    """Lease the message due longest that is the first undelivered one of its record.

    Only due messages are candidates, so messages waiting out a backoff never hide the ones
    behind them; a record's later messages wait for its earlier ones (a thread reply must not
    overtake the card it answers). On PostgreSQL a row another dispatcher is claiming at this
    moment is skipped rather than waited for.
    """
    table = _OUTBOX
    candidate, earlier = table.alias("candidate"), table.alias("earlier")
    now = bindparam("now", type_=table.c.next_attempt_at.type)
    next_due = (
        select(candidate.c.id)
        .where(
            candidate.c.delivered_at.is_(None),
            candidate.c.failed_at.is_(None),
            candidate.c.next_attempt_at <= now,
            or_(candidate.c.lease_until.is_(None), candidate.c.lease_until <= now),
            # However many records are held up behind a message backing off, the first free
            # one is found. A scalar subquery rather than NOT EXISTS: PostgreSQL runs it as
            # one probe of ix_outbox_undelivered per row whatever its statistics say, where a
            # misjudged anti-join read the whole index each time.
            or_(
                candidate.c.record_id.is_(None),
                candidate.c.id
                == select(func.min(earlier.c.id))
                .where(
                    earlier.c.record_id == candidate.c.record_id,
                    earlier.c.delivered_at.is_(None),
                    earlier.c.failed_at.is_(None),
                )
                .scalar_subquery(),
            ),
        )
        # The order of ix_outbox_due, which the claim then walks and stops at the first
        # free message: the one due longest, the oldest first among those due together.
        .order_by(candidate.c.next_attempt_at, candidate.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (
        update(table)
        .where(table.c.id == next_due.scalar_subquery())
        .values(lease_until=bindparam("lease_until"), attempts=table.c.attempts + 1)
        .returning(*table.c)
    )


_CLAIM_NEXT = _claim_next_statement()


def _next_change_statement() -> Select[tuple[datetime | None, datetime | None]]:
    """When something changes for the messages still to send, after `now`: the soonest a
    message backing off falls due, or a lease (another dispatcher's, perhaps one that died)
    runs out."""
    table = _OUTBOX
    now = bindparam("now", type_=table.c.next_attempt_at.type)
    waiting = (table.c.delivered_at.is_(None), table.c.failed_at.is_(None))
    return select(
        select(func.min(table.c.next_attempt_at))
        .where(*waiting, table.c.next_attempt_at > now)
        .scalar_subquery(),
        select(func.min(table.c.lease_until))
        .where(*waiting, table.c.lease_until > now)
        .scalar_subquery(),
    )


_NEXT_CHANGE = _next_change_statement()
_DELIVERED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("message_id"))
    .values(lease_until=None, delivered_at=bindparam("now"), last_error=None)
)


# A dispatcher still delivering a message holds on to it. The claim's count of attempts tells
# this delivery from a later one by a dispatcher that took the message over.
_KEEP_LEASE = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("held_id"),
        _OUTBOX.c.attempts == bindparam("held_attempts"),
        _OUTBOX.c.delivered_at.is_(None),
    )
    .values(lease_until=bindparam("lease_until"))
    .returning(_OUTBOX.c.id)
)


def unmendable(error: Exception) -> bool:
    """A failure no retry can mend: the database refuses the data itself (a NUL in
    PostgreSQL's text, say), or the data cannot even be encoded to send to it (a lone
    surrogate). Such a message fails at once, for `sayso outbox` to show, rather than
    retrying for PATIENCE and holding its record's later messages behind it."""
    cause = error.orig if isinstance(error, StatementError) else error
    return isinstance(error, DataError) or isinstance(cause, UnicodeError)


def _first_line(error: Exception) -> str:
    # Not the statement and its parameters that SQLAlchemy appends: they hold what was typed.
    return repr(error).splitlines()[0] if isinstance(error, StatementError) else repr(error)


class OutboxDispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        deliver: Deliver,
        clock: Clock,
        poll_interval: float = 5.0,
        on_trouble: Trouble | None = None,
        lease: timedelta = DEFAULT_LEASE,
        on_failure: Failure | None = None,
        ack_gate: AckGate | None = None,
    ) -> None:
        # A message stays leased this long after a dispatcher took it: long enough for its
        # Slack calls, short enough that a replica that died holds nothing for long.
        self._lease = lease
        self._session_factory = session_factory
        self._deliver = deliver
        self._on_trouble = on_trouble
        self._on_failure = on_failure
        self._ack_gate = ack_gate or AckGate()
        self._clock = clock
        self._poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        # Once stopping: no message is claimed after this moment (time.monotonic()).
        self._drain_until: float | None = None
        # The message being delivered (its id and the claim's attempt), whose lease the
        # keeper extends while a slow Slack keeps the delivery going.
        self._held: tuple[int, int] | None = None
        self._finished = threading.Event()

    def deliver_due(self) -> int:
        """Deliver every message that is due now; returns how many were attempted."""
        attempted = 0
        outcome: Outcome | None = None
        while not self._out_of_time():
            self._ack_gate.wait_for_quiet()
            try:
                message = self._settle_and_claim(outcome)
            except Exception:
                # The outcome must not be lost with a claim that failed (a dropped connection,
                # say): the message would be leased still, and sent again once that ran out.
                if outcome is not None:
                    self._settle_and_claim(outcome, claim=False)
                raise
            outcome = None
            if message is None:
                break
            outcome = (message.id, self._attempt(message))
            attempted += 1
        if outcome is not None:
            self._settle_and_claim(outcome, claim=False)
        return attempted

    def _out_of_time(self) -> bool:
        return self._drain_until is not None and time.monotonic() >= self._drain_until

    def _attempt(self, message: OutboxMessage) -> DeliveryError | None:
        self._held = (message.id, message.attempts)
        try:
            self._deliver(message)
        except DeliveryError as error:
            return error
        except Exception as error:
            log.exception("outbox %s (%s) failed unexpectedly", message.id, message.kind)
            return DeliveryError(_first_line(error), permanent=unmendable(error))
        finally:
            self._held = None
        return None

    def keep_lease(self) -> bool:
        """Extend the lease of the message being delivered, from now: a delivery may outlast
        its lease (Slack slow to answer, or asking to wait), and another dispatcher must not
        take over a message whose dispatcher is alive. False when nothing is being delivered,
        or when another dispatcher has taken the message over already (its lease ran out
        before this one could keep it; the delivery's steps are stored once either way)."""
        held = self._held
        if held is None:
            return False
        values = {
            "held_id": held[0],
            "held_attempts": held[1],
            "lease_until": self._clock.now() + self._lease,
        }
        with unit_of_work(self._session_factory) as session:
            kept = session.execute(_KEEP_LEASE, values).first() is not None
        if not kept and self._held == held:
            log.warning("outbox %s was taken over by another dispatcher mid-delivery", held[0])
        return kept

    def _keep_leases(self) -> None:
        """While the loop runs: each message's lease kept three times per lease."""
        interval = self._lease.total_seconds() / 3
        while not self._finished.wait(interval):
            if self._held is None:
                continue
            try:
                self.keep_lease()
            except Exception:
                log.exception("outbox dispatcher could not keep its lease")

    def _settle_and_claim(
        self, outcome: Outcome | None, claim: bool = True
    ) -> OutboxMessage | None:
        """Record how the last attempt went and lease the next due message, in one
        transaction.

        No transaction stays open across a Slack call (on SQLite an open transaction holds
        the write lock). A message is leased before its delivery, so that other dispatchers
        (other workers, other replicas) leave it alone; a delivery commits its own progress
        (a posted message's ts) in short transactions; the outcome is recorded after.
        """
        now = self._clock.now()
        with unit_of_work(self._session_factory) as session:
            if outcome is not None:
                self._settle(session, *outcome, now)
            return self._claim_next(session, now) if claim else None

    def _settle(
        self, session: Session, message_id: int, failure: DeliveryError | None, now: datetime
    ) -> None:
        if failure is None:
            session.execute(_DELIVERED, {"message_id": message_id, "now": now})
            return
        stored = session.get(OutboxMessage, message_id)
        assert stored is not None
        stored.lease_until = None
        self._note_failure(session, stored, failure, now)

    def _claim_next(self, session: Session, now: datetime) -> OutboxMessage | None:
        row = session.execute(
            _CLAIM_NEXT, {"now": now, "lease_until": now + self._lease}
        ).one_or_none()
        return OutboxMessage(**row._mapping) if row is not None else None

    def _note_failure(
        self, session: Session, message: OutboxMessage, error: DeliveryError, now: datetime
    ) -> None:
        message.last_error = error.reason
        trying_since = message.retried_at or message.created_at
        given_up = error.permanent or now - trying_since > PATIENCE
        if error.needs_person:
            message.next_attempt_at = now + PERSON_RETRY
        else:
            message.next_attempt_at = now + backoff(message.attempts, error.retry_after)
        if self._on_failure is not None:
            self._on_failure(error.reason, given_up)
        if given_up:
            message.failed_at = now
            log.error("outbox %s (%s) gave up: %s", message.id, message.kind, error.reason)
        else:
            log.warning("outbox %s (%s) will retry: %s", message.id, message.kind, error.reason)
        troubled = error.needs_person or given_up or message.attempts >= TELL_AFTER_ATTEMPTS
        if troubled and not message.notified and self._on_trouble is not None:
            message.notified = True
            self._on_trouble(session, message, error)

    # The background loop used by `sayso serve` and the demo.

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sayso-outbox", daemon=True)
        self._thread.start()
        keeper = threading.Thread(target=self._keep_leases, name="sayso-outbox-lease", daemon=True)
        keeper.start()
        self.wake()  # whatever a previous run left undelivered goes out at once

    def wake(self) -> None:
        with self._idle:
            self._busy = True
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop after one last pass over what is due, claiming nothing after
        `timeout` seconds. A delivery under way by then may finish, or this returns without
        it (then its lease runs out and another replica, or the next start, takes it over,
        as after a crash); what was never claimed stays in the outbox, unleased."""
        self._drain_until = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + STOP_GRACE)

    def _until_next_change(self) -> float:
        """Seconds until the next pass: at the latest after `poll_interval` (for what other
        processes queue without waking this one), sooner when a backoff or a lease ends
        before that, so a retry or a takeover does not wait for the poll."""
        now = self._clock.now()
        try:
            with reading(self._session_factory) as session:
                changes = session.execute(_NEXT_CHANGE, {"now": now}).one()
        except Exception:
            log.exception("outbox dispatcher could not read its next due time")
            return self._poll_interval
        soonest = min((c for c in changes if c is not None), default=None)
        if soonest is None:
            return self._poll_interval
        return min(self._poll_interval, max((soonest - now).total_seconds(), MIN_WAIT))

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until everything woken for has been attempted (for the demo and tests)."""
        with self._idle:
            if not self._idle.wait_for(lambda: not self._busy, timeout):
                raise TimeoutError("the outbox dispatcher is still busy")

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._finished.set()

    def _loop(self) -> None:
        wait = self._poll_interval
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            # A pass that starts after stop() was called is the last: what was queued before
            # the stop (here or by another process, not woken for) still goes out.
            stopping = self._stop.is_set()
            try:
                self.deliver_due()
            except Exception:
                log.exception("outbox dispatcher pass failed; will retry")
            with self._idle:
                if not self._wake.is_set():
                    self._busy = False
                    self._idle.notify_all()
            if stopping:
                return
            wait = self._until_next_change()
