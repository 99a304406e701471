"""several requesters, revisions, sources, owners, watches, user cache, processed events

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_table(
        "slack_users",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("real_name", sa.String(length=255), nullable=True),
        sa.Column("tz", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=True),
        sa.Column("org_team_id", sa.String(length=32), nullable=True),
        sa.Column("org_name", sa.String(length=255), nullable=True),
        sa.Column("is_external", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_table(
        "watches",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "channel_id", "user_id"),
    )
    op.create_table(
        "record_requesters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("org_team_id", sa.String(length=32), nullable=True),
        sa.Column("org_name", sa.String(length=255), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answered_revision", sa.Integer(), nullable=True),
        sa.Column("answered_via", sa.String(length=16), nullable=True),
        sa.Column("evidence_ts", sa.String(length=32), nullable=True),
        sa.Column("evidence_permalink", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "user_id", name="uq_requesters_record_user"),
    )
    op.create_table(
        "record_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("request_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "number", name="uq_revisions_record_number"),
    )
    with op.batch_alter_table("records") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="instruction")
        )
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("owner_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("risk", sa.String(8), nullable=False, server_default="none"))
        batch.add_column(sa.Column("risk_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="command")
        )
        batch.add_column(sa.Column("source_channel_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("source_ts", sa.String(32), nullable=True))
        batch.add_column(sa.Column("source_permalink", sa.Text(), nullable=True))
        batch.add_column(sa.Column("thread_ts", sa.String(32), nullable=True))

    # Existing records: one requester each, revision 1, owned by whoever captured them.
    op.execute("UPDATE records SET owner_id = captured_by_id, thread_ts = card_ts")
    op.execute(
        "INSERT INTO record_requesters (record_id, user_id, position, answer, answered_at, "
        "answered_revision, answered_via) "
        "SELECT id, requester_id, 0, status, decided_at, "
        "CASE WHEN status = 'pending' THEN NULL ELSE 1 END, "
        "CASE WHEN status = 'pending' THEN NULL ELSE 'button' END FROM records"
    )
    op.execute(
        "INSERT INTO record_revisions (record_id, number, text, author_id, created_at, request_ts) "
        "SELECT id, 1, text, captured_by_id, created_at, request_ts FROM records"
    )

    with op.batch_alter_table("records") as batch:
        batch.alter_column("owner_id", existing_type=sa.String(32), nullable=False)
        batch.create_index("ix_records_thread", ["channel_id", "thread_ts"])
        batch.create_unique_constraint(
            "uq_records_source", ["team_id", "source_channel_id", "source_ts"]
        )
        batch.drop_column("requester_id")


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("requester_id", sa.String(32), nullable=True))
    op.execute(
        "UPDATE records SET requester_id = (SELECT user_id FROM record_requesters r "
        "WHERE r.record_id = records.id ORDER BY r.position LIMIT 1)"
    )
    with op.batch_alter_table("records") as batch:
        batch.alter_column("requester_id", existing_type=sa.String(32), nullable=False)
        batch.drop_constraint("uq_records_source", type_="unique")
        batch.drop_index("ix_records_thread")
        for column in (
            "thread_ts",
            "source_permalink",
            "source_ts",
            "source_channel_id",
            "source",
            "due_at",
            "risk_note",
            "risk",
            "owner_id",
            "revision",
            "kind",
        ):
            batch.drop_column(column)
    op.drop_table("record_revisions")
    op.drop_table("record_requesters")
    op.drop_table("watches")
    op.drop_table("slack_users")
    op.drop_table("processed_events")
