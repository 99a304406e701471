"""Slack side effects, committed with the change that caused them and delivered after the ack.

A message is delivered by a `Deliver` callable. It may raise `DeliveryError`: transient
failures are retried with backoff (honouring Slack's Retry-After), permanent ones are
parked with their reason. Messages about one record are delivered in the order enqueued.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    Update,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import DriverTransaction, reading, unit_of_work
from bot.models import OutboxMessage, Record

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
# A delivered message is kept this long (what went out and when, for whoever asks why a card
# came late), then deleted by the scheduled pass, this many per transaction. Messages that
# failed for good stay until their record is purged.
KEEP_DELIVERED = timedelta(days=7)
PRUNE_BATCH = 1000
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


class Kind(enum.StrEnum):
    """What an outbox job is for: mostly a Slack side effect (bot/delivery.py)."""

    POST_RECORD = "post_record"  # the card (commands), then the request in the thread
    REFRESH_RECORD = "refresh_record"  # card and request updated in place after a change
    NEW_REVISION = "new_revision"  # old request marked superseded, new one posted
    THREAD_REPLY = "thread_reply"  # a template posted in the record's thread
    EPHEMERAL = "ephemeral"  # a template only one user sees
    EVIDENCE_LINK = "evidence_link"  # keep the permalink of a confirming reply
    NUDGE = "nudge"  # private nudges to the watchers of a channel
    TROUBLE = "trouble"  # tell the person who captured that Slack is not taking the card
    SNAPSHOT_THREAD = "snapshot_thread"  # keep the thread as it stood when confirmed
    PUBLISH_HOME = "publish_home"  # a person's App Home tab, drawn again
    SEND_EVIDENCE = "send_evidence"  # a record's evidence file, by direct message
    DIGEST = "digest"  # the morning's digest: the channel's summary, or an owner's DM
    CAPTURE_MESSAGE = "capture_message"  # fetch a message and capture it (reaction, nudge)
    CAPTURE = "capture"  # a /confirm capture, numbered and acked, to store (bot/intake.py)
    CLICK = "click"  # a press on a record's button, acked, to apply (bot/intake.py)


# Jobs that are domain work, carried out by the workspace's Sayso rather than sent to Slack.
CARRIED_OUT = frozenset({Kind.CAPTURE_MESSAGE, Kind.CAPTURE, Kind.CLICK})


class DeliveryError(Exception):
    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        needs_person: bool = False,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        # Slack refuses until someone acts (invites the bot): retry slowly, and say so.
        self.needs_person = needs_person


# Delivers one message (a detached copy); raises DeliveryError when Slack did not take it.
Deliver = Callable[[OutboxMessage], None]
# Called once per message that keeps failing, in the transaction that records the failure.
Trouble = Callable[[Session, OutboxMessage, DeliveryError], None]
# Told of every failed attempt: the reason, and whether it was the last (for metrics).
Failure = Callable[[str, bool], None]
# A message attempted: its id, and why Slack did not take it (None when it did).
Outcome = tuple[int, DeliveryError | None]


def enqueue(
    session: Session,
    now: datetime,
    *,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    record_id: int | None = None,
) -> OutboxMessage:
    """Queue a message with the session's other changes (written at its flush)."""
    message = OutboxMessage(**_new_row(now, team_id, kind, payload, record_id))
    session.add(message)
    return message


def enqueue_now(
    turn: DriverTransaction,
    now: datetime,
    *,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    request_key: str | None = None,
) -> None:
    """Queue a message in the ack path's short transaction (bot/intake.py, bot/db.py's
    transaction). `request_key` names the Slack request it was accepted from, so that a
    second delivery of that request fails on the unique key instead of queueing twice."""
    turn.execute(_QUEUE, {**_new_row(now, team_id, kind, payload), "request_key": request_key})


def _new_row(
    now: datetime,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    record_id: int | None = None,
) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "record_id": record_id,
        "kind": kind,
        "payload": payload,
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
        "notified": False,
    }


def prune_delivered(session_factory: sessionmaker[Session], now: datetime) -> int:
    """Delete messages delivered more than KEEP_DELIVERED ago; returns how many."""
    removed = 0
    while True:
        with unit_of_work(session_factory) as session:
            batch = (
                session.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.delivered_at < now - KEEP_DELIVERED)
                    .limit(PRUNE_BATCH)
                )
                .scalars()
                .all()
            )
            if batch:
                session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(batch)))
        removed += len(batch)
        if len(batch) < PRUNE_BATCH:
            return removed


class Requests:
    """Slack requests being answered in this process. Slack waits three seconds for an ack,
    and the person who typed is watching; a card can wait. So before each message the
    outbox waits for a lull: no request answered for `LULL`. A moment with no request inside
    the app is not one: under a burst the request threads are briefly all in gunicorn's own
    code between requests, and an outbox message started there (several acks' worth of
    work) held the next ones up (the threads of a process share one interpreter). At a
    steady 50 requests a second the gaps are far longer than `LULL`, and the outbox runs in
    them as it did before. Under a burst with no lull it waits `STEP_ASIDE` at most per
    message, so it still moves, slowly, and catches up once the burst is over
    (bench/README.md)."""

    STEP_ASIDE = 0.5
    LULL = 0.002

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._answering = 0
        self._last_answered = float("-inf")
        self._quiet = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._quiet:
            self._answering += 1
        try:
            yield
        finally:
            with self._quiet:
                self._answering -= 1
                self._last_answered = self._monotonic()
                if not self._answering:
                    self._quiet.notify_all()

    def wait_for_quiet(self) -> None:
        deadline = self._monotonic() + self.STEP_ASIDE
        with self._quiet:
            while (now := self._monotonic()) < deadline:
                if self._answering:
                    self._quiet.wait(deadline - now)
                    continue
                lull_left = self._last_answered + self.LULL - now
                if lull_left <= 0:
                    return
                self._quiet.wait(min(lull_left, deadline - now))


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


# The outbox's statements are built once, in Core: building them per message cost more than
# running them.
_OUTBOX = cast(Table, OutboxMessage.__table__)
_QUEUE = insert(_OUTBOX)


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
_DELIVERED = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("message_id"))
    .values(lease_until=None, delivered_at=bindparam("now"), last_error=None)
)


def _next_change_statement() -> Any:
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


_CARRIED_OUT = _DELIVERED.where(_OUTBOX.c.delivered_at.is_(None), _OUTBOX.c.failed_at.is_(None))


class AlreadyCarriedOut(Exception):
    """Another dispatcher carried this job out first: it took the job over when this one's
    lease ran out."""


def mark_carried_out(session: Session, message_id: int, now: datetime) -> None:
    """A job done in the database (bot/intake.py) is marked done at the end of the
    transaction that does it, so that a crash can neither lose it nor have it done twice.
    Raises AlreadyCarriedOut, to roll that transaction back, if it was done meanwhile."""
    marked = session.connection().execute(_CARRIED_OUT, {"message_id": message_id, "now": now})
    if marked.rowcount != 1:
        raise AlreadyCarriedOut(message_id)


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
        requests: Requests | None = None,
    ) -> None:
        # A message stays leased this long after a dispatcher took it: long enough for its
        # Slack calls, short enough that a replica that died holds nothing for long.
        self._lease = lease
        self._session_factory = session_factory
        self._deliver = deliver
        self._on_trouble = on_trouble
        self._on_failure = on_failure
        self._requests = requests or Requests()
        self._clock = clock
        self._poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        # Once stopping: no message is claimed after this moment (time.monotonic()).
        self._drain_until: float | None = None

    def deliver_due(self) -> int:
        """Deliver every message that is due now; returns how many were attempted."""
        attempted = 0
        outcome: Outcome | None = None
        while not self._out_of_time():
            self._requests.wait_for_quiet()
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
        try:
            self._deliver(message)
        except DeliveryError as error:
            return error
        except Exception as error:
            log.exception("outbox %s (%s) failed unexpectedly", message.id, message.kind)
            return DeliveryError(_first_line(error), permanent=unmendable(error))
        return None

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


# For operators: `sayso outbox` (bot/cli.py).


@dataclass(frozen=True)
class FailedMessage:
    """A message the outbox gave up on, as `sayso outbox` lists it."""

    id: int
    team_id: str
    kind: str
    record_number: int | None
    attempts: int
    created_at: datetime
    failed_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class Standing:
    """The outbox as an operator sees it: what still waits, and what failed for good."""

    waiting: int
    retrying: int  # of those waiting, the ones Slack refused at least once
    oldest_waiting: datetime | None
    failed: list[FailedMessage]


def standing(session: Session, team_id: str | None = None) -> Standing:
    waiting = [_OUTBOX.c.delivered_at.is_(None), _OUTBOX.c.failed_at.is_(None)]
    count, retrying, oldest = session.execute(
        select(
            func.count(),
            func.count(_OUTBOX.c.last_error),
            func.min(waiting_since()),
        ).where(*waiting, *_of_team(team_id))
    ).one()
    return Standing(count, retrying, oldest, failed_messages(session, team_id=team_id))


def failed_messages(
    session: Session, ids: Collection[int] | None = None, team_id: str | None = None
) -> list[FailedMessage]:
    """The messages that failed for good, oldest first: all, or those of `ids`."""
    chosen = [] if ids is None else [_OUTBOX.c.id.in_(ids)]
    rows = session.execute(
        select(_OUTBOX, Record.number)
        .outerjoin(Record, Record.id == _OUTBOX.c.record_id)
        .where(_OUTBOX.c.failed_at.is_not(None), *chosen, *_of_team(team_id))
        .order_by(_OUTBOX.c.id)
    ).all()
    return [
        FailedMessage(
            id=row.id,
            team_id=row.team_id,
            kind=row.kind,
            # A capture or a click that was never carried out has no record row to join:
            # the number its ack gave is in the job.
            record_number=row.number if row.number is not None else row.payload.get("number"),
            attempts=row.attempts,
            created_at=row.created_at,
            failed_at=row.failed_at,
            last_error=row.last_error,
        )
        for row in rows
    ]


def retry_failed(
    session: Session, now: datetime, ids: Collection[int] | None, team_id: str | None = None
) -> list[int]:
    """Make failed messages due again: those of `ids` that failed, or every failed one (of
    the workspace). Each gets its 24 hours of patience again, from now; whoever was told of
    its trouble is not told again. Its attempts still count: a post Slack may have taken on
    an earlier one is looked for before it is sent again (bot/delivery.py's _post_once).
    Returns the ids made due."""
    chosen = [] if ids is None else [_OUTBOX.c.id.in_(ids)]
    made_due = session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.failed_at.is_not(None), *chosen, *_of_team(team_id))
        .values(
            failed_at=None, lease_until=None, next_attempt_at=now, retried_at=now, last_error=None
        )
        .returning(_OUTBOX.c.id)
    ).scalars()
    return sorted(made_due)


def drop_failed(session: Session, ids: Collection[int]) -> list[FailedMessage]:
    """Delete the messages of `ids` that failed for good; returns what was deleted."""
    failed = failed_messages(session, ids)
    if not failed:
        return []
    # Only what is still failed: a retry may have made one due since it was read.
    deleted = set(
        session.execute(
            delete(_OUTBOX)
            .where(_OUTBOX.c.id.in_([m.id for m in failed]), _OUTBOX.c.failed_at.is_not(None))
            .returning(_OUTBOX.c.id)
        ).scalars()
    )
    return [message for message in failed if message.id in deleted]


def where_is(session: Session, ids: Collection[int]) -> dict[int, str]:
    """Each message's state: "delivered", "waiting" (with its last error, if any),
    "failed" (with why); a message that does not exist is left out."""
    rows = session.execute(
        select(
            _OUTBOX.c.id, _OUTBOX.c.delivered_at, _OUTBOX.c.failed_at, _OUTBOX.c.last_error
        ).where(_OUTBOX.c.id.in_(ids))
    ).all()
    states: dict[int, str] = {}
    for row in rows:
        if row.delivered_at is not None:
            states[row.id] = "delivered"
        elif row.failed_at is not None:
            states[row.id] = f"failed: {row.last_error}"
        elif row.last_error is not None:
            states[row.id] = f"waiting, to be tried again: {row.last_error}"
        else:
            states[row.id] = "waiting"
    return states


def waiting_since() -> Any:
    """When a message began to wait: when it was queued, or last retried by an operator."""
    return func.coalesce(_OUTBOX.c.retried_at, _OUTBOX.c.created_at)


def _of_team(team_id: str | None) -> list[Any]:
    return [] if team_id is None else [_OUTBOX.c.team_id == team_id]
