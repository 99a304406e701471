"""outbox undelivered: a dispatcher finds a record's first undelivered message by index

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNDELIVERED = "delivered_at IS NULL AND failed_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["record_id", "id"],
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", "outbox")
