"""seen_requests: the signatures of recent Slack requests, shared by every replica and kept
across a restart, so that a captured request sent again is refused (it replaces a SQLite file
of the server's own)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_requests",
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index("ix_seen_requests_expires_at", "seen_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_seen_requests_expires_at", "seen_requests")
    op.drop_table("seen_requests")
