"""record chain: each event of a record carries the hash of the record's previous event and
its place in the record's history; checkpoints commit to every record's latest event too

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("record_prev", sa.String(64), nullable=True))
        batch.add_column(sa.Column("record_count", sa.Integer(), nullable=True))
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("events_root", sa.String(64), nullable=True))
        batch.add_column(sa.Column("records_root", sa.String(64), nullable=True))
        batch.add_column(sa.Column("records_size", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("records_size")
        batch.drop_column("records_root")
        batch.drop_column("events_root")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("record_count")
        batch.drop_column("record_prev")
