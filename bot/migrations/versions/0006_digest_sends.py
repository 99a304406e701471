"""one row per digest sent: (workspace, recipient, local date) is unique

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digest_sends",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("unresolved", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "recipient", "day"),
    )


def downgrade() -> None:
    op.drop_table("digest_sends")
