"""Slack side effects, committed with the change that caused them and delivered after the ack.

A message is delivered by a `Deliver` callable. It may raise `DeliveryError`: transient
failures are retried with backoff (honouring Slack's Retry-After), permanent ones are
parked with their reason. Messages about one record are delivered in the order enqueued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.db import unit_of_work
from bot.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH_SIZE = 50


class DeliveryError(Exception):
    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


# Delivers one message (a detached copy); raises DeliveryError when Slack did not take it.
Deliver = Callable[[OutboxMessage], None]


def enqueue(
    session: Session,
    now: datetime,
    *,
    team_id: str,
    kind: str,
    payload: dict[str, Any],
    record_id: int | None = None,
) -> OutboxMessage:
    message = OutboxMessage(
        team_id=team_id,
        record_id=record_id,
        kind=kind,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    session.add(message)
    return message


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=retry_after)
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


class OutboxDispatcher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        deliver: Deliver,
        clock: Clock,
        poll_interval: float = 5.0,
    ) -> None:
        self._session_factory = session_factory
        self._deliver = deliver
        self._clock = clock
        self._poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def deliver_due(self) -> int:
        """Deliver every message that is due now; returns how many were attempted."""
        attempted = 0
        while True:
            batch = self._due_ids()
            if not batch:
                return attempted
            for message_id in batch:
                self._deliver_one(message_id)
                attempted += 1

    def _due_ids(self) -> list[int]:
        now = self._clock.now()
        with unit_of_work(self._session_factory) as session:
            pending = session.execute(
                select(OutboxMessage.id, OutboxMessage.record_id, OutboxMessage.next_attempt_at)
                .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(BATCH_SIZE)
            ).all()
        due: list[int] = []
        waiting_records: set[int] = set()
        for message_id, record_id, next_attempt_at in pending:
            if record_id is not None and record_id in waiting_records:
                continue
            if next_attempt_at <= now:
                due.append(message_id)
            elif record_id is not None:
                waiting_records.add(record_id)
        return due

    def _deliver_one(self, message_id: int) -> None:
        # No transaction stays open across a Slack call (on SQLite an open transaction holds
        # the write lock): count the attempt, deliver (the delivery commits its own progress,
        # such as a posted message's ts, in short transactions), then record the outcome.
        with unit_of_work(self._session_factory) as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.delivered_at or message.failed_at:
                return
            message.attempts += 1
            session.flush()
            session.expunge(message)
        failure: DeliveryError | None = None
        try:
            self._deliver(message)
        except DeliveryError as error:
            failure = error
        except Exception as error:
            log.exception("outbox %s (%s) failed unexpectedly", message.id, message.kind)
            failure = DeliveryError(repr(error))
        with unit_of_work(self._session_factory) as session:
            stored = session.get(OutboxMessage, message_id)
            assert stored is not None
            if failure is None:
                stored.delivered_at = self._clock.now()
                stored.last_error = None
            else:
                self._note_failure(stored, failure, self._clock.now())

    def _note_failure(self, message: OutboxMessage, error: DeliveryError, now: datetime) -> None:
        message.last_error = error.reason
        if error.permanent or message.attempts >= MAX_ATTEMPTS:
            message.failed_at = now
            log.error("outbox %s (%s) gave up: %s", message.id, message.kind, error.reason)
            return
        message.next_attempt_at = now + backoff(message.attempts, error.retry_after)
        log.warning("outbox %s (%s) will retry: %s", message.id, message.kind, error.reason)

    # The background loop used by `sayso serve` and the demo.

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sayso-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        with self._idle:
            self._busy = True
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Block until everything woken for has been attempted (for the demo and tests)."""
        with self._idle:
            if not self._idle.wait_for(lambda: not self._busy, timeout):
                raise TimeoutError("the outbox dispatcher is still busy")

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll_interval)
            self._wake.clear()
            try:
                self.deliver_due()
            except Exception:
                log.exception("outbox dispatcher pass failed; will retry")
            with self._idle:
                if not self._wake.is_set():
                    self._busy = False
                    self._idle.notify_all()
