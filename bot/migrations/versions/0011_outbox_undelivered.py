"""outbox undelivered: a dispatcher finds the due messages, and a record's first undelivered one,
by partial indexes over the messages still to deliver

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
DELIVERED = "delivered_at IS NOT NULL"


def upgrade() -> None:
    # It served the claim too, and held the messages given up on as well: replaced by the
    # partial ix_outbox_due, and by ix_outbox_delivered for pruning.
    op.drop_index("ix_outbox_pending", "outbox")
    op.create_index(
        "ix_outbox_delivered",
        "outbox",
        ["delivered_at"],
        postgresql_where=sa.text(DELIVERED),
        sqlite_where=sa.text(DELIVERED),
    )
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at", "id"],
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )
    op.create_index(
        "ix_outbox_undelivered",
        "outbox",
        ["record_id", "id"],
        postgresql_where=sa.text(UNDELIVERED),
        sqlite_where=sa.text(UNDELIVERED),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", "outbox")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_index("ix_outbox_delivered", "outbox")
    op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "next_attempt_at"])
