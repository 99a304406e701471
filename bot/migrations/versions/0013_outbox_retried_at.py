"""outbox retried_at: a message an operator made due again (`sayso outbox retry`) is given
its patience again from then; and an index of the messages that failed for good

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


FAILED = "failed_at IS NOT NULL"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("retried_at", sa.DateTime(), nullable=True))
    condition = sa.text(FAILED)
    op.create_index(
        "ix_outbox_failed",
        "outbox",
        ["id"],
        postgresql_where=condition,
        sqlite_where=condition,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_failed", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("retried_at")
