"""The database schema, as SQLAlchemy 2 typed models. Migrations live in bot/migrations."""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates


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
    WITHDRAWN = "withdrawn"
    DONE = "done"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class RecordKind(enum.StrEnum):
    INSTRUCTION = "instruction"
    DECISION = "decision"
    MINUTES = "minutes"


class Risk(enum.StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Source(enum.StrEnum):
    """How a record was captured."""

    COMMAND = "command"
    MODAL = "modal"
    SHORTCUT = "shortcut"
    REACTION = "reaction"
    NUDGE = "nudge"


class Answer(enum.StrEnum):
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


# The shortest word a trigram index finds.
TRIGRAM = 3
_WORDS = re.compile(r"\w+")


def is_cjk(character: str) -> bool:
    """A character of a script written without spaces between words (Han, kana, hangul)."""
    return character.isalnum() and unicodedata.east_asian_width(character) in ("W", "F")


def search_terms(written: str) -> str:
    """The tokens that find a word too short for the trigram indexes: each CJK character and
    each pair of neighbouring CJK characters, and the first one and two letters or digits of
    every other word (so `30` finds "30s", and `ui` finds "UI" but not "build"); lowercased,
    space-separated, each once."""
    terms: dict[str, None] = {}
    for word in _WORDS.findall(written.lower()):
        run = ""
        for character in word + " ":
            if is_cjk(character):
                run += character
                continue
            for start in range(len(run)):
                terms[run[start]] = None
                if start + 1 < len(run):
                    terms[run[start : start + 2]] = None
            run = ""
        for piece in "".join(" " if is_cjk(c) else c for c in word).split():
            terms[piece[:1]] = None
            if len(piece) > 1:
                terms[piece[:2]] = None
    return " ".join(terms)


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("team_id", "number", name="uq_records_team_number"),
        # One message is captured once, however many people react to it.
        UniqueConstraint("team_id", "source_channel_id", "source_ts", name="uq_records_source"),
        # A slash command (trigger id) or form (view id) delivered twice captures once.
        UniqueConstraint("team_id", "capture_key", name="uq_records_capture_key"),
        Index("ix_records_thread", "channel_id", "thread_ts"),
        # Searches and lists walk these newest first (by id) and stop at the tenth result.
        Index("ix_records_team_channel", "team_id", "channel_id", "id"),
        Index("ix_records_team_status", "team_id", "status", "id"),
        Index("ix_records_team_owner", "team_id", "owner_id", "id"),
        Index("ix_records_team_capturer", "team_id", "captured_by_id", "id"),
        # Where `before:` and `after:` dates begin and end among the ids (search._Span). Not
        # led by team_id: SQLite would then read it whole for a workspace's newest id.
        Index("ix_records_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("workspaces.team_id"))
    number: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16), default=RecordKind.INSTRUCTION)
    status: Mapped[str] = mapped_column(String(16), default=RecordStatus.PENDING)
    # The current revision's text; every revision is in `revisions`.
    text: Mapped[str] = mapped_column(Text)
    # `search_terms(text)`, kept with the text by the ORM (and by a backup's restore).
    search_terms: Mapped[str] = mapped_column(Text, default="", server_default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    captured_by_id: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(String(32))
    risk: Mapped[str] = mapped_column(String(8), default=Risk.NONE)
    risk_note: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16), default=Source.COMMAND)
    source_channel_id: Mapped[str | None] = mapped_column(String(32))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    source_permalink: Mapped[str | None] = mapped_column(Text)
    # The source message's own rich_text blocks, as `slack.richtext.source_blocks` kept them
    # (and as its `captured` event recorded them): how the client's words looked.
    source_blocks: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Where "Open thread" leads: the confirmation thread's permalink, kept once posted.
    thread_permalink: Mapped[str | None] = mapped_column(Text)
    capture_key: Mapped[str | None] = mapped_column(String(128))
    channel_id: Mapped[str] = mapped_column(String(32))
    # The thread where the requesters are asked: under the channel card for a command, under
    # the source message when one was captured.
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    # The channel message that shows the record (commands and the modal only).
    card_ts: Mapped[str | None] = mapped_column(String(32))
    # The newest confirmation request, with the buttons; older revisions' requests are kept.
    request_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[str | None] = mapped_column(String(32))

    requesters: Mapped[list[Requester]] = relationship(
        back_populates="record", order_by="Requester.position", lazy="selectin"
    )
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="record", order_by="Revision.number", lazy="selectin"
    )
    # The history is read when asked for (show, evidence, a closed card's "closed by"); every
    # card and click would otherwise load all of it.
    events: Mapped[list[AuditEvent]] = relationship(
        back_populates="record", order_by="AuditEvent.seq", lazy="select"
    )

    @validates("text")
    def _index_text(self, _key: str, written: str) -> str:
        self.search_terms = search_terms(written)
        return written

    @property
    def requester_id(self) -> str:
        return self.requesters[0].user_id

    @property
    def requester_ids(self) -> list[str]:
        return [r.user_id for r in self.requesters]

    def requester(self, user_id: str) -> Requester | None:
        return next((r for r in self.requesters if r.user_id == user_id), None)


class Requester(Base):
    """Someone who must confirm a record, and their answer to its current revision."""

    __tablename__ = "record_requesters"
    __table_args__ = (
        UniqueConstraint("record_id", "user_id", name="uq_requesters_record_user"),
        # A person's records as a requester, for `from:` and the access rule.
        Index("ix_requesters_user", "user_id", "record_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    user_id: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Slack Connect: the requester's own organization, when it is not the workspace's.
    org_team_id: Mapped[str | None] = mapped_column(String(32))
    org_name: Mapped[str | None] = mapped_column(String(255))
    answer: Mapped[str] = mapped_column(String(16), default=Answer.PENDING)
    answered_at: Mapped[datetime | None]
    answered_revision: Mapped[int | None]
    answered_via: Mapped[str | None] = mapped_column(String(16))
    evidence_ts: Mapped[str | None] = mapped_column(String(32))
    evidence_permalink: Mapped[str | None] = mapped_column(Text)

    record: Mapped[Record] = relationship(back_populates="requesters")


class Revision(Base):
    __tablename__ = "record_revisions"
    __table_args__ = (UniqueConstraint("record_id", "number", name="uq_revisions_record_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    number: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    # The confirmation request that asked for this revision.
    request_ts: Mapped[str | None] = mapped_column(String(32))

    record: Mapped[Record] = relationship(back_populates="revisions")


class Watch(Base):
    """A user who wants a private nudge when a channel's messages skip the process."""

    __tablename__ = "watches"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime]


class SlackUser(Base):
    """What users.info said about someone, kept a while: locale, time zone, organization."""

    __tablename__ = "slack_users"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    real_name: Mapped[str | None] = mapped_column(String(255))
    tz: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    org_team_id: Mapped[str | None] = mapped_column(String(32))
    org_name: Mapped[str | None] = mapped_column(String(255))
    is_external: Mapped[bool] = mapped_column(default=False)
    fetched_at: Mapped[datetime]


class ProcessedEvent(Base):
    """Events API deliveries already handled: Slack retries, Bolt does not deduplicate."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime]


class SeenRequest(Base):
    """The signatures of the Slack requests answered in the last minutes, so that one sent
    again is refused by every replica, and after a restart (`SeenRequests`)."""

    __tablename__ = "seen_requests"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEvent(Base):
    """Append-only history; each event carries the hash of the one before it (the ledger)."""

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
    # The record's own chain: the hash of the same record's previous event (genesis for its
    # first) and this event's 1-based place in the record's history. NULL for events without
    # a record, and for those written before migration 0015 (hashed without them).
    record_prev: Mapped[str | None] = mapped_column(String(64))
    record_count: Mapped[int | None]

    record: Mapped[Record | None] = relationship(back_populates="events")


# The outbox rows still to deliver (a partial index's condition).
UNDELIVERED = "delivered_at IS NULL AND failed_at IS NULL"
DELIVERED = "delivered_at IS NOT NULL"
KEYED = "request_key IS NOT NULL"
FAILED = "failed_at IS NOT NULL"


class OutboxMessage(Base):
    """A Slack side effect committed with the change that caused it, delivered after the ack."""

    __tablename__ = "outbox"
    __table_args__ = (
        # Delivered messages past their keeping time (`queue.prune_delivered`).
        Index(
            "ix_outbox_delivered",
            "delivered_at",
            postgresql_where=text(DELIVERED),
            sqlite_where=text(DELIVERED),
        ),
        # What a dispatcher claims from: the due messages still to deliver, never the ones
        # delivered or given up on, however many those are.
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            "id",
            postgresql_where=text(UNDELIVERED),
            sqlite_where=text(UNDELIVERED),
        ),
        # A record's messages go out in order: "is an earlier one still undelivered?"
        Index(
            "ix_outbox_undelivered",
            "record_id",
            "id",
            postgresql_where=text(UNDELIVERED),
            sqlite_where=text(UNDELIVERED),
        ),
        # What failed for good, for `sayso outbox` and the sayso_outbox_failed gauge.
        Index("ix_outbox_failed", "id", postgresql_where=text(FAILED), sqlite_where=text(FAILED)),
        # A request accepted before its ack and delivered twice by Slack is queued once.
        Index(
            "uq_outbox_request_key",
            "team_id",
            "request_key",
            unique=True,
            postgresql_where=text(KEYED),
            sqlite_where=text(KEYED),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    # The Slack request a job was accepted from (`intake`), e.g. a command's trigger id.
    request_key: Mapped[str | None] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A dispatcher owns a message until then; another replica may take it over after.
    lease_until: Mapped[datetime | None]
    notified: Mapped[bool] = mapped_column(default=False)
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # When an operator last made it due again after it failed for good (`sayso outbox
    # retry`): its patience (the dispatcher's PATIENCE) counts from then.
    retried_at: Mapped[datetime | None]


class Checkpoint(Base):
    """A day's events of one workspace as a Merkle tree (RFC 6962): its size and root are
    what the digest publishes, and what an evidence file's inclusion proofs lead to."""

    __tablename__ = "checkpoints"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    first_seq: Mapped[int]
    size: Mapped[int]
    root: Mapped[str] = mapped_column(String(64))
    chain_head: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # Since migration 0015 `root` is the published root over both trees (`published_root`):
    # the day's events tree and the records tree (each record's latest event and count as
    # of the day's last event). NULL in a checkpoint made before, whose root is the events'.
    events_root: Mapped[str | None] = mapped_column(String(64))
    records_root: Mapped[str | None] = mapped_column(String(64))
    records_size: Mapped[int | None]


class ThreadSnapshot(Base):
    """The confirmation thread as Slack showed it when the record was confirmed: who said
    what and when, edits included. Slack's retention may delete it; this copy stays."""

    __tablename__ = "thread_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), index=True)
    taken_at: Mapped[datetime]
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class DigestSend(Base):
    """One digest to one recipient on one local date: the key that makes it exactly one,
    whatever the replicas, restarts and catch-ups."""

    __tablename__ = "digest_sends"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "channel" for the digest channel, else the owner's user id.
    recipient: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime]
    unresolved: Mapped[int] = mapped_column(Integer, default=0)


class Reminder(Base):
    """The n-th reminder of a record: unique, so each due reminder goes out once."""

    __tablename__ = "reminders"

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime]


class WorkspaceSettings(Base):
    """What someone changed in `/confirm settings` for the whole workspace. A column left
    NULL follows the environment (`Settings`); see `settings_store.policy`."""

    __tablename__ = "workspace_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # "" when the digest goes to owners only, even if SAYSO_DIGEST_CHANNEL names one.
    digest_channel: Mapped[str | None] = mapped_column(String(32))
    digest_time: Mapped[str | None] = mapped_column(String(5))  # HH:MM
    digest_days: Mapped[str | None] = mapped_column(String(32))  # MO,TU,...
    timezone: Mapped[str | None] = mapped_column(String(64))
    remind_after_hours: Mapped[int | None]
    most_reminders: Mapped[int | None]
    expire_after_days: Mapped[int | None]
    post_all_clear: Mapped[bool | None]
    updated_by_id: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime]


class PersonSettings(Base):
    """One person's own part of `/confirm settings`: no digest DMs or reminders while muted,
    or before the date they snoozed them until."""

    __tablename__ = "person_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    muted: Mapped[bool] = mapped_column(default=False)
    snoozed_until: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime]


class HomeView(Base):
    """When someone last opened Sayso's App Home. Only tabs opened lately are redrawn as
    records move: anyone else's is drawn afresh when they open it (app_home_opened)."""

    __tablename__ = "home_views"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime]
