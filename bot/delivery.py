"""What each kind of outbox message does in Slack. Messages are rendered at delivery time,
from the record as it is then, so a late delivery never shows a stale state."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy.orm import Session

from bot import ledger
from bot.clock import Clock
from bot.ids import ActionId
from bot.models import OutboxMessage, Record
from bot.outbox import DeliveryError
from bot.rendering import Renderer
from bot.slack import SlackGateway


class Kind(enum.StrEnum):
    POST_RECORD = "post_record"  # the channel card, then the confirmation request in its thread
    REFRESH_RECORD = "refresh_record"  # both updated in place after a change
    THREAD_REPLY = "thread_reply"  # a template posted in the record's thread
    EPHEMERAL = "ephemeral"  # a template only one user sees


class SlackDelivery:
    def __init__(self, gateway: SlackGateway, renderer: Renderer, clock: Clock) -> None:
        self._gateway = gateway
        self._renderer = renderer
        self._clock = clock

    def __call__(self, session: Session, message: OutboxMessage) -> None:
        record = session.get(Record, message.record_id) if message.record_id else None
        match Kind(message.kind):
            case Kind.POST_RECORD:
                self._post_record(session, _required(record))
            case Kind.REFRESH_RECORD:
                self._refresh_record(_required(record))
            case Kind.THREAD_REPLY:
                record = _required(record)
                self._gateway.post(
                    record.channel_id,
                    self._render(message.payload["template"], record),
                    thread_ts=_posted(record.card_ts),
                )
            case Kind.EPHEMERAL:
                payload = message.payload
                self._gateway.post_ephemeral(
                    payload["channel"],
                    payload["user"],
                    self._render(payload["template"], record, **payload.get("context", {})),
                    thread_ts=payload.get("thread_ts"),
                )

    def _render(self, template: str, record: Record | None, **context: Any) -> Any:
        return self._renderer.render(template, record=record, actions=ActionId, **context)

    def _post_record(self, session: Session, record: Record) -> None:
        # Each ts is committed as soon as Slack returns it, so a retry after a later failure
        # continues where it stopped instead of posting the card twice.
        if record.card_ts is None:
            record.card_ts = self._gateway.post(
                record.channel_id, self._render("record_card", record)
            )
            session.commit()
        if record.request_ts is None:
            record.request_ts = self._gateway.post(
                record.channel_id,
                self._render("confirmation_request", record),
                thread_ts=record.card_ts,
            )
            now = self._clock.now()
            workspace = ledger.lock_workspace(session, record.team_id, now)
            ledger.append(
                session,
                workspace,
                record,
                "card_posted",
                "sayso",
                now,
                {
                    "channel": record.channel_id,
                    "card_ts": record.card_ts,
                    "request_ts": record.request_ts,
                },
            )
            session.commit()

    def _refresh_record(self, record: Record) -> None:
        self._gateway.update(
            record.channel_id, _posted(record.card_ts), self._render("record_card", record)
        )
        self._gateway.update(
            record.channel_id,
            _posted(record.request_ts),
            self._render("confirmation_request", record),
        )


def _required(record: Record | None) -> Record:
    if record is None:
        raise DeliveryError("the record of this message no longer exists", permanent=True)
    return record


def _posted(ts: str | None) -> str:
    if ts is None:
        raise DeliveryError("the record's card has not been posted yet")
    return ts
