"""The database schema, as SQLAlchemy 2 typed models. Migrations live in bot/migrations."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones), always returned timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class RecordStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Workspace(Base):
    """One Slack workspace (team). Its row serializes numbering and ledger appends."""

    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_record_number: Mapped[int] = mapped_column(Integer, default=0)
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (UniqueConstraint("team_id", "number", name="uq_records_team_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.PENDING)
    text: Mapped[str] = mapped_column(Text)
    requester_id: Mapped[str] = mapped_column(String(32))
    captured_by_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    # The channel message that shows the record; its thread holds the confirmation request.
    card_ts: Mapped[str | None] = mapped_column(String(32))
    request_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[str | None] = mapped_column(String(32))

    events: Mapped[list[AuditEvent]] = relationship(
        back_populates="record", order_by="AuditEvent.seq", lazy="selectin"
    )

    @property
    def thread_ts(self) -> str | None:
        return self.card_ts

    @property
    def confirmed_at(self) -> datetime | None:
        return self.decided_at if self.status == RecordStatus.CONFIRMED else None


class AuditEvent(Base):
    """Append-only history; each event carries the hash of the one before it (see ledger.py)."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("team_id", "seq", name="uq_audit_events_team_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    seq: Mapped[int]
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    record: Mapped[Record | None] = relationship(back_populates="events")


class OutboxMessage(Base):
    """A Slack side effect committed with the change that caused it, delivered after the ack."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
