"""Use cases, one transaction each: change the records and queue what Slack must be told."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import outbox, records
from bot.clock import Clock
from bot.db import unit_of_work
from bot.delivery import Kind
from bot.errors import RecordNotFound
from bot.models import Record
from bot.records import Capture, Decision, DecisionOutcome


@dataclass(frozen=True)
class Click:
    """Somebody pressed a decision button on a record's confirmation request."""

    team_id: str
    channel_id: str
    user_id: str
    number: int
    decision: Decision
    thread_ts: str | None


class Sayso:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._on_commit = on_commit

    def capture(self, capture: Capture) -> Record:
        with unit_of_work(self._session_factory) as session:
            now = self._clock.now()
            record = records.capture(session, now, capture)
            self._enqueue(session, record.team_id, Kind.POST_RECORD, record=record)
        self._on_commit()
        return record

    def decide(self, click: Click) -> DecisionOutcome | None:
        """Apply a click; the clicker hears back when it changed nothing."""
        with unit_of_work(self._session_factory) as session:
            now = self._clock.now()
            record: Record | None
            outcome: DecisionOutcome | None
            try:
                record, outcome = records.decide(
                    session, now, click.team_id, click.number, click.user_id, click.decision
                )
            except RecordNotFound:
                record, outcome = None, None
            if outcome is DecisionOutcome.APPLIED:
                self._enqueue(session, click.team_id, Kind.REFRESH_RECORD, record=record)
                self._enqueue(
                    session,
                    click.team_id,
                    Kind.THREAD_REPLY,
                    record=record,
                    template="decision_reply",
                )
            else:
                template = {
                    None: "record_not_found",
                    DecisionOutcome.NOT_REQUESTER: "not_requester",
                    DecisionOutcome.ALREADY_DECIDED: "already_decided",
                }[outcome]
                self._enqueue(
                    session,
                    click.team_id,
                    Kind.EPHEMERAL,
                    record=record,
                    template=template,
                    channel=click.channel_id,
                    user=click.user_id,
                    thread_ts=click.thread_ts,
                    context={"number": click.number},
                )
        self._on_commit()
        return outcome

    def _enqueue(
        self,
        session: Session,
        team_id: str,
        kind: Kind,
        *,
        record: Record | None,
        **payload: Any,
    ) -> None:
        outbox.enqueue(
            session,
            self._clock.now(),
            team_id=team_id,
            kind=kind,
            payload=payload,
            record_id=record.id if record else None,
        )
