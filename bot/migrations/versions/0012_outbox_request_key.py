"""outbox request key: a request accepted before its ack (a /confirm capture) is queued once,
however many times Slack delivers it

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEYED = "request_key IS NOT NULL"


def upgrade() -> None:
    op.add_column("outbox", sa.Column("request_key", sa.String(160), nullable=True))
    condition = sa.text(KEYED)
    op.create_index(
        "uq_outbox_request_key",
        "outbox",
        ["team_id", "request_key"],
        unique=True,
        postgresql_where=condition,
        sqlite_where=condition,
    )


def downgrade() -> None:
    op.drop_index("uq_outbox_request_key", "outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("request_key")
