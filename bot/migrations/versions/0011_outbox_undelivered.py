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


# name, columns, condition: each over the rows it serves only.
PARTIAL_INDEXES = (
    ("ix_outbox_delivered", ["delivered_at"], DELIVERED),
    ("ix_outbox_due", ["next_attempt_at", "id"], UNDELIVERED),
    ("ix_outbox_undelivered", ["record_id", "id"], UNDELIVERED),
)


def upgrade() -> None:
    # It served the claim too, and held the messages given up on as well: replaced by the
    # partial ix_outbox_due, and by ix_outbox_delivered for pruning.
    op.drop_index("ix_outbox_pending", "outbox")
    for name, columns, where in PARTIAL_INDEXES:
        condition = sa.text(where)
        op.create_index(name, "outbox", columns, postgresql_where=condition, sqlite_where=condition)


def downgrade() -> None:
    for name, _, _ in reversed(PARTIAL_INDEXES):
        op.drop_index(name, "outbox")
    op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "next_attempt_at"])
